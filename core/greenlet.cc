// Greenlets: records, roots, switching, death and killing.
//
// Roots. Every thread of execution that uses greenlets (a fiber, or a plain
// thread) has a GreenletRoot: its main greenlet, which greenlet runs now
// ("current") and the value or exception in flight during a switch. A plain
// thread finds its root in a thread_local; a fiber in a table keyed by its
// FiberControl (checked against the fiber id, as slots are reused). Rejected:
// a thread_local for fibers too. A greenlet that sleeps parks its whole
// fiber, which may resume on another worker, while another fiber runs on
// this one: a worker's thread_local would name the wrong greenlet both ways.
// The table is consulted only to create a greenlet and by current(); a
// switch reaches the root through the target greenlet, and only checks
// (a thread_local load, or the worker's running fiber) that the caller runs
// in that root.
//
// Ownership. Handles count references (`refs`), as do children (a parent link
// is a reference), and the main greenlet's count keeps the root alive.
// Counts are plain ints: a greenlet is used only from its root. Handles that
// sit on the greenlet's own stack are also counted in `self_refs` (a handle
// knows its address): they cannot switch to it while it is suspended, so a
// suspended greenlet whose references are all its own is unreachable and is
// killed (GreenletExit at its pending switch, its parent set to the killer so
// control comes back, as Python does when it collects one). Without this,
// the temporary in `Greenlet::current().parent().switch_to()` would keep
// every greenlet that switches that way alive forever. A record is freed
// when no reference is left and it is not running or suspended.
//
// Switching. Greenlet::switch_any (greenlet.h) makes the common switch
// inline at the caller's site, so that the context switch itself is compiled
// there (see coroutine.cc, "Switch cost"): a started, live target, not the
// running greenlet, from a greenlet with outside references, in its own fiber
// or thread. That is why the records are declared in the header. Everything
// else (a greenlet's first start, errors, a switch to oneself, kills) goes
// through switch_checked and greenlet_switch here, in the order they check.
//
// Death. A finishing greenlet's last act is the switch to its nearest live
// ancestor, with its return value or exception in the root. Its stack is
// released by the side it switched to, after the switch (root->dying), when
// nothing runs on it any more.
#include "weft/core/greenlet.h"

#include <cstdio>
#include <exception>
#include <string>
#include <unordered_map>

#include "weft/core/internal/lock.h"
#include "weft/core/private/worker.h"

namespace weft::internal {

constinit thread_local GreenletRoot* t_greenlet_root = nullptr;

namespace {

Lock g_roots_mu;
std::unordered_map<const FiberControl*, GreenletRoot*>& fiber_roots()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_roots_mu) {
  static auto* roots = new std::unordered_map<const FiberControl*, GreenletRoot*>;
  return *roots;
}

FiberControl* running_fiber() {
  Worker* w = Worker::current();
  return w != nullptr ? w->current_fiber() : nullptr;
}

GreenletRoot* root_here() {
  FiberControl* f = running_fiber();
  if (f == nullptr) {
    if (t_greenlet_root == nullptr) t_greenlet_root = new GreenletRoot(nullptr, 0);
    return t_greenlet_root;
  }
  LockGuard lock(g_roots_mu);
  GreenletRoot*& r = fiber_roots()[f];
  // A root left by an earlier fiber in the same slot (greenlets that outlived
  // it) stays alive for its handles, out of the table.
  if (r == nullptr || r->fiber_id != f->id) r = new GreenletRoot(f, f->id);
  return r;
}

bool runs_here(const GreenletRoot* root) {
  if (root->fiber == nullptr) return t_greenlet_root == root;
  return greenlet_runs_in_fiber(root);
}

void free_root(GreenletRoot* root) {
  if (root->fiber == nullptr) {
    if (t_greenlet_root == root) t_greenlet_root = nullptr;
  } else {
    LockGuard lock(g_roots_mu);
    auto it = fiber_roots().find(root->fiber);
    if (it != fiber_roots().end() && it->second == root) fiber_roots().erase(it);
  }
  delete root;
}

void maybe_dispose(GreenletRec* g);
void free_rec(GreenletRec* g);

// Releases what a greenlet that died before this switch left behind.
void after_switch(GreenletRoot* root) {
  GreenletRec* d = std::exchange(root->dying, nullptr);
  if (d == nullptr) return;
  coroutine_release(d->co);
  d->co = nullptr;
  if (d->refs == 0 && !d->disposing) free_rec(d);
}

void die(GreenletRec* self, std::any result, std::exception_ptr error);

}  // namespace

