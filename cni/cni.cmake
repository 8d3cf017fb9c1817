# The CNI plugins' library (caracal_cni): protocol types, configuration, naming, the `caracal`
# plugin (veth + routes + WorkloadEndpoint) and the `caracal-ipam` plugin (block IPAM).
# The binaries are cmd/caracal and cmd/caracal-ipam; the libcni tests are in tests/cni.
add_library(caracal_cni STATIC
  ${CMAKE_CURRENT_LIST_DIR}/types.cpp
  ${CMAKE_CURRENT_LIST_DIR}/config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/naming.cpp
  ${CMAKE_CURRENT_LIST_DIR}/log.cpp
  ${CMAKE_CURRENT_LIST_DIR}/exec.cpp
  ${CMAKE_CURRENT_LIST_DIR}/api.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dataplane.cpp
  ${CMAKE_CURRENT_LIST_DIR}/plugin.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ipam_plugin.cpp
  ${CMAKE_CURRENT_LIST_DIR}/run.cpp)
target_link_libraries(caracal_cni
  PUBLIC caracal_ipam caracal_client caracal_api caracal_common
  PRIVATE caracal_netlink OpenSSL::Crypto)

# Pure parts (configuration, CNI_ARGS, results per version, errors, naming) and the ADD/DEL/CHECK
# logic against fakes of the API, the kernel and the IPAM plugin: no root needed.
caracal_add_test(NAME cni_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/types_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/plugin_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/ipam_plugin_test.cpp
  LIBS caracal_cni)
