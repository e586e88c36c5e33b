// The non-template half of weft::Generator: its switches and its errors.
#include "weft/core/generator.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace weft::internal {

void GeneratorCore::finish(std::exception_ptr error) {
  error_ = std::move(error);
  status_ = Status::kFinished;
  co_->exit_to = &resumer_.ctx;
  co_->exit_to_on = &resumer_.suspended_on;
}

void GeneratorCore::start_or_throw() {
  if (status_ == Status::kNotStarted) {
    coroutine_arm(co_);
    return;
  }
  throw UsageError(
      "weft::Generator: the generator is already running; its body (or a generator it "
      "resumed) cannot resume or close it");
}

void GeneratorCore::throw_yield_outside() {
  throw UsageError(
      "weft::Generator::Co::yield called outside the generator's own body (from the code "
      "that resumed it, or from another generator's or greenlet's stack)");
}

void throw_send_finished() {
  throw StopIteration(
      "weft::Generator::send: the generator has finished (StopIteration); check done() "
      "before sending");
}

void throw_send_not_started() {
  throw UsageError(
      "weft::Generator::send: can't send a value to a just-started generator; start it "
      "with next() (Python's send(None))");
}

void throw_ignored_exit() {
  throw UsageError(
      "weft::Generator::close: the generator ignored GeneratorExit and yielded again; let "
      "GeneratorExit propagate, or return");
}

void report_close_error(std::exception_ptr e) {
  std::string what = "an exception that is not a std::exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
  }
  std::fprintf(stderr, "weft: exception ignored while destroying a weft::Generator: %s\n",
               what.c_str());
}

void abort_destroy_running() {
  std::fprintf(stderr, "weft: a weft::Generator was destroyed by its own running body\n");
  std::abort();
}

}  // namespace weft::internal