// The rare end of a switch back: a child died (its stack to release) or an
// exception came with the switch. The exception is taken first: releasing
// the child may drop the last reference to a suspended greenlet, whose kill
// switches again and reuses root->error.
__attribute__((noinline)) std::any greenlet_finish_switch(GreenletRoot* root, std::any received) {
  std::exception_ptr thrown = std::exchange(root->error, nullptr);
  after_switch(root);
  if (thrown) std::rethrow_exception(thrown);
  return received;
}

bool greenlet_runs_in_fiber(const GreenletRoot* root) {
  FiberControl* f = running_fiber();
  return f == root->fiber && f->id == root->fiber_id;
}

namespace {

void greenlet_body(CoroutineControl* co) {
  GreenletRec* self = static_cast<GreenletClosure*>(co->owner)->rec;
  GreenletRoot* root = self->root;
  after_switch(root);
  std::any result;
  std::exception_ptr error;
  try {
    std::any arg = std::move(root->value);
    if (root->error) std::rethrow_exception(std::exchange(root->error, nullptr));
    result = self->closure->invoke(self->closure, std::move(arg));
  } catch (const GreenletExit&) {
    // Killed: die quietly; the parent receives an empty value.
  } catch (...) {
    error = std::current_exception();
  }
  self->closure->destroy(self->closure);
  self->closure = nullptr;
  die(self, std::move(result), std::move(error));
}

void die(GreenletRec* self, std::any result, std::exception_ptr error) {
  GreenletRoot* root = self->root;
  self->state = GreenletRec::State::kDead;
  GreenletRec* to = self->parent;
  while (to->state == GreenletRec::State::kDead) to = to->parent;  // a main one never dies
  root->value = std::move(result);
  root->error = std::move(error);
  root->dying = self;
  root->current = to;
  // The final switch, made by coroutine_entry once greenlet_body returns.
  self->co->exit_to = to->ctx;
  self->co->exit_to_on = to->suspended_on;
}

// Every greenlet switch but a death and those Greenlet::switch_any makes
// inline (see greenlet.h): from the running greenlet to `to`, carrying
// `value` or `*error` (null: none; a pointer, as exception_ptr's destructor
// is an out-of-line call in GCC 12's library); returns (or throws) what the
// next switch back carries.
__attribute__((noinline)) std::any greenlet_switch(GreenletRoot* root, GreenletRec* to,
                                                   std::any&& value, std::exception_ptr* error) {
  GreenletRec* from = root->current;
  if (to == from) {
    if (error != nullptr) std::rethrow_exception(*error);
    return std::move(value);
  }
  if (!from->is_main && from->refs == from->self_refs && !from->disposing) {
    throw UsageError(
        "weft::Greenlet::switch_to: no handle refers to the running greenlet, so nothing "
        "could ever switch back to it; keep a weft::Greenlet for it");
  }
  root->value = std::move(value);
  if (error != nullptr) root->error = *error;
  if (to->state == GreenletRec::State::kNotStarted) {
    to->state = GreenletRec::State::kActive;
    coroutine_arm(to->co);
  }
  root->current = to;
  Handover h;
  coroutine_switch(from->ctx, from->suspended_on, to->ctx, to->suspended_on, &h);
  // Switched back to `from` (root->current == from again).
  std::any received = std::move(root->value);
  if (root->dying != nullptr || root->error) {
    return greenlet_finish_switch(root, std::move(received));
  }
  return received;
}

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// Kills a suspended greenlet nobody refers to (see "Ownership").
void kill(GreenletRec* g) {
  GreenletRoot* root = g->root;
  GreenletRec* old_parent = g->parent;
  g->parent = root->current;
  greenlet_ref(g->parent, nullptr);
  g->disposing = true;
  std::exception_ptr exit = std::make_exception_ptr(GreenletExit{});
  try {
    greenlet_switch(root, g, std::any(), &exit);
  } catch (...) {
    std::fprintf(stderr, "weft: exception ignored while killing a dropped greenlet: %s\n",
                 describe(std::current_exception()).c_str());
  }
  g->disposing = false;
  greenlet_unref(old_parent, nullptr);
}

void free_rec(GreenletRec* g) {
  GreenletRec* parent = g->parent;
  delete g;
  greenlet_unref(parent, nullptr);
}

// Called when no reference from outside the greenlet's own stack is left.
void maybe_dispose(GreenletRec* g) {
  if (g->is_main) {
    if (g->refs == 0) free_root(g->root);
    return;
  }
  switch (g->state) {
    case GreenletRec::State::kNotStarted:
      g->closure->destroy(g->closure);
      coroutine_release(g->co);
      free_rec(g);
      return;
    case GreenletRec::State::kDead:
      if (g->refs == 0 && g->co == nullptr) free_rec(g);  // else after_switch frees it
      return;
    case GreenletRec::State::kActive:
      break;
  }
  if (g->root->current == g || g->disposing) return;  // running: freed when it dies
  if (!runs_here(g->root)) {
    std::fprintf(stderr,
                 "weft: the last handle to a suspended greenlet was dropped outside the fiber "
                 "or thread it belongs to; it cannot be unwound there and is leaked\n");
    return;
  }
  kill(g);
  if (g->state != GreenletRec::State::kDead) {
    std::fprintf(stderr,
                 "weft: a dropped greenlet ignored GreenletExit and switched back; its stack "
                 "is released without unwinding\n");
    coroutine_release(g->co);
    g->co = nullptr;
    g->state = GreenletRec::State::kDead;
    g->refs -= g->self_refs;  // those handles went with its stack
    g->self_refs = 0;
  }
  if (g->refs == 0) free_rec(g);
}

bool on_own_stack(const GreenletRec* g, const void* handle) {
  if (g->co == nullptr || handle == nullptr) return false;
  const char* p = static_cast<const char*>(handle);
  return p >= g->co->stack.lo && p < g->co->stack.hi;
}

}  // namespace

