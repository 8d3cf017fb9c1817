# caracal_add_test(NAME name SOURCES a.cpp b.cpp LIBS lib... [LABELS l...])
# Registers one GoogleTest binary with CTest; every test case becomes its own CTest entry.
include(GoogleTest)
function(caracal_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock Threads::Threads)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  # An empty LABELS value would make CTest read TIMEOUT as the label: add it only when given.
  set(_props TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    list(APPEND _props LABELS "${T_LABELS}")
  endif()
  gtest_discover_tests(${T_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES ${_props}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endfunction()
