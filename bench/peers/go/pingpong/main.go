// Peer benchmark: a token bounced between two goroutines over two
// unbuffered channels; measures the blocking hand-off round trip.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

func run(n int) float64 {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	start := time.Now()
	token := 0
	for i := 0; i < n; i++ {
		ping <- token
		token = <-pong
	}
	elapsed := time.Since(start)
	close(ping)
	<-pong // wait for the echo goroutine to finish before the next variant
	if token != n {
		panic("pingpong: token lost")
	}
	return float64(elapsed.Nanoseconds()) / float64(n)
}

func main() {
	n := flag.Int("n", 1_000_000, "round trips")
	flag.Parse()
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		ns := run(*n)
		fmt.Printf("peer=go bench=pingpong/procs%d value=%.2f unit=ns_per_op extra=n:%d\n", procs, ns, *n)
	}
}
