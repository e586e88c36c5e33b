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
  # Tests that check full fiber stacks in Runtime::dump look for it.
  target_compile_definitions(weft_flags INTERFACE WEFT_FRAME_POINTERS=1)
endif()

# USDT probes need <sys/sdt.h> (Debian: systemtap-sdt-dev); without it they
# compile to nothing, and the configure step says so.
if(WEFT_USDT)
  include(CheckIncludeFileCXX)
  check_include_file_cxx(sys/sdt.h WEFT_HAVE_SDT_H)
  if(WEFT_HAVE_SDT_H)
    target_compile_definitions(weft_flags INTERFACE WEFT_USDT=1)
  else()
    message(WARNING "WEFT_USDT: <sys/sdt.h> not found (apt-get install systemtap-sdt-dev); "
                    "building without USDT probes")
  endif()
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
# WEFT_SANITIZE is one sanitizer or a comma-separated list of them
# ("address,undefined": one build, one test run for both).
string(REPLACE "," ";" weft_sanitizers "${WEFT_SANITIZE}")
foreach(sanitizer IN LISTS weft_sanitizers)
  if(sanitizer STREQUAL "address")
    list(APPEND weft_sanitize_options -fsanitize=address -fno-omit-frame-pointer)
    list(APPEND weft_sanitize_definitions BOOST_USE_ASAN WEFT_ASAN=1)
  elseif(sanitizer STREQUAL "thread")
    list(APPEND weft_sanitize_options -fsanitize=thread)
    list(APPEND weft_sanitize_definitions BOOST_USE_TSAN WEFT_TSAN=1)
    # TSan does not model fences; weft publishes data only through release/acquire
    # pairs, and its fences order atomics only (see run_queue.h, idle_workers.cc).
    list(APPEND weft_sanitize_own_options -Wno-tsan)
  elseif(sanitizer STREQUAL "undefined")
    list(APPEND weft_sanitize_options -fsanitize=undefined)
    list(APPEND weft_sanitize_own_options -fno-sanitize-recover=undefined)
  else()
    message(FATAL_ERROR "WEFT_SANITIZE must be address, thread, undefined, a comma-separated "
                        "list of them, or empty (got '${WEFT_SANITIZE}')")
  endif()
endforeach()
if("address" IN_LIST weft_sanitizers AND "thread" IN_LIST weft_sanitizers)
  message(FATAL_ERROR "WEFT_SANITIZE: address and thread cannot be combined")
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

# Linker. lld links a test binary in about half the time of GNU ld here
# (0.4 s against 0.7-0.9 s for an ASan test), and tools/test.sh links some 60
# of them in each of three builds. Used for weft's own build when the compiler
# accepts it; never passed on to users of an installed weft. Not with
# WEFT_USDT: perf attached to the SDT notes of an lld-linked binary, but its
# probes never fired (tools_perf_trace counted 0 spawns; GNU ld's binary, the
# same code, counted 405).
option(WEFT_USE_LLD "Link weft's own binaries with lld when it is installed" ON)
if(WEFT_USE_LLD AND NOT WEFT_USDT)
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=lld" WEFT_HAVE_LLD)
  if(WEFT_HAVE_LLD)
    add_link_options(-fuse-ld=lld)
  endif()
endif()
