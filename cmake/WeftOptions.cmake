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
if(WEFT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address)
  add_compile_definitions(BOOST_USE_ASAN WEFT_ASAN=1)
elseif(WEFT_SANITIZE STREQUAL "thread")
  # TSan does not model fences; weft publishes data only through release/acquire
  # pairs, and its fences order atomics only (see run_queue.h, parker.cc).
  add_compile_options(-fsanitize=thread -Wno-tsan)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(BOOST_USE_TSAN WEFT_TSAN=1)
elseif(WEFT_SANITIZE STREQUAL "undefined")
  add_compile_options(-fsanitize=undefined -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=undefined)
elseif(NOT WEFT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "WEFT_SANITIZE must be address, thread, undefined or empty")
endif()
install(TARGETS weft_flags EXPORT weftTargets)
