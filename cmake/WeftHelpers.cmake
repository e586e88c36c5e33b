# weft_cc_library(NAME name [ALIAS ns::name] HDRS ... SRCS ... DEPS ...)
# One library per folder; headers are reached as <weft/...> (see the top-level link).
# Its headers need C++20 (constinit, std::span, concepts): cxx_std_20 is a usage
# requirement, so a project linking weft, installed or not, compiles as C++20
# without setting CMAKE_CXX_STANDARD itself.
function(weft_cc_library)
  cmake_parse_arguments(W "" "NAME;ALIAS" "HDRS;SRCS;DEPS" ${ARGN})
  add_library(${W_NAME} ${W_SRCS} ${W_HDRS})
  target_compile_features(${W_NAME} PUBLIC cxx_std_20)
  target_include_directories(${W_NAME} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(${W_NAME} PUBLIC ${W_DEPS} PRIVATE weft_flags)
  if(W_ALIAS)
    add_library(${W_ALIAS} ALIAS ${W_NAME})
  endif()
endfunction()

# weft_test_pch(): with WEFT_TEST_PCH, the headers every test includes and
# none of weft's (GoogleTest, gmock, Abseil's status and time, the standard
# library) are parsed once into a precompiled header that every
# weft_cc_test reuses. Measured on one test file under TSan: 60 -> 49 s
# (mutex_test) and 128 -> 92 s (tcp_test) on the loaded 2-core machine, for
# one 51 s precompile per build. Off under ccache, which caches no
# compilation that uses a precompiled header (unless told to be sloppy):
# there the cache wins; a fresh CI checkout has no cache.
function(weft_test_pch)
  add_library(weft_test_pch OBJECT ${PROJECT_SOURCE_DIR}/tests/testing/test_pch.cc)
  target_link_libraries(weft_test_pch PRIVATE weft::weft weft_core_private weft_flags
                        GTest::gtest)
  target_compile_options(weft_test_pch PRIVATE ${WEFT_TEST_COMPILE_OPTIONS})
  target_precompile_headers(weft_test_pch PRIVATE
    <algorithm> <atomic> <chrono> <cstdint> <functional> <memory> <mutex> <optional> <string>
    <thread> <utility> <vector>
    <absl/status/status.h> <absl/status/statusor.h> <absl/strings/str_cat.h>
    <absl/time/time.h> <gmock/gmock.h> <gtest/gtest.h>)
endfunction()

# weft_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [TIMEOUT s] [SHARDS n])
# Tests are white-box: they also reach core/private/ (weft_core_private).
# SHARDS n (n > 1) registers the binary as n ctest tests, NAME.shard<i>of<n>,
# each running every n-th test case (GoogleTest's GTEST_SHARD_INDEX /
# GTEST_TOTAL_SHARDS): a long binary then no longer runs alone on one core at
# the end of a parallel `ctest -j`. Long tests also get a COST so that ctest
# starts them first on a clean build (no CTestCostData yet).
function(weft_cc_test)
  cmake_parse_arguments(W "" "NAME;TIMEOUT;SHARDS" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${W_NAME} ${W_SRCS})
  target_link_libraries(${W_NAME} PRIVATE ${W_DEPS} weft_core_private weft_flags GTest::gtest
                        GTest::gtest_main)
  target_compile_options(${W_NAME} PRIVATE ${WEFT_TEST_COMPILE_OPTIONS})
  if(TARGET weft_test_pch)
    target_precompile_headers(${W_NAME} REUSE_FROM weft_test_pch)
  endif()
  if(NOT W_TIMEOUT)
    set(W_TIMEOUT 300)
  endif()
  if(NOT W_SHARDS OR W_SHARDS LESS 2)
    add_test(NAME ${W_NAME} COMMAND ${W_NAME})
    set_tests_properties(${W_NAME} PROPERTIES TIMEOUT ${W_TIMEOUT} LABELS "${W_LABELS}")
    return()
  endif()
  math(EXPR last "${W_SHARDS} - 1")
  foreach(i RANGE ${last})
    set(test "${W_NAME}.shard${i}of${W_SHARDS}")
    add_test(NAME ${test} COMMAND ${W_NAME})
    set_tests_properties(${test} PROPERTIES TIMEOUT ${W_TIMEOUT} LABELS "${W_LABELS}" COST 1000
      ENVIRONMENT "GTEST_TOTAL_SHARDS=${W_SHARDS};GTEST_SHARD_INDEX=${i}")
  endforeach()
endfunction()
