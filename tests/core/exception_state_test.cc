// The C++ runtime's exception state (std::current_exception, the chain of
// caught exceptions, std::uncaught_exceptions) is per thread; weft makes it
// per fiber, so a fiber may suspend inside a catch block or a destructor that
// runs during unwinding, and resume on another worker, without any other
// fiber seeing its exception.
#include <atomic>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "weft/tests/testing/runtime_fixture.h"
#include "weft/weft.h"

namespace weft {
namespace {

void WaitUntil(const std::atomic<bool>& flag) {
  while (!flag.load()) sleep_for(absl::Milliseconds(1));
}

std::string MessageOf(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// What a bystander fiber sees while the suspended one is inside `catch`.
struct Observation {
  int uncaught = -1;
  bool has_current = true;
};

Observation Observe() { return {std::uncaught_exceptions(), std::current_exception() != nullptr}; }

class ExceptionStateTest : public ::testing::TestWithParam<int> {
 protected:
  RuntimeOptions options() const { return {.workers = GetParam()}; }
};

// Suspends inside a catch block with `suspend`, while a bystander observes.
template <typename Suspend>
void SuspendInsideCatch(const RuntimeOptions& options, Suspend suspend) {
  weft::run(options, [&suspend] {
    std::atomic<bool> in_catch{false};
    std::atomic<bool> observed{false};
    auto holder = spawn([&]() -> std::string {
      try {
        throw std::runtime_error("holder's error");
      } catch (...) {
        in_catch = true;
        while (!observed.load()) suspend();
        EXPECT_EQ(MessageOf(std::current_exception()), "holder's error");
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        try {
          throw;  // the rethrow still finds our exception
        } catch (const std::runtime_error& e) {
          return e.what();
        }
      }
      return "not rethrown";
    });
    auto bystander = spawn([&]() -> Observation {
      WaitUntil(in_catch);
      Observation o = Observe();
      observed = true;
      return o;
    });
    Observation o = bystander.get();
    EXPECT_EQ(o.uncaught, 0);
    EXPECT_FALSE(o.has_current);
    EXPECT_EQ(holder.get(), "holder's error");
    EXPECT_EQ(std::current_exception(), nullptr);  // nor does the main fiber
  });
}

TEST_P(ExceptionStateTest, YieldInsideCatchKeepsOwnException) {
  SuspendInsideCatch(options(), [] { yield(); });
}

TEST_P(ExceptionStateTest, SleepInsideCatchKeepsOwnException) {
  SuspendInsideCatch(options(), [] { sleep_for(absl::Milliseconds(1)); });
}

TEST_P(ExceptionStateTest, JoinInsideCatchKeepsOwnException) {
  SuspendInsideCatch(options(), [] { spawn([] { sleep_for(absl::Microseconds(100)); }).join(); });
}

TEST_P(ExceptionStateTest, BystanderCatchingItsOwnDoesNotDisturbTheHolder) {
  weft::run(options(), [] {
    std::atomic<bool> in_catch{false};
    std::atomic<bool> bystander_done{false};
    auto holder = spawn([&]() -> std::string {
      try {
        throw std::logic_error("outer");
      } catch (const std::logic_error&) {
        in_catch = true;
        WaitUntil(bystander_done);
        return MessageOf(std::current_exception());
      }
    });
    auto bystander = spawn([&]() -> std::string {
      WaitUntil(in_catch);
      std::string seen;
      try {
        throw std::runtime_error("inner");
      } catch (const std::exception&) {
        sleep_for(absl::Milliseconds(2));  // both suspended inside their catch blocks
        seen = MessageOf(std::current_exception());
      }
      EXPECT_EQ(std::current_exception(), nullptr);
      bystander_done = true;
      return seen;
    });
    EXPECT_EQ(bystander.get(), "inner");
    EXPECT_EQ(holder.get(), "outer");
  });
}

TEST_P(ExceptionStateTest, SuspendingDuringUnwindingKeepsUncaughtCount) {
  // A destructor that waits while an exception propagates through it.
  struct WaitsInDestructor {
    std::atomic<bool>* in_dtor;
    std::atomic<bool>* observed;
    int* uncaught_after;
    ~WaitsInDestructor() {
      *in_dtor = true;
      while (!observed->load()) sleep_for(absl::Milliseconds(1));
      *uncaught_after = std::uncaught_exceptions();
    }
  };
  weft::run(options(), [] {
    std::atomic<bool> in_dtor{false};
    std::atomic<bool> observed{false};
    int uncaught_after = -1;
    auto unwinder = spawn([&] {
      WaitsInDestructor w{&in_dtor, &observed, &uncaught_after};
      throw std::runtime_error("unwinding");
    });
    auto bystander = spawn([&] {
      WaitUntil(in_dtor);
      Observation o = Observe();
      observed = true;
      return o;
    });
    Observation o = bystander.get();
    EXPECT_EQ(o.uncaught, 0);
    EXPECT_FALSE(o.has_current);
    EXPECT_THROW(unwinder.get(), std::runtime_error);
    EXPECT_EQ(uncaught_after, 1);
  });
}

TEST_P(ExceptionStateTest, ManyFibersEachSeeTheirOwn) {
  weft::run(options(), [] {
    std::vector<Fiber<bool>> fs;
    for (int i = 0; i < 64; ++i) {
      fs.push_back(spawn([i] {
        try {
          throw std::runtime_error(std::to_string(i));
        } catch (...) {
          for (int k = 0; k < 20; ++k) {
            if (k % 2 == 0) {
              yield();
            } else {
              sleep_for(absl::Microseconds(50));
            }
            if (MessageOf(std::current_exception()) != std::to_string(i)) return false;
          }
        }
        return std::current_exception() == nullptr && std::uncaught_exceptions() == 0;
      }));
    }
    for (auto& f : fs) EXPECT_TRUE(f.get());
  });
}

TEST(ExceptionStateMigrationTest, StateFollowsAFiberToAnotherWorker) {
  // Forces migration: the holder's child is stolen by the other worker (its
  // thread blocks meanwhile), and a joiner resumes on the worker that ran the
  // fiber it joined.
  weft::run({.workers = 2}, [] {
    auto holder = spawn([] {
      int migrations = 0;
      try {
        throw std::runtime_error("mine");
      } catch (...) {
        for (int attempt = 0; attempt < 200 && migrations < 5; ++attempt) {
          int before = current().worker;
          auto child = spawn([] {
            EXPECT_EQ(std::current_exception(), nullptr);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          });
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          child.join();
          if (current().worker != before) ++migrations;
          EXPECT_EQ(MessageOf(std::current_exception()), "mine");
          EXPECT_EQ(std::uncaught_exceptions(), 0);
        }
        try {
          throw;
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "mine");
        }
      }
      EXPECT_EQ(std::current_exception(), nullptr);
      return migrations;
    });
    int migrations = holder.get();
    EXPECT_GT(migrations, 0) << "the holder never changed worker; the test proved nothing";
  });
}

TEST(ExceptionStateThreadTest, WorkerThreadStateIsUntouchedByFibers) {
  // The thread that runs the runtime keeps its own exception state.
  try {
    throw std::runtime_error("thread's own");
  } catch (...) {
    weft::run({.workers = 2}, [] {
      try {
        throw std::runtime_error("fiber's");
      } catch (...) {
        yield();
      }
    });
    EXPECT_EQ(MessageOf(std::current_exception()), "thread's own");
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, ExceptionStateTest, ::testing::Values(1, 2),
                         test::WorkerCountName);

}  // namespace
}  // namespace weft
