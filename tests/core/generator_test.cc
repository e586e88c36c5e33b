// weft::Generator: Python generator semantics (next, send, close, iteration,
// exceptions), misuse errors, move-only values, use in fibers and on plain
// threads, and stack reuse.
#include "weft/core/generator.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/core/internal/coroutine.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using IntGen = Generator<int>;

IntGen Range(int n) {
  return IntGen([n](IntGen::Co& co) {
    for (int i = 0; i < n; ++i) co.yield(i);
  });
}

// Sets *flag when destroyed: observes RAII in a generator's frames.
struct Sentinel {
  bool* flag;
  ~Sentinel() { *flag = true; }
};

TEST(GeneratorTest, NextYieldsInOrderThenNullopt) {
  IntGen g = Range(3);
  EXPECT_FALSE(g.done());
  EXPECT_EQ(g.next(), 0);
  EXPECT_EQ(g.next(), 1);
  EXPECT_EQ(g.next(), 2);
  EXPECT_EQ(g.next(), std::nullopt);
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.next(), std::nullopt);  // stays finished
}

TEST(GeneratorTest, RangeForIteratesEveryValue) {
  std::vector<int> seen;
  for (int v : Range(5)) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
  std::vector<int> none;
  for (int v : Range(0)) none.push_back(v);
  EXPECT_TRUE(none.empty());
}

TEST(GeneratorTest, BodyRunsOnlyWhenFirstResumed) {
  int runs = 0;
  IntGen g([&](IntGen::Co& co) {
    ++runs;
    co.yield(1);
  });
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(g.next(), 1);
  EXPECT_EQ(runs, 1);
}

TEST(GeneratorTest, YieldWorksFromNestedCalls) {
  // Stackful: the yield happens three calls deep in the body.
  struct Walk {
    static void Down(IntGen::Co& co, int depth) {
      if (depth == 0) {
        co.yield(7);
        return;
      }
      Down(co, depth - 1);
      co.yield(depth);
    }
  };
  IntGen g([](IntGen::Co& co) { Walk::Down(co, 3); });
  std::vector<int> seen;
  for (int v : g) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{7, 1, 2, 3}));
}

TEST(GeneratorTest, SendPassesValuesInAndRepliesOut) {
  Generator<std::string, int> dog([](auto& co) {
    std::optional<int> bone = co.yield("hungry");
    while (bone) bone = co.yield("ate " + std::to_string(*bone));
  });
  EXPECT_EQ(dog.next(), "hungry");
  EXPECT_EQ(dog.send(1), "ate 1");
  EXPECT_EQ(dog.send(2), "ate 2");
  EXPECT_EQ(dog.next(), std::nullopt);  // next() sends "None": the loop ends
  EXPECT_TRUE(dog.done());
}

TEST(GeneratorTest, YieldReturnsNulloptAfterNextAndTheValueAfterSend) {
  std::vector<std::optional<int>> got;
  Generator<int, int> g([&](auto& co) {
    for (int i = 0; i < 3; ++i) got.push_back(co.yield(i));
  });
  g.next();
  g.send(10);
  g.next();
  g.send(30);
  EXPECT_EQ(got, (std::vector<std::optional<int>>{10, std::nullopt, 30}));
}

