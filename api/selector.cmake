# The selector language: parser, evaluator and canonical printer.
add_library(caracal_selector STATIC ${CMAKE_CURRENT_SOURCE_DIR}/selector.cpp)
target_link_libraries(caracal_selector PUBLIC caracal_common)

caracal_add_test(NAME selector_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/selector_test.cpp
  LIBS caracal_selector)

# libFuzzer target. selector.cpp is compiled into the fuzzer itself so that it carries the coverage
# instrumentation and sanitizers; the rest of the project stays uninstrumented.
if(CARACAL_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  add_executable(selector_fuzz
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/selector_fuzz.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/selector.cpp)
  set(_selector_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_compile_options(selector_fuzz PRIVATE ${_selector_fuzz_flags} -g)
  target_link_options(selector_fuzz PRIVATE ${_selector_fuzz_flags})
  target_link_libraries(selector_fuzz PRIVATE caracal_common)
endif()
