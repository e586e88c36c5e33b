// Context on its own, no runtime: two contexts on their own stacks and the
// thread's own, switched by hand with Context::jump, while exceptions are
// thrown, in flight (a destructor switching out during unwinding), caught
// (switching out inside a catch block) and rethrown after switches. Each
// context must see only its own std::uncaught_exceptions() and
// std::current_exception(), however the switches interleave, on whichever
// thread it resumes. (exception_state_test.cc checks the same through whole
// fibers on a runtime; this one pins down the switch itself, with a fixed
// interleaving and a log of what each side saw.)
#include "weft/core/internal/context.h"

#include <sys/mman.h>

#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace weft::internal {
namespace {

// Large enough for ASan's frames and an exception's unwinding.
constexpr std::size_t kStackBytes = 256 * 1024;

class Stack {
 public:
  Stack() {
    lo_ = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (lo_ == MAP_FAILED) lo_ = nullptr;
  }
  ~Stack() {
    if (lo_ != nullptr) munmap(lo_, kStackBytes);
  }
  void* lo() const { return lo_; }
  void* hi() const { return static_cast<char*>(lo_) + kStackBytes; }

 private:
  void* lo_;
};

// The contexts of one test. Entry functions receive no argument, so they
// find it here; each test builds its own and runs it on one thread at a time.
struct Scene {
  Context main;  // the thread that runs the scene
  Context a, b;
  Stack stack_a, stack_b;
  std::vector<std::string> log;
};
Scene* g_scene = nullptr;

void Switch(Context* from, Context* to) {
  Handover h;
  Context::jump(from, to, &h);
}

// A finished context's last switch: it is never resumed.
[[noreturn]] void Finish(Context* self, Context* to) {
  Handover h;
  Context::jump(self, to, &h, /*from_dies=*/true);
  __builtin_trap();
}

std::string MessageOf(const std::exception_ptr& e) {
  if (e == nullptr) return "none";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// Logs what the running context sees of the exception state.
void Note(const std::string& where) {
  g_scene->log.push_back(absl::StrCat(where, ": uncaught=", std::uncaught_exceptions(),
                                      " current=", MessageOf(std::current_exception())));
}

// Runs `on_unwind` from its destructor: while an exception is in flight
// through the scope that holds it.
template <typename F>
struct OnUnwind {
  F on_unwind;
  ~OnUnwind() { on_unwind(); }
};
template <typename F>
OnUnwind(F) -> OnUnwind<F>;

// A's exception is in flight while B throws and catches its own, and each
// switches out in the middle (A and B from a destructor during unwinding, and
// from inside a catch block); the thread's own context is inside a catch block
// of its own all along.
void InterleavedA(Handover*) {
  Scene& s = *g_scene;
  try {
    OnUnwind guard{[&] {
      Note("A unwinding");
      Switch(&s.a, &s.b);
      Note("A unwinding, resumed");
    }};
    throw std::runtime_error("A");
  } catch (const std::runtime_error&) {
    Note("A catch");
    Switch(&s.a, &s.b);
    Note("A catch, resumed");
    try {
      throw;  // the rethrow finds A's exception after all those switches
    } catch (const std::runtime_error& e) {
      Note(absl::StrCat("A rethrew ", e.what()));
    }
  }
  Note("A done");
  Finish(&s.a, &s.main);
}

void InterleavedB(Handover*) {
  Scene& s = *g_scene;
  Note("B start");
  try {
    OnUnwind guard{[&] {
      Note("B unwinding");
      Switch(&s.b, &s.main);
      Note("B unwinding, resumed");
    }};
    throw std::runtime_error("B");
  } catch (const std::runtime_error&) {
    Note("B catch");
    Switch(&s.b, &s.a);
    Note("B catch, resumed");
  }
  Note("B done");
  Finish(&s.b, &s.main);
}

TEST(ContextTest, EachContextKeepsItsOwnExceptionsAcrossSwitches) {
  Scene s;
  ASSERT_NE(s.stack_a.lo(), nullptr);
  ASSERT_NE(s.stack_b.lo(), nullptr);
  g_scene = &s;
  s.main.adopt_current_thread();
  s.a.make(s.stack_a.lo(), s.stack_a.hi(), &InterleavedA);
  s.b.make(s.stack_b.lo(), s.stack_b.hi(), &InterleavedB);
  try {
    throw std::logic_error("main");
  } catch (const std::logic_error&) {
    Note("main catch");
    Switch(&s.main, &s.a);  // back when B, unwinding, switches here
    Note("main, B unwinding");
    Switch(&s.main, &s.b);  // back when B is done
    Note("main, B done");
    Switch(&s.main, &s.a);  // back when A is done
    Note("main, A done");
  }
  Note("main end");
  g_scene = nullptr;
  const std::vector<std::string> expected = {
      "main catch: uncaught=0 current=main",
      "A unwinding: uncaught=1 current=none",
      "B start: uncaught=0 current=none",
      "B unwinding: uncaught=1 current=none",
      "main, B unwinding: uncaught=0 current=main",
      "B unwinding, resumed: uncaught=1 current=none",
      "B catch: uncaught=0 current=B",
      "A unwinding, resumed: uncaught=1 current=none",
      "A catch: uncaught=0 current=A",
      "B catch, resumed: uncaught=0 current=B",
      "B done: uncaught=0 current=none",
      "main, B done: uncaught=0 current=main",
      "A catch, resumed: uncaught=0 current=A",
      "A rethrew A: uncaught=0 current=A",
      "A done: uncaught=0 current=none",
      "main, A done: uncaught=0 current=main",
      "main end: uncaught=0 current=none",
  };
  EXPECT_EQ(s.log, expected) << "what each side saw, in order:\n" << absl::StrJoin(s.log, "\n");
}

// One exception object shared by two contexts: A hands its caught exception
// to B, which rethrows and catches it while A is still inside its catch
// block; each keeps it as its current exception until its own catch ends.
std::exception_ptr g_shared;

void HandOverA(Handover*) {
  Scene& s = *g_scene;
  try {
    throw std::runtime_error("shared");
  } catch (...) {
    g_shared = std::current_exception();
    Switch(&s.a, &s.b);
    Note("A catch, after B caught it");
  }
  Note("A done");
  Finish(&s.a, &s.main);
}

void HandOverB(Handover*) {
  Scene& s = *g_scene;
  try {
    std::rethrow_exception(g_shared);
  } catch (...) {
    Note("B catch");
    EXPECT_EQ(std::current_exception(), g_shared) << "B caught a copy, not the object A threw";
    Switch(&s.b, &s.a);
    Note("B catch, resumed");
  }
  Note("B done");
  Finish(&s.b, &s.main);
}

TEST(ContextTest, AnExceptionHandedToAnotherContextStaysCurrentInBoth) {
  Scene s;
  ASSERT_NE(s.stack_a.lo(), nullptr);
  g_scene = &s;
  s.main.adopt_current_thread();
  s.a.make(s.stack_a.lo(), s.stack_a.hi(), &HandOverA);
  s.b.make(s.stack_b.lo(), s.stack_b.hi(), &HandOverB);
  Switch(&s.main, &s.a);  // A done
  Switch(&s.main, &s.b);  // B done
  Note("main");
  g_scene = nullptr;
  g_shared = nullptr;
  const std::vector<std::string> expected = {
      "B catch: uncaught=0 current=shared", "A catch, after B caught it: uncaught=0 current=shared",
      "A done: uncaught=0 current=none",    "B catch, resumed: uncaught=0 current=shared",
      "B done: uncaught=0 current=none",    "main: uncaught=0 current=none",
  };
  EXPECT_EQ(s.log, expected) << absl::StrJoin(s.log, "\n");
}

// A context suspended inside a catch block, with an exception in flight
// below it, resumes on another thread: its state goes with it, and neither
// thread's own state changes. The threads run one after the other; `home` is
// where A switches to, the running thread's own context.
Context* g_home = nullptr;

void MigratingA(Handover*) {
  Scene& s = *g_scene;
  try {
    OnUnwind guard{[&] {
      try {
        throw std::runtime_error("inner");
      } catch (...) {
        Note("A inner catch, first thread");
        Switch(&s.a, g_home);
        Note("A inner catch, second thread");
      }
    }};
    throw std::runtime_error("outer");
  } catch (const std::exception&) {
    Note("A outer catch");
  }
  Finish(&s.a, g_home);
}

TEST(ContextTest, ExceptionStateMovesWithAContextToAnotherThread) {
  Scene s;
  ASSERT_NE(s.stack_a.lo(), nullptr);
  g_scene = &s;
  s.a.make(s.stack_a.lo(), s.stack_a.hi(), &MigratingA);
  auto run_on_a_thread = [&](const char* name) {
    std::thread t([&] {
      Context home;
      home.adopt_current_thread();
      g_home = &home;
      try {
        throw std::logic_error(name);
      } catch (...) {
        Switch(&home, &s.a);
        Note(name);
      }
      g_home = nullptr;
    });
    t.join();
  };
  run_on_a_thread("first thread");
  run_on_a_thread("second thread");
  g_scene = nullptr;
  const std::vector<std::string> expected = {
      "A inner catch, first thread: uncaught=1 current=inner",
      "first thread: uncaught=0 current=first thread",
      "A inner catch, second thread: uncaught=1 current=inner",
      "A outer catch: uncaught=0 current=outer",
      "second thread: uncaught=0 current=second thread",
  };
  EXPECT_EQ(s.log, expected) << absl::StrJoin(s.log, "\n");
}

// Many rounds of the same ping-pong, each side switching at every stage of
// its own throw: a state that leaked across one switch would add up.
void PingPong(Context* self, Context* other, const char* name, int rounds, int* mismatches) {
  for (int r = 0; r < rounds; ++r) {
    try {
      OnUnwind guard{[&] {
        if (std::uncaught_exceptions() != 1) ++*mismatches;
        Switch(self, other);
        if (std::uncaught_exceptions() != 1) ++*mismatches;
      }};
      throw std::runtime_error(name);
    } catch (const std::runtime_error& e) {
      Switch(self, other);
      if (std::string(e.what()) != name || MessageOf(std::current_exception()) != name) {
        ++*mismatches;
      }
    }
    if (std::uncaught_exceptions() != 0 || std::current_exception() != nullptr) ++*mismatches;
  }
}

constexpr int kPingPongRounds = 2000;
int g_mismatches_a = 0;
int g_mismatches_b = 0;

void PingPongA(Handover*) {
  PingPong(&g_scene->a, &g_scene->b, "A", kPingPongRounds, &g_mismatches_a);
  Finish(&g_scene->a, &g_scene->b);
}

void PingPongB(Handover*) {
  PingPong(&g_scene->b, &g_scene->a, "B", kPingPongRounds, &g_mismatches_b);
  Finish(&g_scene->b, &g_scene->main);
}

TEST(ContextTest, ManySwitchesWithExceptionsInFlightLeakNothing) {
  Scene s;
  ASSERT_NE(s.stack_a.lo(), nullptr);
  g_scene = &s;
  g_mismatches_a = g_mismatches_b = 0;
  s.main.adopt_current_thread();
  s.a.make(s.stack_a.lo(), s.stack_a.hi(), &PingPongA);
  s.b.make(s.stack_b.lo(), s.stack_b.hi(), &PingPongB);
  Switch(&s.main, &s.a);  // A finishes into B, B into main
  g_scene = nullptr;
  EXPECT_EQ(g_mismatches_a, 0) << "A saw another context's exception state";
  EXPECT_EQ(g_mismatches_b, 0) << "B saw another context's exception state";
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  EXPECT_EQ(std::current_exception(), nullptr);
}

}  // namespace
}  // namespace weft::internal
