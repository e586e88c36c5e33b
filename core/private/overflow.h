// Stack-overflow reporting. A fiber that runs off the bottom of its stack
// touches its guard page; the SIGSEGV handler installed here recognises the
// address, prints "weft: fiber N overflowed its stack (size S)" and aborts.
// Faults anywhere else go to the handler that was installed before weft's.
#pragma once

#include <cstddef>

namespace weft::internal {

class StackPool;

// Registers `pool` with the process-wide handler (installed on first call).
void register_overflow_pool(StackPool* pool);
void unregister_overflow_pool(StackPool* pool);

// Gives the calling thread an alternate signal stack, so the handler can run
// when the fiber stack is exhausted. Returns the stack to pass to
// release_signal_stack when the thread ends.
void* install_signal_stack();
void release_signal_stack(void* stack);

}  // namespace weft::internal
