# Compiler flags shared by every weft target (warnings, sanitizers, frame pointers).
add_library(weft_flags INTERFACE)
target_compile_options(weft_flags INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(WEFT_WERROR)
  target_compile_options(weft_flags INTERFACE -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(weft_flags INTERFACE -Wthread-safety)
endif()
if(WEFT_FRAME_POINTERS)
  target_compile_options(weft_flags INTERFACE -fno-omit-frame-pointer
                         -mno-omit-leaf-frame-pointer -g)
endif()

# Sanitizers apply to everything built here, including test and benchmark binaries,
# so they are set globally. BOOST_USE_ASAN / BOOST_USE_TSAN make Boost.Context's own
# headers agree with the annotations weft issues in core/internal/context.cc.
#
# weft_sanitize (exported as weft::sanitize, linked PUBLIC by weft::core) carries
# the same sanitizer flags and macros to whatever links weft from outside this
# directory: an installed weft, or a parent project's add_subdirectory. They are
# not optional there: weft's headers inline switch code (coroutine_switch in
# core/internal/coroutine.h) that issues the ASan/TSan fiber annotations only
# under WEFT_ASAN / WEFT_TSAN, so a -fsanitize=thread consumer without
# WEFT_TSAN=1 crashes in its first Generator or Greenlet switch (an ASan one
# without WEFT_ASAN=1 misreports the stack it runs on), and one without
# -fsanitize cannot link the instrumented libraries at all. Flags that only
# tune weft's own build (-Wno-tsan, -fno-sanitize-recover) stay out of it.
set(weft_sanitize_options "")       # compile options, for weft and its users
set(weft_sanitize_definitions "")   # macros its headers test
set(weft_sanitize_own_options "")   # compile options for weft's own build only
if(WEFT_SANITIZE STREQUAL "address")
  set(weft_sanitize_options -fsanitize=address -fno-omit-frame-pointer)
  set(weft_sanitize_definitions BOOST_USE_ASAN WEFT_ASAN=1)
elseif(WEFT_SANITIZE STREQUAL "thread")
  set(weft_sanitize_options -fsanitize=thread)
  set(weft_sanitize_definitions BOOST_USE_TSAN WEFT_TSAN=1)
  # TSan does not model fences; weft publishes data only through release/acquire
  # pairs, and its fences order atomics only (see run_queue.h, parker.cc).
  set(weft_sanitize_own_options -Wno-tsan)
elseif(WEFT_SANITIZE STREQUAL "undefined")
  set(weft_sanitize_options -fsanitize=undefined)
  set(weft_sanitize_own_options -fno-sanitize-recover=undefined)
elseif(NOT WEFT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "WEFT_SANITIZE must be address, thread, undefined or empty")
endif()
if(WEFT_SANITIZE)
  add_compile_options(${weft_sanitize_options} ${weft_sanitize_own_options})
  add_link_options(-fsanitize=${WEFT_SANITIZE})
  add_compile_definitions(${weft_sanitize_definitions})
endif()

add_library(weft_sanitize INTERFACE)
set_target_properties(weft_sanitize PROPERTIES EXPORT_NAME sanitize)
if(WEFT_SANITIZE)
  target_compile_options(weft_sanitize INTERFACE ${weft_sanitize_options})
  target_link_options(weft_sanitize INTERFACE -fsanitize=${WEFT_SANITIZE})
  target_compile_definitions(weft_sanitize INTERFACE ${weft_sanitize_definitions})
endif()
install(TARGETS weft_flags weft_sanitize EXPORT weftTargets)