GreenletRec* greenlet_new(std::size_t bytes, std::size_t align,
                          GreenletClosure* (*build)(void* where, void* arg), void* arg) {
  CoroutineControl* co = coroutine_create(bytes, align, &greenlet_body);
  GreenletClosure* closure;
  try {
    closure = build(co->owner, arg);
  } catch (...) {
    coroutine_release(co);
    throw;
  }
  GreenletRoot* root = root_here();
  auto* g = new GreenletRec;
  g->root = root;
  g->parent = root->current;
  greenlet_ref(g->parent, nullptr);
  g->co = co;
  g->closure = closure;
  g->ctx = &co->ctx;
  g->suspended_on = &co->suspended_on;
  closure->rec = g;
  return g;
}

void greenlet_ref(GreenletRec* g, const void* handle) {
  ++g->refs;
  if (on_own_stack(g, handle)) ++g->self_refs;
}

void greenlet_unref(GreenletRec* g, const void* handle) {
  if (g == nullptr) return;
  --g->refs;
  if (on_own_stack(g, handle)) --g->self_refs;
  if (g->refs == g->self_refs) maybe_dispose(g);
}

void greenlet_moved(GreenletRec* g, const void* from, const void* to) {
  g->self_refs += static_cast<int>(on_own_stack(g, to)) - static_cast<int>(on_own_stack(g, from));
  if (g->refs == g->self_refs) maybe_dispose(g);
}

}  // namespace weft::internal

namespace weft {

std::any Greenlet::switch_checked(std::any&& value) {
  internal::GreenletRec* to = rec_;
  if (to == nullptr) {
    throw UsageError("weft::Greenlet::switch_to on an empty handle; assign a greenlet to it first");
  }
  if (!internal::runs_here(to->root)) {
    throw UsageError(
        "weft::Greenlet::switch_to: the greenlet belongs to another fiber or thread; a "
        "greenlet can be switched to only from the fiber or thread that created it");
  }
  if (to->state == internal::GreenletRec::State::kDead) {
    throw UsageError(
        "weft::Greenlet::switch_to: the greenlet is dead (its function has returned or "
        "thrown); check dead() first");
  }
  return internal::greenlet_switch(to->root, to, std::move(value), nullptr);
}

bool Greenlet::dead() const {
  return rec_ != nullptr && rec_->state == internal::GreenletRec::State::kDead;
}

bool Greenlet::started() const {
  return rec_ != nullptr && rec_->state != internal::GreenletRec::State::kNotStarted;
}

bool Greenlet::is_main() const { return rec_ != nullptr && rec_->is_main; }

Greenlet Greenlet::parent() const {
  if (rec_ == nullptr || rec_->parent == nullptr) return Greenlet();
  return Greenlet(rec_->parent);
}

Greenlet Greenlet::current() { return Greenlet(internal::root_here()->current); }

}  // namespace weft
