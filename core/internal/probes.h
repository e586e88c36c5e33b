// USDT probes: static trace points that perf, bpftrace and SystemTap can
// attach to (provider `weft`; `tools/perf-trace` lists and records them).
//
// Each WEFT_PROBE_* site compiles to one `nop` plus a note in the ELF
// section .note.stapsdt naming the probe and where its arguments live. The
// arguments are operands the compiler already has in a register or in
// memory (the macros use <sys/sdt.h>'s "nor" constraints: no load is forced
// for a field read from memory), so an unattached site costs the nop and
// whatever keeps those operands addressable: measured with callgrind, +0.6%
// instructions on BM_Yield, +1.4% on BM_SpawnJoin, +1.3% on
// BM_PingPongChannel (see "Profiling" in README.md). Over the 1% weft
// allows the hot path, so they are compiled in only with -DWEFT_USDT=ON,
// which the `profile` preset sets.
//
//   perf buildid-cache --add build/release/examples/echo_server
//   perf record -e 'sdt_weft:*' -- build/release/examples/echo_server
//   bpftrace -e 'usdt:./echo_server:weft:park { @[arg1] = count(); }'
//
// Probes and their arguments (ids are fiber ids, as weft::current() prints
// them; `worker` is a worker index):
//   spawn(id, worker)          a fiber was created on a worker (worker -1:
//                              from outside the runtime)
//   switch_in(id, worker)      a worker switches into a fiber
//   park(id, kind, object)     a fiber parks; kind is a WaitKind (wait_site.h),
//                              object the address (fd, fiber id) it waits on
//   wake(id, worker)           a parked fiber is made runnable (worker -1:
//                              from outside the runtime)
//   steal(worker, victim, n)   a worker took n fibers from another's queue
//   worker_sleep(worker)       a worker found no work and goes to sleep
//   worker_wake(worker, woken) it woke up; `woken`: fibers its poll woke
//   poller_wake(worker, n)     a poll returned n events
//   timer_fire(worker, n)      a worker fired n due timers
//   hook_wait(fd, dir)         a hooked libc call (libweft_hook) waits for
//                              fd to be readable (0) or writable (1)
#pragma once

#if defined(WEFT_USDT) && WEFT_USDT && __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define WEFT_PROBE1(name, a) STAP_PROBE1(weft, name, a)
#define WEFT_PROBE2(name, a, b) STAP_PROBE2(weft, name, a, b)
#define WEFT_PROBE3(name, a, b, c) STAP_PROBE3(weft, name, a, b, c)
#else
#define WEFT_PROBE1(name, a) ((void)0)
#define WEFT_PROBE2(name, a, b) ((void)0)
#define WEFT_PROBE3(name, a, b, c) ((void)0)
#endif

// A probe's sites must not pass a constant where another passes a register
// or memory operand: perf probe then fails on the second site ("File
// exists") and drops it. WEFT_PROBE_NO_WORKER is -1 in a register.
#define WEFT_PROBE_NO_WORKER (::weft::internal::probe_no_worker())
namespace weft::internal {
[[gnu::always_inline]] inline int probe_no_worker() {
  int v = -1;
  asm("" : "+r"(v));  // opaque to the compiler: not folded into an immediate
  return v;
}
}  // namespace weft::internal

#define WEFT_PROBE_SPAWN(id, worker) WEFT_PROBE2(spawn, id, worker)
#define WEFT_PROBE_SWITCH_IN(id, worker) WEFT_PROBE2(switch_in, id, worker)
#define WEFT_PROBE_PARK(id, kind, object) WEFT_PROBE3(park, id, kind, object)
#define WEFT_PROBE_WAKE(id, worker) WEFT_PROBE2(wake, id, worker)
#define WEFT_PROBE_STEAL(worker, victim, n) WEFT_PROBE3(steal, worker, victim, n)
#define WEFT_PROBE_WORKER_SLEEP(worker) WEFT_PROBE1(worker_sleep, worker)
#define WEFT_PROBE_WORKER_WAKE(worker, woken) WEFT_PROBE2(worker_wake, worker, woken)
#define WEFT_PROBE_POLLER_WAKE(worker, n) WEFT_PROBE2(poller_wake, worker, n)
#define WEFT_PROBE_TIMER_FIRE(worker, n) WEFT_PROBE2(timer_fire, worker, n)
#define WEFT_PROBE_HOOK_WAIT(fd, dir) WEFT_PROBE2(hook_wait, fd, dir)
