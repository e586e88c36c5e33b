#include "weft/core/fiber.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

// Parks the calling fiber until `flag` is set.
void WaitUntil(const std::atomic<bool>& flag) {
  while (!flag.load()) sleep_for(absl::Milliseconds(1));
}

struct MoveOnly {
  explicit MoveOnly(int v) : value(v) {}
  MoveOnly(MoveOnly&&) = default;
  MoveOnly& operator=(MoveOnly&&) = default;
  MoveOnly(const MoveOnly&) = delete;
  int value;
};

// Counts live instances, to see when a fiber's result is destroyed.
struct Tracked {
  static inline std::atomic<int> live{0};
  Tracked() { live.fetch_add(1); }
  Tracked(const Tracked&) { live.fetch_add(1); }
  Tracked(Tracked&&) noexcept { live.fetch_add(1); }
  ~Tracked() { live.fetch_sub(1); }
};

struct CustomError {
  int code;
};

class FiberTest : public test::RuntimeTest {};

TEST_P(FiberTest, SpawnPassesArguments) {
  Run([] {
    auto f =
        spawn([](int a, const std::string& b, double c) { return b + std::to_string(a + int(c)); },
              40, std::string("n="), 2.0);
    EXPECT_EQ(f.get(), "n=42");
  });
}

int Triple(int x) { return 3 * x; }

TEST_P(FiberTest, SpawnTakesPlainFunctionsAndStdRef) {
  Run([] {
    EXPECT_EQ(spawn(&Triple, 5).get(), 15);
    int shared = 0;
    spawn([](int& x) { x = 7; }, std::ref(shared)).join();
    EXPECT_EQ(shared, 7);
  });
}

struct Accumulator {
  int total = 0;
  int add(int x) { return total += x; }
};

TEST_P(FiberTest, SpawnTakesMemberFunctions) {
  Run([] {
    Accumulator acc;
    EXPECT_EQ(spawn(&Accumulator::add, &acc, 5).get(), 5);
    EXPECT_EQ(spawn(&Accumulator::add, std::ref(acc), 2).get(), 7);
    EXPECT_EQ(acc.total, 7);
  });
}

TEST_P(FiberTest, ArgumentsAreCopiedNotReferenced) {
  Run([] {
    std::string s = "before";
    auto f = spawn([](std::string x) { return x; }, s);
    s = "after";
    EXPECT_EQ(f.get(), "before");
  });
}

TEST_P(FiberTest, MoveOnlyArgumentsAndResults) {
  Run([] {
    auto f = spawn(
        [](std::unique_ptr<int> p, MoveOnly m) { return std::make_unique<int>(*p + m.value); },
        std::make_unique<int>(40), MoveOnly(2));
    std::unique_ptr<int> r = f.get();
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(*r, 42);

    auto g = spawn([m = MoveOnly(5)]() mutable { return std::move(m); });
    EXPECT_EQ(g.get().value, 5);
  });
}

TEST_P(FiberTest, ArgumentsDieWhenTheFiberEnds) {
  Run([] {
    auto arg = std::make_shared<int>(1);
    auto f = spawn([](std::shared_ptr<int> p) { return *p; }, arg);
    f.join();
    EXPECT_EQ(arg.use_count(), 1);  // the fiber's copy is gone, though the handle lives
    EXPECT_EQ(f.get(), 1);
  });
}

TEST_P(FiberTest, UnconsumedResultIsDestroyedWithTheHandle) {
  Run([] {
    int before = Tracked::live.load();
    {
      auto f = spawn([] { return Tracked(); });
      f.join();
      EXPECT_EQ(Tracked::live.load(), before + 1);
    }
    EXPECT_EQ(Tracked::live.load(), before);
    {
      auto f = spawn([] { return Tracked(); });
      f.detach();  // the fiber may still run; its result dies with it
    }
    sleep_for(absl::Milliseconds(20));
    for (int i = 0; i < 1000 && Tracked::live.load() != before; ++i) {
      sleep_for(absl::Milliseconds(1));
    }
    EXPECT_EQ(Tracked::live.load(), before);
  });
}

