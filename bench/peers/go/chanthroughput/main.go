// Peer benchmark: MPMC throughput of a buffered channel with 4 producers
// and 4 consumers (all Ps in use).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 10_000_000, "items in total")
	producers := flag.Int("producers", 4, "producer goroutines")
	consumers := flag.Int("consumers", 4, "consumer goroutines")
	capacity := flag.Int("cap", 1024, "channel capacity")
	flag.Parse()
	ch := make(chan int64, *capacity)
	sums := make([]int64, *consumers) // per consumer: no shared counter
	var prod, cons sync.WaitGroup
	start := time.Now()
	for c := 0; c < *consumers; c++ {
		cons.Add(1)
		go func(c int) {
			defer cons.Done()
			var s int64
			for v := range ch {
				s += v
			}
			sums[c] = s
		}(c)
	}
	per := *n / *producers
	for p := 0; p < *producers; p++ {
		prod.Add(1)
		go func() {
			defer prod.Done()
			for i := 0; i < per; i++ {
				ch <- 1
			}
		}()
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	elapsed := time.Since(start).Seconds()
	var total int64
	for _, s := range sums {
		total += s
	}
	if total != int64(per**producers) {
		fmt.Fprintf(os.Stderr, "chanthroughput: received %d items, want %d\n", total, per**producers)
		os.Exit(1)
	}
	fmt.Printf("peer=go bench=chanthroughput value=%.0f unit=items_per_s extra=n:%d,producers:%d,consumers:%d,cap:%d,procs:%d\n",
		float64(total)/elapsed, total, *producers, *consumers, *capacity, runtime.GOMAXPROCS(0))
}
