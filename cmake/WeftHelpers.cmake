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

# weft_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [TIMEOUT s])
# Tests are white-box: they also reach core/private/ (weft_core_private).
function(weft_cc_test)
  cmake_parse_arguments(W "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${W_NAME} ${W_SRCS})
  target_link_libraries(${W_NAME} PRIVATE ${W_DEPS} weft_core_private weft_flags GTest::gtest
                        GTest::gtest_main)
  add_test(NAME ${W_NAME} COMMAND ${W_NAME})
  if(NOT W_TIMEOUT)
    set(W_TIMEOUT 300)
  endif()
  set_tests_properties(${W_NAME} PROPERTIES TIMEOUT ${W_TIMEOUT} LABELS "${W_LABELS}")
endfunction()