TEST_P(FiberTest, GetRethrowsTheFibersException) {
  Run([] {
    auto f = spawn([]() -> int { throw std::out_of_range("index 7"); });
    try {
      f.get();
      ADD_FAILURE() << "get() did not throw";
    } catch (const std::out_of_range& e) {
      EXPECT_STREQ(e.what(), "index 7");
    }
    EXPECT_TRUE(f.valid());  // still a handle to the finished fiber
    EXPECT_THROW(f.get(), UsageError);

    auto g = spawn([] { throw CustomError{13}; });
    try {
      g.get();
      ADD_FAILURE() << "get() did not throw";
    } catch (const CustomError& e) {
      EXPECT_EQ(e.code, 13);
    }
  });
}

TEST_P(FiberTest, JoinDoesNotRethrow) {
  Run([] {
    auto f = spawn([] { throw std::runtime_error("x"); });
    EXPECT_NO_THROW(f.join());
    EXPECT_TRUE(f.ready());
    EXPECT_FALSE(f.killed());
    EXPECT_THROW(f.get(), std::runtime_error);
  });
}

TEST_P(FiberTest, OneFibersExceptionDoesNotDisturbOthers) {
  Run([] {
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < 20; ++i) {
      fs.push_back(spawn([i] {
        yield();
        if (i % 3 == 0) throw std::runtime_error(std::to_string(i));
        return i;
      }));
    }
    for (int i = 0; i < 20; ++i) {
      if (i % 3 == 0) {
        EXPECT_THROW(fs[i].get(), std::runtime_error);
      } else {
        EXPECT_EQ(fs[i].get(), i);
      }
    }
  });
}

TEST_P(FiberTest, JoinIsRepeatableAndReturnsAtOnceOnceFinished) {
  Run([] {
    auto f = spawn([] { return 1; });
    f.join();
    f.join();  // gevent's join: a finished fiber's join returns at once
    EXPECT_TRUE(f.join_for(absl::ZeroDuration()));
    EXPECT_EQ(f.get(), 1);  // join then get is fine
  });
}

// The handle stays a handle to the finished fiber after get(): id(),
// ready(), name(), killed() answer, join() returns, kill() does nothing;
// only a second get() throws.
TEST_P(FiberTest, HandleStaysValidAfterGet) {
  Run([] {
    auto f = spawn([] {
      set_name("worker");
      return std::string("value");
    });
    const uint64_t id = f.id();
    ASSERT_NE(id, 0u);
    EXPECT_EQ(f.get(), "value");
    EXPECT_TRUE(f.valid());
    EXPECT_EQ(f.id(), id);
    EXPECT_TRUE(f.ready());
    EXPECT_FALSE(f.killed());
    EXPECT_EQ(f.name(), "worker");
    EXPECT_NO_THROW(f.join());
    EXPECT_TRUE(f.join_for(absl::Milliseconds(1)));
    EXPECT_TRUE(f.join_until(absl::InfinitePast()));
    EXPECT_NO_THROW(f.kill());
    EXPECT_FALSE(f.killed());  // killing a finished fiber does nothing
    EXPECT_TRUE(f.kill_and_join(absl::Milliseconds(1)));
    try {
      f.get();
      ADD_FAILURE() << "second get() did not throw";
    } catch (const UsageError& e) {
      EXPECT_THAT(e.what(), HasSubstr("already taken"));
      EXPECT_THAT(e.what(), HasSubstr(std::to_string(id)));
    }
    // The slot is the handle's until it goes: a fiber spawned now cannot
    // reuse it, so the handle still names the same fiber.
    std::vector<Fiber<int>> more;
    for (int i = 0; i < 64; ++i) more.push_back(spawn([i] { return i; }));
    for (auto& m : more) m.join();
    EXPECT_EQ(f.id(), id);
    EXPECT_EQ(f.name(), "worker");
    EXPECT_TRUE(join_all({f}));

    auto v = spawn([] {});
    v.get();
    EXPECT_TRUE(v.valid());
    EXPECT_TRUE(v.ready());
    EXPECT_NO_THROW(v.join());
    EXPECT_NO_THROW(v.kill());
    EXPECT_THROW(v.get(), UsageError);

    auto t = spawn([]() -> int { throw std::runtime_error("boom"); });
    EXPECT_THROW(t.get(), std::runtime_error);
    EXPECT_TRUE(t.ready());
    EXPECT_NO_THROW(t.join());
    EXPECT_THROW(t.get(), UsageError);

    auto k = spawn([] {
      sleep_for(absl::Hours(1));
      return 0;
    });
    k.kill();
    EXPECT_THROW(k.get(), FiberKilled);
    EXPECT_TRUE(k.killed());
    EXPECT_NE(k.id(), 0u);
    EXPECT_NO_THROW(k.kill());
    EXPECT_NO_THROW(k.join());
  });
}

