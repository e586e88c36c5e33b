// weft::Greenlet: python-greenlet semantics (symmetric switches, values both
// ways, return to the parent, exceptions to the parent, killing on the last
// handle), misuse errors, use in fibers and on plain threads, stack reuse.
#include "weft/core/greenlet.h"

#include <any>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "weft/core/generator.h"
#include "weft/core/internal/coroutine.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

struct Sentinel {
  bool* flag;
  ~Sentinel() { *flag = true; }
};

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

TEST(GreenletTest, ClassicTest1Test2Order) {
  std::vector<int> out;
  Greenlet gr1, gr2;
  gr1 = Greenlet([&] {
    out.push_back(12);
    gr2.switch_to();
    out.push_back(34);
  });
  gr2 = Greenlet([&] {
    out.push_back(56);
    gr1.switch_to();
    out.push_back(78);
  });
  gr1.switch_to();
  // gr1 finished and returned to its parent (us); gr2 waits in its switch.
  EXPECT_EQ(out, (std::vector<int>{12, 56, 34}));
  EXPECT_TRUE(gr1.dead());
  EXPECT_FALSE(gr2.dead());
  gr2.switch_to();
  EXPECT_EQ(out, (std::vector<int>{12, 56, 34, 78}));
  EXPECT_TRUE(gr2.dead());
}

TEST(GreenletTest, ValuesPassBothWays) {
  Greenlet adder([](std::any v) {
    int sum = std::any_cast<int>(v);
    for (;;) sum += std::any_cast<int>(Greenlet::current().parent().switch_to(sum));
  });
  EXPECT_EQ(std::any_cast<int>(adder.switch_to(1)), 1);  // starts it with 1
  EXPECT_EQ(std::any_cast<int>(adder.switch_to(2)), 3);  // resumes its switch with 2
  EXPECT_EQ(std::any_cast<int>(adder.switch_to(39)), 42);
}

TEST(GreenletTest, ReturnValueGoesToTheParent) {
  Greenlet g([](std::any v) { return std::any_cast<std::string>(v) + " world"; });
  std::any r = g.switch_to(std::string("hello"));
  EXPECT_EQ(std::any_cast<std::string>(r), "hello world");
  EXPECT_TRUE(g.dead());
}

TEST(GreenletTest, ArgumentsArePackedLikePythonsSwitchArgs) {
  std::vector<std::any> got;
  Greenlet g([&](std::any v) {
    got.push_back(v);
    Greenlet main = Greenlet::current().parent();
    got.push_back(main.switch_to());
    got.push_back(main.switch_to());
  });
  g.switch_to();                                // no argument: empty
  g.switch_to(1, std::string("two"), 3.0);      // several: a tuple
  g.switch_to(std::any(std::string("as is")));  // a std::any passes through
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].has_value());
  auto t = std::any_cast<std::tuple<int, std::string, double>>(got[1]);
  EXPECT_EQ(std::get<0>(t), 1);
  EXPECT_EQ(std::get<1>(t), "two");
  EXPECT_EQ(std::get<2>(t), 3.0);
  EXPECT_EQ(std::any_cast<std::string>(got[2]), "as is");
}

TEST(GreenletTest, ExceptionPropagatesToTheParentsPendingSwitch) {
  Greenlet g([] {
    Greenlet::current().parent().switch_to();
    throw std::runtime_error("inside");
  });
  g.switch_to();
  try {
    g.switch_to();
    FAIL() << "the greenlet's exception must reach its parent";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "inside");
  }
  EXPECT_TRUE(g.dead());
}

TEST(GreenletTest, ExceptionGoesToTheParentNotToTheLastSwitcher) {
  // a creates b (b's parent is a); main switches to b, which throws: a's
  // pending switch receives it, not main.
  Greenlet a, b;
  std::string caught_in_a;
  a = Greenlet([&] {
    b = Greenlet([] { throw std::logic_error("from b"); });
    try {
      Greenlet::current().parent().switch_to();  // back to main; b is started by main
    } catch (const std::logic_error& e) {
      caught_in_a = e.what();
    }
  });
  a.switch_to();
  std::any r = b.switch_to();  // b dies; control goes to a, which finishes; then to main
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(caught_in_a, "from b");
  EXPECT_TRUE(a.dead());
  EXPECT_TRUE(b.dead());
}

TEST(GreenletTest, DeadParentHandsOnToTheGrandparent) {
  Greenlet child;
  Greenlet parent([&] {
    child = Greenlet([] { return 5; });
    // parent returns without starting child
  });
  parent.switch_to();
  ASSERT_TRUE(parent.dead());
  EXPECT_TRUE(child.parent() == parent);
  EXPECT_EQ(std::any_cast<int>(child.switch_to()), 5);  // parent is dead: main receives it
}

TEST(GreenletTest, SwitchingToADeadGreenletIsAUsageError) {
  Greenlet g([] {});
  g.switch_to();
  ASSERT_TRUE(g.dead());
  EXPECT_NE(ErrorOf([&] { g.switch_to(); }).find("dead"), std::string::npos);
  Greenlet empty;
  EXPECT_NE(ErrorOf([&] { empty.switch_to(); }).find("empty"), std::string::npos);
}

