# caracal_labtool: echo servers, probes, the probe matrix and the namespace relay behind
# caracal-labtool (cmd/caracal-labtool) and tools/caracal-lab.
find_package(CLI11 REQUIRED CONFIG)

set(_labtool_dir ${CMAKE_SOURCE_DIR}/tools/labtool)
add_library(caracal_labtool STATIC
  ${_labtool_dir}/parse.cpp
  ${_labtool_dir}/serve.cpp
  ${_labtool_dir}/probe.cpp
  ${_labtool_dir}/matrix.cpp
  ${_labtool_dir}/forward.cpp
  ${_labtool_dir}/cli.cpp)
target_link_libraries(caracal_labtool PUBLIC caracal_common Threads::Threads PRIVATE CLI11::CLI11)

# Pure parsing and rendering.
caracal_add_test(NAME labtool_test
  SOURCES ${_labtool_dir}/labtool_test.cpp
  LIBS caracal_labtool)
# Real sockets in network namespaces made for the test (root).
caracal_add_test(NAME labtool_netns_test
  SOURCES ${_labtool_dir}/labtool_netns_test.cpp
  LIBS caracal_labtool
  LABELS netns)
# Keep test executables out of cmd/, where the shipped binaries are.
set_target_properties(labtool_test labtool_netns_test PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tools/labtool)