TEST_P(FiberTest, EmptyHandlesThrowUsageError) {
  Run([] {
    Fiber<int> empty;
    EXPECT_FALSE(empty.valid());
    EXPECT_FALSE(static_cast<bool>(empty));
    EXPECT_FALSE(empty.ready());
    EXPECT_FALSE(empty.killed());
    EXPECT_EQ(empty.id(), 0u);
    EXPECT_EQ(empty.name(), "");
    try {
      empty.get();
      ADD_FAILURE() << "get() on an empty handle did not throw";
    } catch (const UsageError& e) {
      EXPECT_THAT(e.what(), HasSubstr("empty handle"));
    }
    EXPECT_THROW(empty.join(), UsageError);
    EXPECT_THROW(empty.join_for(absl::Milliseconds(1)), UsageError);

    auto f = spawn([] { return 2; });
    EXPECT_EQ(f.get(), 2);
    EXPECT_THROW(f.get(), UsageError);  // get() is once-only
    f.detach();
    EXPECT_FALSE(f.valid());
    EXPECT_THROW(f.join(), UsageError);  // detached: empty
    EXPECT_THROW(f.kill(), UsageError);

    auto g = spawn([] { return 3; });
    Fiber<int> h = std::move(g);
    EXPECT_THROW(g.join(), UsageError);  // moved from
    EXPECT_EQ(h.get(), 3);
  });
}

TEST_P(FiberTest, GetOnEmptyHandleThrowsOutsideAFiberToo) {
  Fiber<void> empty;
  EXPECT_THROW(empty.get(), UsageError);
}

TEST_P(FiberTest, DetachedFiberRunsToCompletion) {
  Run([] {
    std::atomic<bool> go{false};
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto f = spawn([&go, done] {
      WaitUntil(go);
      done->store(true);
    });
    f.detach();
    EXPECT_FALSE(f.valid());
    EXPECT_THROW(f.join(), UsageError);
    go = true;
    for (int i = 0; i < 10000 && !done->load(); ++i) sleep_for(absl::Milliseconds(1));
    EXPECT_TRUE(done->load());
  });
}

TEST_P(FiberTest, DroppedHandleDetaches) {
  Run([] {
    std::atomic<int> finished{0};
    for (int i = 0; i < 100; ++i) {
      spawn([&finished] {
        yield();
        finished.fetch_add(1);
      });
    }
    for (int i = 0; i < 10000 && finished.load() != 100; ++i) sleep_for(absl::Milliseconds(1));
    EXPECT_EQ(finished.load(), 100);
  });
}

TEST_P(FiberTest, MoveAssignmentDetachesTheOverwrittenFiber) {
  Run([] {
    std::atomic<bool> first_done{false};
    auto a = spawn([&first_done] {
      sleep_for(absl::Milliseconds(5));
      first_done = true;
      return 1;
    });
    a = spawn([] { return 2; });
    EXPECT_EQ(a.get(), 2);
    WaitUntil(first_done);
  });
}

TEST_P(FiberTest, ReadyTurnsTrueOnlyWhenFinished) {
  Run([] {
    std::atomic<bool> go{false};
    auto f = spawn([&go] { WaitUntil(go); });
    sleep_for(absl::Milliseconds(5));
    EXPECT_FALSE(f.ready());
    go = true;
    f.join();
    EXPECT_TRUE(f.ready());
    EXPECT_FALSE(f.killed());
  });
}

