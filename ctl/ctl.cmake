# caracalctl's command logic (library caracal_ctl); cmd/caracalctl/main.cpp only calls into it.
find_package(CLI11 REQUIRED CONFIG)

set(_ctl_git_commit "")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}
    OUTPUT_VARIABLE _ctl_git_commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()

add_library(caracal_ctl STATIC
  ${CMAKE_CURRENT_LIST_DIR}/ctl.cpp
  ${CMAKE_CURRENT_LIST_DIR}/commands.cpp
  ${CMAKE_CURRENT_LIST_DIR}/crud.cpp
  ${CMAKE_CURRENT_LIST_DIR}/get.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ipam.cpp
  ${CMAKE_CURRENT_LIST_DIR}/manifest.cpp
  ${CMAKE_CURRENT_LIST_DIR}/node_status.cpp
  ${CMAKE_CURRENT_LIST_DIR}/output.cpp)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/commands.cpp PROPERTIES
  COMPILE_DEFINITIONS CARACAL_GIT_COMMIT="${_ctl_git_commit}")
target_link_libraries(caracal_ctl
  PUBLIC caracal_client caracal_api caracal_selector caracal_common caracal_ipam
    caracal_bgp
  PRIVATE CLI11::CLI11)

caracal_add_test(NAME ctl_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/testing/fake_api_server.cpp
    ${CMAKE_CURRENT_LIST_DIR}/ctl_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/node_status_test.cpp
  LIBS caracal_ctl)
