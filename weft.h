// weft — stackful fibers on every core.
//
// The whole public API: spawn fibers, sleep, yield, join, run a runtime.
//
//   #include <weft/weft.h>
//
//   int main() {
//     return weft::run([] {
//       auto a = weft::spawn([] { weft::sleep_for(absl::Seconds(1)); });
//       auto b = weft::spawn([] { weft::sleep_for(absl::Seconds(1)); });
//       weft::join_all({a, b});   // ~1 s in total, not 2
//     });
//   }
#pragma once

#include "weft/core/blocking_report.h"
#include "weft/core/errors.h"
#include "weft/core/fiber.h"
#include "weft/core/generator.h"
#include "weft/core/greenlet.h"
#include "weft/core/runtime.h"
#include "weft/core/spawn.h"
#include "weft/core/this_fiber.h"
#include "weft/core/timeout.h"
#include "weft/io/blocking.h"
#include "weft/io/fd_wait.h"
#include "weft/io/hook/hook.h"
#include "weft/io/net/address.h"
#include "weft/io/net/buffered.h"
#include "weft/io/net/server.h"
#include "weft/io/net/tcp.h"
#include "weft/io/net/tls.h"
#include "weft/io/net/tls_context.h"
#include "weft/io/net/udp.h"
#include "weft/io/net/unix.h"
#include "weft/io/signal.h"
#include "weft/sync/channel.h"
#include "weft/sync/cond_var.h"
#include "weft/sync/event.h"
#include "weft/sync/mutex.h"
#include "weft/sync/pool.h"
#include "weft/sync/select.h"
#include "weft/sync/semaphore.h"
#include "weft/sync/wait_group.h"