TEST_P(FiberTest, IdsAreUniqueAndMatchCurrent) {
  Run([] {
    std::vector<Fiber<uint64_t>> fs;
    const int n = static_cast<int>(test::Scaled(2000));
    for (int i = 0; i < n; ++i) fs.push_back(spawn([] { return current().id; }));
    std::set<uint64_t> ids;
    ids.insert(current().id);
    for (auto& f : fs) {
      uint64_t id = f.id();
      EXPECT_NE(id, 0u);
      EXPECT_EQ(f.get(), id);
      ids.insert(id);
    }
    EXPECT_EQ(ids.size(), fs.size() + 1);
  });
}

TEST_P(FiberTest, IdsStayUniqueAcrossStackReuse) {
  Run([] {
    std::set<uint64_t> ids;
    for (int i = 0; i < 500; ++i) {
      auto f = spawn([] {});
      ids.insert(f.id());
      f.join();
    }
    EXPECT_EQ(ids.size(), 500u);
  });
}

TEST_P(FiberTest, IdsAreUniqueForOutsideSpawns) {
  Runtime rt(options());
  std::set<uint64_t> ids;
  std::vector<Fiber<void>> fs;
  for (int i = 0; i < 200; ++i) {
    fs.push_back(rt.spawn([] {}));
    ids.insert(fs.back().id());
  }
  for (auto& f : fs) f.join();
  EXPECT_EQ(ids.size(), 200u);
}

TEST_P(FiberTest, NameIsSetByTheFiber) {
  Run([] {
    auto f = spawn([] {
      set_name("worker-7");
      return current().name;
    });
    f.join();
    EXPECT_EQ(f.name(), "worker-7");
    EXPECT_EQ(f.get(), "worker-7");

    auto g = spawn([] {});
    g.join();
    EXPECT_EQ(g.name(), "");
  });
}

TEST_P(FiberTest, NameIsTruncatedTo31Bytes) {
  Run([] {
    auto f = spawn([] { set_name(std::string(100, 'n')); });
    f.join();
    EXPECT_EQ(f.name(), std::string(31, 'n'));
  });
}

TEST_P(FiberTest, RenamingReplacesTheWholeName) {
  Run([] {
    set_name("a-rather-long-name");
    set_name("short");
    EXPECT_EQ(current().name, "short");
  });
}

TEST_P(FiberTest, NameOfAReusedStackStartsEmpty) {
  Run([] {
    spawn([] { set_name("old"); }).join();
    for (int i = 0; i < 10; ++i) {
      auto f = spawn([] { return current().name; });
      EXPECT_EQ(f.get(), "");
    }
  });
}

TEST_P(FiberTest, JoinFromAPlainThread) {
  Runtime rt(options());
  auto f = rt.spawn([] {
    sleep_for(absl::Milliseconds(20));
    return 5;
  });
  f.join();  // blocks the test's thread
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(f.get(), 5);

  auto g = rt.spawn([] {
    sleep_for(absl::Milliseconds(20));
    return 6;
  });
  int got = 0;
  std::thread t([&] { got = g.get(); });
  t.join();
  EXPECT_EQ(got, 6);
}

TEST_P(FiberTest, JoinForTimesOutThenSucceeds) {
  Run([] {
    std::atomic<bool> go{false};
    auto f = spawn([&go] {
      WaitUntil(go);
      return 1;
    });
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(f.join_for(absl::Milliseconds(30)));
    EXPECT_GE(test::MillisSince(start), 29);
    EXPECT_FALSE(f.join_for(absl::ZeroDuration()));
    EXPECT_FALSE(f.join_for(absl::Milliseconds(-5)));
    EXPECT_FALSE(f.join_until(absl::Now() + absl::Milliseconds(5)));
    EXPECT_FALSE(f.ready());
    go = true;
    EXPECT_TRUE(f.join_for(absl::Seconds(30)));
    EXPECT_TRUE(f.join_for(absl::ZeroDuration()));  // may be called again
    f.join();
    EXPECT_EQ(f.get(), 1);
  });
}

TEST_P(FiberTest, JoinForFromAPlainThread) {
  Runtime rt(options());
  std::atomic<bool> go{false};
  auto f = rt.spawn([&go] { WaitUntil(go); });
  EXPECT_FALSE(f.join_for(absl::Milliseconds(20)));
  EXPECT_FALSE(f.join_for(absl::ZeroDuration()));
  go = true;
  EXPECT_TRUE(f.join_for(absl::Seconds(30)));
  EXPECT_TRUE(f.ready());
}

