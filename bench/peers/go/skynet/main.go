// Peer benchmark: skynet. Every inner node spawns `div` children and sums
// what they send back on a channel it owns; leaves send their ordinal.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func skynet(out chan<- int64, num, size, div int64) {
	if size == 1 {
		out <- num
		return
	}
	// Unbuffered, as in the original benchmark: children block until the
	// parent receives, which is part of what is being measured.
	results := make(chan int64)
	child := size / div
	for i := int64(0); i < div; i++ {
		go skynet(results, num+i*child, child, div)
	}
	var sum int64
	for i := int64(0); i < div; i++ {
		sum += <-results
	}
	out <- sum
}

func main() {
	size := flag.Int64("n", 1_000_000, "number of leaves (a power of div)")
	div := flag.Int64("div", 10, "children per node")
	flag.Parse()
	// Any other size never reaches size 1 and would spawn until OOM.
	p := int64(1)
	for p < *size && *div > 1 {
		p *= *div
	}
	if p != *size {
		fmt.Fprintf(os.Stderr, "skynet: -n %d is not a power of -div %d\n", *size, *div)
		os.Exit(2)
	}
	start := time.Now()
	out := make(chan int64)
	go skynet(out, 0, *size, *div)
	sum := <-out
	ms := float64(time.Since(start).Nanoseconds()) / 1e6
	fmt.Printf("peer=go bench=skynet value=%.2f unit=ms extra=n:%d,sum:%d,procs:%d\n",
		ms, *size, sum, runtime.GOMAXPROCS(0))
	if want := *size * (*size - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
}