TEST(GeneratorTest, SendToJustStartedGeneratorIsAUsageError) {
  bool ran = false;
  Generator<int, int> g([&](auto& co) {
    ran = true;
    co.yield(1);
  });
  try {
    g.send(5);
    FAIL() << "send to a just-started generator must throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("just-started"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(g.next(), 1);  // still usable: next() starts it
}

TEST(GeneratorTest, SendToFinishedGeneratorThrowsStopIteration) {
  Generator<int, int> g([](auto& co) { co.yield(1); });
  g.next();
  EXPECT_EQ(g.send(2), std::nullopt);  // the body returns during this send
  EXPECT_TRUE(g.done());
  EXPECT_THROW(g.send(3), StopIteration);
  try {
    g.send(4);
  } catch (const UsageError& e) {  // StopIteration is a UsageError
    EXPECT_NE(std::string(e.what()).find("finished"), std::string::npos) << e.what();
  }
}

TEST(GeneratorTest, ExceptionSurfacesAtTheResumingCall) {
  IntGen g([](IntGen::Co& co) {
    co.yield(1);
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(g.next(), 1);
  try {
    g.next();
    FAIL() << "the body's exception must reach next()";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.next(), std::nullopt);
}

TEST(GeneratorTest, ExceptionBeforeFirstYieldSurfacesAtSend) {
  Generator<int, int> g([](auto& co) {
    std::optional<int> v = co.yield(0);
    throw std::invalid_argument("bad " + std::to_string(*v));
  });
  g.next();
  try {
    g.send(9);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad 9");
  }
  EXPECT_TRUE(g.done());
}

TEST(GeneratorTest, CloseUnwindsTheBodyAndRunsRaii) {
  bool destroyed = false, saw_exit = false, after_yield = false;
  IntGen g([&](IntGen::Co& co) {
    Sentinel s{&destroyed};
    try {
      co.yield(1);
      after_yield = true;
    } catch (const GeneratorExit&) {
      saw_exit = true;
      throw;
    }
  });
  EXPECT_EQ(g.next(), 1);
  EXPECT_FALSE(destroyed);
  g.close();
  EXPECT_TRUE(saw_exit);
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(after_yield);
  EXPECT_TRUE(g.done());
  g.close();  // closing a finished generator does nothing
  EXPECT_EQ(g.next(), std::nullopt);
}

TEST(GeneratorTest, CloseBeforeStartNeverRunsTheBodyButDropsTheClosure) {
  bool ran = false, closure_destroyed = false;
  auto token = std::shared_ptr<Sentinel>(new Sentinel{&closure_destroyed});
  IntGen g([&ran, token](IntGen::Co& co) {
    ran = true;
    co.yield(1);
  });
  token.reset();  // the closure holds the last reference now
  EXPECT_FALSE(closure_destroyed);
  g.close();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(closure_destroyed);
  EXPECT_TRUE(g.done());
}

TEST(GeneratorTest, DestructorClosesAnUnfinishedGenerator) {
  bool destroyed = false;
  {
    IntGen g([&](IntGen::Co& co) {
      Sentinel s{&destroyed};
      for (int i = 0;; ++i) co.yield(i);
    });
    g.next();
    g.next();
  }
  EXPECT_TRUE(destroyed);
}

TEST(GeneratorTest, BodyThatYieldsAfterGeneratorExitIsAnError) {
  int exits = 0;
  IntGen g([&](IntGen::Co& co) {
    for (;;) {
      try {
        co.yield(1);
      } catch (const GeneratorExit&) {
        if (++exits == 2) return;  // gives in the second time
      }
    }
  });
  g.next();
  try {
    g.close();
    FAIL() << "a body that yields after GeneratorExit must make close() throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("ignored GeneratorExit"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(g.done());  // suspended again, as in Python
  g.close();
  EXPECT_EQ(exits, 2);
  EXPECT_TRUE(g.done());
}

TEST(GeneratorTest, DestroyingABodyThatIgnoresGeneratorExitReleasesItsStack) {
  std::size_t live = internal::coroutine_stacks_live();
  testing::internal::CaptureStderr();
  {
    IntGen g([](IntGen::Co& co) {
      for (;;) {
        try {
          co.yield(1);
        } catch (const GeneratorExit&) {
        }
      }
    });
    g.next();
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ignored GeneratorExit"), std::string::npos) << err;
  EXPECT_EQ(internal::coroutine_stacks_live(), live);
}

TEST(GeneratorTest, CloseRethrowsAnotherExceptionRaisedWhileUnwinding) {
  IntGen g([](IntGen::Co& co) {
    try {
      co.yield(1);
    } catch (const GeneratorExit&) {
      throw std::runtime_error("cleanup failed");
    }
  });
  g.next();
  EXPECT_THROW(g.close(), std::runtime_error);
  EXPECT_TRUE(g.done());
}

TEST(GeneratorTest, YieldInADestructorDuringCloseDoesNotThrowAgain) {
  // A destructor that yields while GeneratorExit unwinds the body: the
  // generator ignored the exit (close throws), and the next close finishes
  // the unwinding instead of throwing from the destructor.
  struct YieldOnDestroy {
    IntGen::Co* co;
    bool* done;
    ~YieldOnDestroy() {
      EXPECT_EQ(co->yield(99), std::nullopt);
      *done = true;
    }
  };
  bool done = false;
  IntGen g([&](IntGen::Co& co) {
    YieldOnDestroy y{&co, &done};
    co.yield(1);
  });
  g.next();
  EXPECT_THROW(g.close(), UsageError);
  EXPECT_FALSE(done);
  g.close();
  EXPECT_TRUE(done);
  EXPECT_TRUE(g.done());
}

TEST(GeneratorTest, ResumingARunningGeneratorIsAUsageError) {
  IntGen* self = nullptr;
  IntGen g([&](IntGen::Co& co) {
    co.yield(1);
    self->next();  // resumes itself
  });
  self = &g;
  g.next();
  try {
    g.next();
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("already running"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(g.done());
}

TEST(GeneratorTest, YieldFromAnotherGeneratorsBodyIsAUsageError) {
  IntGen outer([](IntGen::Co& co) {
    IntGen inner([&co](IntGen::Co&) { co.yield(1); });  // the outer's co, on the inner's stack
    inner.next();
  });
  EXPECT_THROW(outer.next(), UsageError);
  EXPECT_TRUE(outer.done());
}

TEST(GeneratorTest, NestedGeneratorsDelegate) {
  IntGen outer([](IntGen::Co& co) {
    for (int base : {0, 10}) {
      for (int v : Range(2)) co.yield(base + v);  // Python's `yield from`
    }
  });
  std::vector<int> seen;
  for (int v : outer) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 10, 11}));
}

TEST(GeneratorTest, MoveOnlyYieldAndSendTypes) {
  Generator<std::unique_ptr<int>, std::unique_ptr<int>> g([](auto& co) {
    std::optional<std::unique_ptr<int>> in = co.yield(std::make_unique<int>(1));
    while (in) in = co.yield(std::make_unique<int>(**in * 2));
  });
  std::optional<std::unique_ptr<int>> first = g.next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ(**first, 1);
  std::optional<std::unique_ptr<int>> doubled = g.send(std::make_unique<int>(21));
  ASSERT_TRUE(doubled && *doubled);
  EXPECT_EQ(**doubled, 42);
  int sum = 0;
  for (auto& p : Generator<std::unique_ptr<int>>([](auto& co) {
         for (int i = 1; i <= 3; ++i) co.yield(std::make_unique<int>(i));
       })) {
    sum += *p;
  }
  EXPECT_EQ(sum, 6);
}

TEST(GeneratorTest, MovedGeneratorKeepsItsPlace) {
  IntGen a = Range(4);
  EXPECT_EQ(a.next(), 0);
  IntGen b = std::move(a);
  EXPECT_TRUE(a.done());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.next(), 1);
  IntGen c;
  c = std::move(b);
  EXPECT_EQ(c.next(), 2);
  c = Range(1);  // closes the old one
  EXPECT_EQ(c.next(), 0);
}

TEST(GeneratorTest, ExceptionStateIsPerGenerator) {
  // The body suspends inside a catch block; the resumer must not see its
  // exception, and the body must see it again when resumed.
  IntGen g([](IntGen::Co& co) {
    try {
      throw std::runtime_error("inner");
    } catch (...) {
      co.yield(1);
      EXPECT_NE(std::current_exception(), nullptr);
      co.yield(2);
    }
  });
  EXPECT_EQ(g.next(), 1);
  EXPECT_EQ(std::current_exception(), nullptr);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  EXPECT_EQ(g.next(), 2);
}

TEST(GeneratorTest, ManyAliveAtOnce) {
  const int n = static_cast<int>(test::Scaled(2000));
  std::vector<IntGen> gens;
  gens.reserve(n);
  for (int i = 0; i < n; ++i) {
    gens.emplace_back([i](IntGen::Co& co) {
      for (int k = 0; k < 3; ++k) co.yield(i * 10 + k);
    });
  }
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(gens[i].next(), i * 10 + k);
  }
  for (auto& g : gens) EXPECT_EQ(g.next(), std::nullopt);
}

TEST(GeneratorTest, CreatingAndDestroyingReusesStacks) {
  std::thread([] {  // own thread: the counts below are the process's
    std::size_t live = internal::coroutine_stacks_live();
    std::size_t carved = internal::coroutine_stacks_carved();
    const int64_t n = test::Scaled(100000);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      IntGen g = Range(2);
      sum += *g.next();
      if (i % 2 == 0) sum += *g.next();  // half finish, half are closed suspended
    }
    EXPECT_EQ(sum, n / 2);
    EXPECT_EQ(internal::coroutine_stacks_live(), live);
    EXPECT_LE(internal::coroutine_stacks_carved() - carved, 64u);  // one chunk at most
  })
      .join();
}

TEST(GeneratorTest, OneThreadFinishesThirtyThousand) {
  // Not scaled down under TSan, where it is the test: a finished generator
  // used to leave three entries on the TSan shadow stack of the thread that
  // finished it, and TSan aborts past 65,536 (coroutine.cc, "Sanitizers").
  std::thread([] {
    int64_t sum = 0;
    for (int i = 0; i < 30000; ++i) {
      IntGen g = Range(2);
      while (std::optional<int> v = g.next()) sum += *v;
    }
    EXPECT_EQ(sum, 30000);
  }).join();
}

TEST(GeneratorTest, ClosureTooLargeForTheStackIsAUsageError) {
  struct Big {
    char bytes[1 << 20];
  };
  auto big = std::make_shared<Big>();
  EXPECT_THROW(IntGen([b = *big](IntGen::Co& co) { co.yield(b.bytes[0]); }), UsageError);
}

TEST(GeneratorTest, WorksOnAPlainThreadAndMovesBetweenThreads) {
  IntGen g = Range(3);
  int first = -1, second = -1;
  std::thread([&] { first = *g.next(); }).join();
  std::thread([&] { second = *g.next(); }).join();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  EXPECT_EQ(g.next(), 2);
}

class GeneratorFiberTest : public test::RuntimeTest {};

TEST_P(GeneratorFiberTest, BodySleepsInsideAFiber) {
  // The body parks the fiber that resumed it; the fiber may come back on
  // another worker, and the generator carries on where it was.
  int sum = Run([] {
    IntGen ticks([](IntGen::Co& co) {
      for (int i = 1; i <= 5; ++i) {
        sleep_for(absl::Milliseconds(1));
        co.yield(i);
      }
    });
    int s = 0;
    for (int v : ticks) s += v;
    return s;
  });
  EXPECT_EQ(sum, 15);
}

TEST_P(GeneratorFiberTest, ManyFibersEachDriveTheirOwnGenerators) {
  const int fibers = 16;
  int per = static_cast<int>(test::Scaled(200, 4));
  int64_t total = Run([&] {
    std::vector<Fiber<int64_t>> fs;
    for (int f = 0; f < fibers; ++f) {
      fs.push_back(spawn([per, f] {
        Generator<int64_t, int64_t> acc([](auto& co) {
          int64_t sum = 0;
          for (;;) {
            std::optional<int64_t> v = co.yield(sum);
            if (!v) return;
            sum += *v;
            if (*v % 7 == 0) yield();  // let other fibers run mid-body
          }
        });
        acc.next();
        int64_t last = 0;
        for (int i = 1; i <= per; ++i) last = *acc.send(i + f);
        return last;
      }));
    }
    int64_t t = 0;
    for (auto& f : fs) t += f.get();
    return t;
  });
  int64_t expected = 0;
  for (int f = 0; f < fibers; ++f) expected += int64_t{per} * (per + 1) / 2 + int64_t{per} * f;
  EXPECT_EQ(total, expected);
}

TEST_P(GeneratorFiberTest, SuspendedGeneratorHandedFromFiberToFiber) {
  int64_t sum = Run([] {
    IntGen g = Range(8);
    int64_t s = 0;
    for (int i = 0; i < 8; ++i) s += spawn([&g] { return *g.next(); }).get();
    EXPECT_EQ(g.next(), std::nullopt);
    return s;
  });
  EXPECT_EQ(sum, 28);
}

TEST_P(GeneratorFiberTest, KilledFiberClosesItsGenerator) {
  std::atomic<bool> started{false}, closed{false};
  {
    Runtime rt(options());
    rt.spawn([&] {
      IntGen g([&](IntGen::Co& co) {
        try {
          co.yield(1);
        } catch (const GeneratorExit&) {
          closed = true;
          throw;
        }
      });
      g.next();
      started = true;
      sleep_for(absl::Hours(1));  // killed here by the shutdown
    });
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }  // ~Runtime kills the fiber: it unwinds, destroying g
  EXPECT_TRUE(closed);
}

TEST_P(GeneratorFiberTest, KillWhileTheBodySleepsUnwindsThroughTheGenerator) {
  // The kill lands at the body's own suspension point: FiberExit unwinds the
  // body, leaves the generator, and goes on unwinding the fiber.
  std::atomic<bool> started{false}, body_unwound{false}, fiber_unwound{false};
  {
    Runtime rt(options());
    rt.spawn([&] {
      struct Mark {
        std::atomic<bool>* flag;
        ~Mark() { *flag = true; }
      } fiber_mark{&fiber_unwound};
      IntGen g([&](IntGen::Co& co) {
        Mark body_mark{&body_unwound};
        started = true;
        sleep_for(absl::Hours(1));
        co.yield(1);
      });
      g.next();
    });
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(body_unwound);
  EXPECT_TRUE(fiber_unwound);
}

INSTANTIATE_TEST_SUITE_P(Workers, GeneratorFiberTest, test::WorkerCounts(), test::WorkerCountName);

class GeneratorDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

volatile bool g_never = false;

__attribute__((noinline)) int Recurse(int depth) {
  if (g_never) return 0;
  volatile char frame[512];
  frame[depth % sizeof frame] = static_cast<char>(depth);
  return Recurse(depth + 1) + frame[(depth * 7) % sizeof frame];
}

TEST_F(GeneratorDeathTest, StackOverflowInABodyIsReported) {
  EXPECT_DEATH(
      {
        IntGen g([](IntGen::Co& co) { co.yield(Recurse(0)); });
        g.next();
      },
      "overflowed its stack");
}

TEST_F(GeneratorDeathTest, StackOverflowInABodyInsideAFiberIsReported) {
  EXPECT_DEATH(weft::run({.workers = 1},
                         [] {
                           IntGen g([](IntGen::Co& co) { co.yield(Recurse(0)); });
                           return *g.next();
                         }),
               "fiber [0-9]+ overflowed its stack");
}

}  // namespace
}  // namespace weft
