// Lock: std::mutex with Clang thread-safety annotations.
//
// Why not absl::Mutex: Debian's Abseil is not built with ThreadSanitizer, so
// TSan cannot see absl::Mutex's synchronisation and reports every structure
// it guards as racy. pthread mutexes are intercepted by TSan; this wrapper
// gives them the capability annotations -Wthread-safety needs.
#pragma once

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace weft::internal {

class ABSL_LOCKABLE Lock {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE LockGuard {
 public:
  explicit LockGuard(Lock& l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) { l_.lock(); }
  ~LockGuard() ABSL_UNLOCK_FUNCTION() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Lock& l_;
};

}  // namespace weft::internal