TEST_P(FiberTest, JoinAllMixedTypes) {
  Run([] {
    auto a = spawn([] {
      sleep_for(absl::Milliseconds(10));
      return 1;
    });
    auto b = spawn([] { sleep_for(absl::Milliseconds(5)); });
    auto c = spawn([] { return std::string("c"); });
    auto d = spawn([] { throw std::runtime_error("d"); });
    EXPECT_TRUE(join_all({a, b, c, d}));
    EXPECT_TRUE(a.ready());
    EXPECT_TRUE(b.ready());
    EXPECT_TRUE(c.ready());
    EXPECT_TRUE(d.ready());
    EXPECT_EQ(a.get(), 1);
    EXPECT_EQ(c.get(), "c");
    EXPECT_THROW(d.get(), std::runtime_error);  // join_all did not rethrow it
    b.join();                                   // nor count as join
  });
}

TEST_P(FiberTest, JoinAllWithTimeoutFalseThenTrue) {
  Run([] {
    std::atomic<bool> go{false};
    auto quick = spawn([] { return 1; });
    auto slow = spawn([&go] { WaitUntil(go); });
    EXPECT_FALSE(join_all({quick, slow}, absl::Milliseconds(20)));
    EXPECT_FALSE(slow.ready());
    go = true;
    EXPECT_TRUE(join_all({quick, slow}, absl::Seconds(30)));
    EXPECT_TRUE(quick.ready());
    EXPECT_TRUE(slow.ready());
  });
}

TEST_P(FiberTest, JoinAllTakesAVectorAndSkipsEmptyHandles) {
  Run([] {
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < 50; ++i) fs.push_back(spawn([i] { return i; }));
    fs.emplace_back();  // empty: counts as finished
    EXPECT_TRUE(join_all(fs));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[i].get(), i);
    EXPECT_TRUE(join_all(fs, absl::ZeroDuration()));
    std::vector<Fiber<int>> none;
    EXPECT_TRUE(join_all(none, absl::ZeroDuration()));
  });
}

TEST_P(FiberTest, JoinAllVectorTimesOut) {
  Run([] {
    std::atomic<bool> go{false};
    std::vector<Fiber<void>> fs;
    for (int i = 0; i < 4; ++i) fs.push_back(spawn([&go] { WaitUntil(go); }));
    EXPECT_FALSE(join_all(fs, absl::Milliseconds(10)));
    go = true;
    EXPECT_TRUE(join_all(fs, absl::Seconds(30)));
  });
}

TEST_P(FiberTest, JoinAllFromAPlainThread) {
  Runtime rt(options());
  auto a = rt.spawn([] { sleep_for(absl::Milliseconds(10)); });
  auto b = rt.spawn([] { return 2; });
  EXPECT_TRUE(join_all({a, b}));
  EXPECT_EQ(b.get(), 2);
}

TEST_P(FiberTest, JoinAllResultSaysWhichFinished) {
  Run([] {
    std::atomic<bool> go{false};
    auto quick = spawn([] { return 1; });
    auto slow = spawn([&go] { WaitUntil(go); });
    auto late_quick = spawn([] { sleep_for(absl::Milliseconds(1)); });
    Fiber<int> empty;
    JoinAllResult r = join_all({quick, slow, late_quick, empty}, absl::Milliseconds(30));
    EXPECT_FALSE(r);
    EXPECT_FALSE(r.all());
    EXPECT_EQ(r.size(), 4u);
    EXPECT_EQ(r.count(), 3u);  // the fiber after the slow one counts too
    EXPECT_EQ(r.finished(), (std::vector<std::size_t>{0, 2, 3}));
    EXPECT_EQ(r.pending(), (std::vector<std::size_t>{1}));
    EXPECT_TRUE(r.finished(0));
    EXPECT_FALSE(r.finished(1));
    EXPECT_THROW(r.finished(4), std::out_of_range);
    go = true;
    r = join_all({quick, slow, late_quick, empty}, absl::Seconds(30));
    EXPECT_TRUE(r);
    EXPECT_EQ(r.count(), 4u);
    EXPECT_EQ(r.finished(), (std::vector<std::size_t>{0, 1, 2, 3}));
    EXPECT_TRUE(r.pending().empty());
    EXPECT_TRUE(r.finished(1));
  });
}

