// The fiber dump behind Runtime::dump (runtime.h) and its SIGQUIT trigger.
#pragma once

#include <ostream>

#include "weft/core/runtime.h"

namespace weft::internal {

class RuntimeCore;

// Writes rt's live fibers to `out` (see Runtime::dump). Any thread; takes
// the stack pool's lock only to copy its chunk list.
void write_dump(RuntimeCore& rt, std::ostream& out, const DumpOptions& options);

// SIGQUIT dumps (RuntimeOptions::dump_on_sigquit): while at least one
// runtime is registered, SIGQUIT writes every registered runtime's dump to
// stderr and the process goes on. The handler only writes a byte to a
// pipe; a dumper thread reads it and dumps (async-signal-safe).
void register_quit_dump(RuntimeCore* rt);
void unregister_quit_dump(RuntimeCore* rt);

}  // namespace weft::internal
