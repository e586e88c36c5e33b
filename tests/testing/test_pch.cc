// The one source of weft_test_pch (cmake/WeftHelpers.cmake): the target
// exists to compile the tests' precompiled header, which every test reuses.
