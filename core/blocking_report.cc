// BlockingReport's text (the detector itself is core/private/monitor.cc).
#include "weft/core/blocking_report.h"

#include "absl/strings/str_cat.h"

namespace weft {

std::string BlockingReport::to_string() const {
  std::string out = absl::StrCat("weft: fiber ", fiber_id);
  if (!fiber_name.empty()) absl::StrAppend(&out, " \"", fiber_name, "\"");
  absl::StrAppend(&out, " has kept worker ", worker, " for ", absl::FormatDuration(blocked_for),
                  " without a suspension point");
  if (stack.empty()) {
    absl::StrAppend(&out, " (its stack could not be taken)\n");
    return out;
  }
  absl::StrAppend(&out, "; it is running:\n");
  for (const std::string& frame : stack) absl::StrAppend(&out, "    ", frame, "\n");
  return out;
}

}  // namespace weft
