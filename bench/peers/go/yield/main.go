// Peer benchmark: cost of a cooperative yield (runtime.Gosched).
// Pinned to one P so the numbers are comparable with a single-threaded
// fiber scheduler: with more Ps an idle P could steal the yielder.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// run starts `workers` goroutines that together perform n yields and
// returns ns per yield. The main goroutine only waits, so it is parked
// (not runnable) during the measurement.
func run(workers, n int) float64 {
	var wg sync.WaitGroup
	per := n / workers
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(per*workers)
}

func main() {
	n := flag.Int("n", 10_000_000, "total yields per variant")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	for _, w := range []int{1, 2} {
		ns := run(w, *n)
		fmt.Printf("peer=go bench=yield/%d value=%.2f unit=ns_per_op extra=n:%d,procs:1\n", w, ns, *n)
	}
}
