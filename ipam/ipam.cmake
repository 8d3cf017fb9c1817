# Block IPAM (ipam/ipam.h): the library, its unit tests, the stress driver and the multi-process
# integration test against a real caracal-apiserver; also caracalctl's ipam tests.
add_library(caracal_ipam STATIC
  ${CMAKE_CURRENT_LIST_DIR}/block.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ipam.cpp
  ${CMAKE_CURRENT_LIST_DIR}/memory_store.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rest_store.cpp)
target_link_libraries(caracal_ipam
  PUBLIC caracal_api caracal_client caracal_selector caracal_common Threads::Threads)

# A real apiserver handler behind the client's transport seam, for tests (no socket, no process).
add_library(caracal_ipam_testing STATIC ${CMAKE_CURRENT_LIST_DIR}/testing/in_process_api.cpp)
target_link_libraries(caracal_ipam_testing PUBLIC caracal_apiserver caracal_client)

caracal_add_test(NAME ipam_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/block_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/ipam_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/rest_store_test.cpp
  LIBS caracal_ipam caracal_ipam_testing)

# The load driver of the multi-process test.
add_executable(ipam_stress ${CMAKE_CURRENT_LIST_DIR}/stress_main.cpp)
target_link_libraries(ipam_stress PRIVATE caracal_ipam)

# The required proof: concurrent processes against a real caracal-apiserver.
add_test(NAME ipam.concurrent_processes
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/stress_test.sh)
set_tests_properties(ipam.concurrent_processes PROPERTIES
  LABELS integration TIMEOUT 600
  ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")

# caracalctl ipam show/check/release/configure (ctl/ipam.cpp is part of caracal_ctl).
if(TARGET caracal_ctl AND EXISTS ${CMAKE_SOURCE_DIR}/ctl/ipam_test.cpp)
  caracal_add_test(NAME ctl_ipam_test
    SOURCES ${CMAKE_SOURCE_DIR}/ctl/ipam_test.cpp
    LIBS caracal_ctl caracal_ipam caracal_ipam_testing)
endif()
