# `cmake --install` puts headers under include/weft/, the libraries, and a
# CMake package so that another project can `find_package(weft)` and link
# weft::weft (and weft::hook, libweft_hook.so, for the syscall hooks).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# A sanitizer build installs instrumented libraries, and headers whose inline
# switch code depends on WEFT_ASAN / WEFT_TSAN: weft::core carries both the
# -fsanitize flags and those macros to its users through weft::sanitize (see
# WeftOptions.cmake). Every exported library requires C++20 (weft_cc_library).

install(TARGETS weft_core weft_sync weft_io weft_weft weft_hook EXPORT weftTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/weft.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/weft)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/io DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/weft
        FILES_MATCHING PATTERN "*.h")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sync DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/weft
        FILES_MATCHING PATTERN "*.h")
# core/private/ is the runtime's own: not installed (no installed header
# includes it; see "Layering" in HACKING.md).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/weft
        FILES_MATCHING PATTERN "*.h" PATTERN "private" EXCLUDE)
install(EXPORT weftTargets NAMESPACE weft:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/weftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/weftConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/weftConfig.cmake ${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)