TEST(GreenletTest, CurrentParentAndState) {
  Greenlet main = Greenlet::current();
  EXPECT_TRUE(main.is_main());
  EXPECT_TRUE(main.started());
  EXPECT_FALSE(main.dead());
  EXPECT_FALSE(main.parent());
  Greenlet g;
  Greenlet seen_current, seen_parent;
  g = Greenlet([&] {
    seen_current = Greenlet::current();
    seen_parent = Greenlet::current().parent();
  });
  EXPECT_FALSE(g.started());
  EXPECT_TRUE(g.parent() == main);
  g.switch_to();
  EXPECT_TRUE(seen_current == g);
  EXPECT_TRUE(seen_parent == main);
  EXPECT_TRUE(Greenlet::current() == main);
}

TEST(GreenletTest, SwitchToTheRunningGreenletReturnsAtOnce) {
  EXPECT_EQ(std::any_cast<int>(Greenlet::current().switch_to(3)), 3);
  Greenlet g([] { return std::any_cast<int>(Greenlet::current().switch_to(4)) + 1; });
  EXPECT_EQ(std::any_cast<int>(g.switch_to()), 5);
}

TEST(GreenletTest, DroppingTheLastHandleKillsASuspendedGreenlet) {
  std::size_t live = internal::coroutine_stacks_live();
  bool destroyed = false, saw_exit = false, resumed_here = false;
  {
    Greenlet g([&] {
      Sentinel s{&destroyed};
      try {
        Greenlet::current().parent().switch_to();
        resumed_here = true;
      } catch (const GreenletExit&) {
        saw_exit = true;
        throw;
      }
    });
    g.switch_to();
    EXPECT_FALSE(destroyed);
  }
  EXPECT_TRUE(saw_exit);
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(resumed_here);
  EXPECT_EQ(internal::coroutine_stacks_live(), live);
}

TEST(GreenletTest, DroppingANeverStartedGreenletDropsItsClosure) {
  bool ran = false, closure_destroyed = false;
  {
    auto token = std::shared_ptr<Sentinel>(new Sentinel{&closure_destroyed});
    Greenlet g([&ran, token] { ran = true; });
    token.reset();
    EXPECT_FALSE(closure_destroyed);
  }
  EXPECT_FALSE(ran);
  EXPECT_TRUE(closure_destroyed);
}

TEST(GreenletTest, AGreenletThatIgnoresItsKillIsReleasedWithAReport) {
  std::size_t live = internal::coroutine_stacks_live();
  testing::internal::CaptureStderr();
  {
    Greenlet main = Greenlet::current();
    Greenlet g([main]() mutable {
      for (;;) {
        try {
          main.switch_to();
        } catch (const GreenletExit&) {
        }
      }
    });
    g.switch_to();
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("ignored GreenletExit"), std::string::npos) << err;
  EXPECT_EQ(internal::coroutine_stacks_live(), live);
}

TEST(GreenletTest, GreenletsOfAnotherThreadCannotBeSwitchedTo) {
  Greenlet g([] {});
  std::string err;
  std::thread([&] { err = ErrorOf([&] { g.switch_to(); }); }).join();
  EXPECT_NE(err.find("another fiber or thread"), std::string::npos) << err;
  g.switch_to();  // fine here
  EXPECT_TRUE(g.dead());
}