TEST_P(FiberTest, JoinAllResultForARange) {
  Run([] {
    std::atomic<bool> go{false};
    std::vector<Fiber<int>> fs;
    for (int i = 0; i < 6; ++i) {
      fs.push_back(spawn([&go, i] {
        if (i % 3 == 1) WaitUntil(go);
        return i;
      }));
    }
    auto r = join_all(fs, absl::Milliseconds(30));
    if (r) ADD_FAILURE() << "fibers 1 and 4 cannot have finished";
    EXPECT_EQ(r.pending(), (std::vector<std::size_t>{1, 4}));
    EXPECT_EQ(r.finished(), (std::vector<std::size_t>{0, 2, 3, 5}));
    go = true;
    auto all = join_all(fs);
    EXPECT_TRUE(all.all());
    EXPECT_EQ(all.size(), 6u);
    std::vector<Fiber<int>> none;
    auto empty = join_all(none, absl::ZeroDuration());
    EXPECT_TRUE(empty);
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.finished().empty());
  });
}

TEST_P(FiberTest, JoinAllResultFromAPlainThread) {
  Runtime rt(options());
  std::atomic<bool> go{false};
  auto a = rt.spawn([] { return 1; });
  auto b = rt.spawn([&go] { WaitUntil(go); });
  a.join();
  auto r = join_all({a, b}, absl::Milliseconds(20));
  EXPECT_FALSE(r);
  EXPECT_EQ(r.finished(), (std::vector<std::size_t>{0}));
  go = true;
  EXPECT_TRUE(join_all({a, b}, absl::Seconds(30)));
}

TEST_P(FiberTest, FiberJoiningItselfThrowsUsageError) {
  Run([] {
    Fiber<std::string> self;
    std::atomic<bool> handle_set{false};
    std::atomic<bool> done{false};
    // The fiber reads its own handle; we touch it again only once it is done.
    self = spawn([&self, &handle_set, &done]() -> std::string {
      WaitUntil(handle_set);
      std::string out;
      try {
        self.join_for(absl::Milliseconds(1));
        out += "join_for returned;";
      } catch (const UsageError& e) {
        out += "join_for threw;";
      }
      try {
        self.join();
        out += "join returned;";
      } catch (const UsageError& e) {
        out += std::string("join threw: ") + e.what();
      }
      done = true;
      return out;
    });
    handle_set = true;
    WaitUntil(done);
    std::string out = self.get();
    EXPECT_THAT(out, HasSubstr("join_for threw;"));
    EXPECT_THAT(out, HasSubstr("join threw: "));
    EXPECT_THAT(out, HasSubstr("itself"));
  });
}

// Fork-join trees: every level joins its children, across workers.
int64_t SumTree(int64_t lo, int64_t n) {
  if (n == 1) return lo;
  std::vector<Fiber<int64_t>> kids;
  int64_t step = n / 4;
  for (int i = 0; i < 4; ++i) kids.push_back(spawn(&SumTree, lo + i * step, step));
  int64_t sum = 0;
  for (auto& k : kids) sum += k.get();
  return sum;
}

TEST_P(FiberTest, ForkJoinTreeComputesTheRightSum) {
  constexpr int64_t kLeaves = 4096;
  EXPECT_EQ(Run([] { return SumTree(0, kLeaves); }), kLeaves * (kLeaves - 1) / 2);
}

TEST_P(FiberTest, SmallRunQueueOverflowsIntoTheInjector) {
  RuntimeOptions o = options();
  o.run_queue_capacity = 2;
  EXPECT_EQ(weft::run(o, [] { return SumTree(0, 1024); }), int64_t{1024} * 1023 / 2);
}

INSTANTIATE_TEST_SUITE_P(Workers, FiberTest, test::WorkerCounts(), test::WorkerCountName);

}  // namespace
}  // namespace weft
