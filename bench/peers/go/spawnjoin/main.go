// Peer benchmark: spawn + join of trivial goroutines in batches, using
// every P (GOMAXPROCS left at its default = number of cores).
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 1_000_000, "goroutines in total")
	batch := flag.Int("batch", 1000, "goroutines spawned before each join")
	flag.Parse()
	var wg sync.WaitGroup
	spawned := 0 // n rounded up to whole batches
	start := time.Now()
	for ; spawned < *n; spawned += *batch {
		wg.Add(*batch)
		for i := 0; i < *batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(spawned)
	fmt.Printf("peer=go bench=spawnjoin value=%.2f unit=ns_per_op extra=n:%d,batch:%d,procs:%d\n",
		ns, spawned, *batch, runtime.GOMAXPROCS(0))
}