TEST(GreenletTest, EachPlainThreadHasItsOwnMainGreenlet) {
  Greenlet mine = Greenlet::current();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&ok, t] {
      Greenlet main = Greenlet::current();
      std::vector<int> order;
      Greenlet a, b;
      a = Greenlet([&] {
        for (int i = 0; i < 100; ++i) {
          order.push_back(t);
          b.switch_to();
        }
      });
      b = Greenlet([&] {
        for (;;) a.switch_to();
      });
      a.switch_to();
      if (order.size() == 100 && Greenlet::current() == main && main.is_main()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_TRUE(Greenlet::current() == mine);
}

TEST(GreenletTest, GeneratorInsideAGreenletAndSwitchFromInsideAGenerator) {
  // A generator body (on its own stack, inside greenlet g) switches greenlets:
  // g is suspended inside the generator and resumes there.
  std::vector<std::string> log;
  Greenlet main = Greenlet::current();
  Greenlet g([&] {
    Generator<int> gen([&](auto& co) {
      log.push_back("gen start");
      main.switch_to();  // g's execution leaves from the generator's stack
      log.push_back("gen resumed");
      co.yield(1);
    });
    log.push_back("got " + std::to_string(*gen.next()));
  });
  g.switch_to();
  log.push_back("main");
  g.switch_to();
  EXPECT_EQ(log, (std::vector<std::string>{"gen start", "main", "gen resumed", "got 1"}));
  EXPECT_TRUE(g.dead());
}

TEST(GreenletTest, ExceptionStateIsPerGreenlet) {
  Greenlet main = Greenlet::current();
  Greenlet g([&] {
    try {
      throw std::runtime_error("held");
    } catch (...) {
      main.switch_to();
      EXPECT_NE(std::current_exception(), nullptr);
    }
  });
  g.switch_to();
  EXPECT_EQ(std::current_exception(), nullptr);
  g.switch_to();
  EXPECT_TRUE(g.dead());
}

TEST(GreenletTest, CreatingSwitchingAndDroppingReusesStacks) {
  std::thread([] {  // own thread: see GeneratorTest.CreatingAndDestroyingReusesStacks
    std::size_t live = internal::coroutine_stacks_live();
    std::size_t carved = internal::coroutine_stacks_carved();
    const int64_t n = test::Scaled(100000);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      Greenlet g([](std::any v) {
        Greenlet::current().parent().switch_to(std::any_cast<int64_t>(v));
        return int64_t{1};
      });
      sum += std::any_cast<int64_t>(g.switch_to(i % 3));
      if (i % 2 == 0) sum += std::any_cast<int64_t>(g.switch_to());  // finish; odd ones are killed
    }
    int64_t expected = 0;
    for (int64_t i = 0; i < n; ++i) expected += i % 3 + (i % 2 == 0 ? 1 : 0);
    EXPECT_EQ(sum, expected);
    EXPECT_EQ(internal::coroutine_stacks_live(), live);
    EXPECT_LE(internal::coroutine_stacks_carved() - carved, 64u);
  })
      .join();
}

TEST(GreenletTest, ManyAliveAtOnce) {
  const int n = static_cast<int>(test::Scaled(2000));
  std::vector<Greenlet> gs;
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    gs.emplace_back([&total, i] {
      for (;;) {
        total += i;
        Greenlet::current().parent().switch_to();
      }
    });
  }
  for (int round = 0; round < 3; ++round) {
    for (auto& g : gs) g.switch_to();
  }
  EXPECT_EQ(total, 3 * int64_t{n} * (n - 1) / 2);
  gs.clear();  // kills them all
}

class GreenletFiberTest : public test::RuntimeTest {};

TEST_P(GreenletFiberTest, PingPongWithSleepsInsideAFiber) {
  // Greenlets that sleep park their fiber, which may resume on another
  // worker; the greenlet state (current, parent) belongs to the fiber.
  std::string order = Run([] {
    std::string out;
    Greenlet a, b;
    a = Greenlet([&] {
      for (int i = 0; i < 4; ++i) {
        out += 'A';
        sleep_for(absl::Microseconds(200));
        b.switch_to();
      }
    });
    b = Greenlet([&] {
      for (;;) {
        out += 'B';
        yield();
        EXPECT_TRUE(Greenlet::current() == b);
        a.switch_to();
      }
    });
    a.switch_to();
    EXPECT_TRUE(Greenlet::current().is_main());
    return out;
  });
  EXPECT_EQ(order, "ABABABAB");
}

TEST_P(GreenletFiberTest, ConcurrentFibersHaveSeparateGreenletWorlds) {
  const int fibers = 16;
  int rounds = static_cast<int>(test::Scaled(300, 3));
  int64_t total = Run([&] {
    std::vector<Fiber<int64_t>> fs;
    for (int f = 0; f < fibers; ++f) {
      fs.push_back(spawn([rounds, f] {
        Greenlet main = Greenlet::current();
        int64_t count = 0;
        Greenlet worker([&] {
          for (;;) {
            if (!(Greenlet::current().parent() == main)) return int64_t{-1};
            ++count;
            if (count % 5 == 0) weft::yield();  // another fiber may run here
            main.switch_to();
          }
        });
        for (int i = 0; i < rounds; ++i) worker.switch_to();
        return count + f;
      }));
    }
    int64_t t = 0;
    for (auto& f : fs) t += f.get();
    return t;
  });
  EXPECT_EQ(total, int64_t{fibers} * rounds + fibers * (fibers - 1) / 2);
}

TEST_P(GreenletFiberTest, GreenletOfAnotherFiberCannotBeSwitchedTo) {
  std::string err = Run([] {
    Greenlet g([] {});
    std::string e = spawn([&g] { return ErrorOf([&] { g.switch_to(); }); }).get();
    g.switch_to();
    return e;
  });
  EXPECT_NE(err.find("another fiber or thread"), std::string::npos) << err;
}

TEST_P(GreenletFiberTest, KilledFiberUnwindsItsGreenlets) {
  std::atomic<bool> started{false}, unwound{false};
  {
    Runtime rt(options());
    rt.spawn([&] {
      Greenlet g([&] {
        struct Mark {
          std::atomic<bool>* out;
          ~Mark() { *out = true; }
        } m{&unwound};
        started = true;
        sleep_for(absl::Hours(1));  // FiberExit here, inside the greenlet
      });
      g.switch_to();
    });
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(unwound);
}

INSTANTIATE_TEST_SUITE_P(Workers, GreenletFiberTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
