// Peer benchmark: a million goroutines alive at once, each sleeping.
// Reports spawn time, resident memory per goroutine and total time.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rssBytes reads the resident set from /proc/self/statm (in pages), the
// same source the other peers use, so the figures are comparable.
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	fields := strings.Fields(string(data))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		panic(err)
	}
	return pages * int64(os.Getpagesize())
}

func main() {
	n := flag.Int("n", 1_000_000, "goroutines")
	sleepMs := flag.Int("sleep_ms", 100, "sleep per goroutine, in ms")
	flag.Parse()
	sleep := time.Duration(*sleepMs) * time.Millisecond
	var wg sync.WaitGroup
	var started, exited atomic.Int64
	runtime.GC() // start from a settled heap so the delta is the goroutines'
	before := rssBytes()
	start := time.Now()
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			started.Add(1)
			time.Sleep(sleep)
			exited.Add(1)
			wg.Done()
		}()
	}
	spawnMs := float64(time.Since(start).Nanoseconds()) / 1e6
	// A spawned goroutine is only queued; wait until every one has run
	// far enough to be asleep before sampling memory.
	for started.Load() < int64(*n) {
		runtime.Gosched()
	}
	after := rssBytes()
	alive := int64(*n) - exited.Load()
	wg.Wait()
	totalMs := float64(time.Since(start).Nanoseconds()) / 1e6
	perFiber := float64(after-before) / float64(*n)
	// A non-default sleep changes what is measured, so it gets its own
	// name. Spawning 1M goroutines can take longer than 100 ms, in which
	// case alive_at_sample shows how many were really alive at once.
	name := "sleepmillion"
	if *sleepMs != 100 {
		name = fmt.Sprintf("sleepmillion_sleep%dms", *sleepMs)
	}
	fmt.Printf("peer=go bench=%s/spawn value=%.1f unit=ms extra=n:%d\n", name, spawnMs, *n)
	fmt.Printf("peer=go bench=%s/rss value=%.0f unit=bytes extra=n:%d,alive_at_sample:%d\n", name, perFiber, *n, alive)
	fmt.Printf("peer=go bench=%s/total value=%.1f unit=ms extra=n:%d,sleep_ms:%d,procs:%d\n",
		name, totalMs, *n, *sleepMs, runtime.GOMAXPROCS(0))
}
