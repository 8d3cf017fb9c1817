# felix: the dataplane half of caracal-node.
#
# caracal_felix_core: the pure parts (watch cache/syncer, route calculation, the RouteTable delta
#   logic, fakes); no kernel access, so it builds and tests without the netlink library.
# caracal_felix: the kernel writers (netlink routes, VXLAN/IPIP managers) and the agent; needs
#   caracal_netlink, caracal_ipam, caracal_ipip and caracal_nat.
find_package(OpenSSL REQUIRED)

add_library(caracal_felix_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/syncer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/synced_worker.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fake_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/route_calc.cpp
  ${CMAKE_CURRENT_LIST_DIR}/route_table.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vxlan_plan.cpp)
target_link_libraries(caracal_felix_core
  PUBLIC caracal_api caracal_client caracal_common Threads::Threads
  PRIVATE OpenSSL::Crypto)

caracal_add_test(NAME felix_core_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/syncer_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/route_calc_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/route_table_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vxlan_plan_test.cpp
  LIBS caracal_felix_core)

if(TARGET caracal_netlink AND TARGET caracal_ipam AND TARGET caracal_ipip AND TARGET caracal_nat)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(FELIX_MNL REQUIRED IMPORTED_TARGET libmnl)
  find_package(spdlog REQUIRED)
  find_package(CLI11 QUIET)

  add_library(caracal_felix STATIC
    ${CMAKE_CURRENT_LIST_DIR}/netlink_route_dataplane.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vxlan_manager.cpp
    ${CMAKE_CURRENT_LIST_DIR}/ipip_manager.cpp
    ${CMAKE_CURRENT_LIST_DIR}/node_setup.cpp
    ${CMAKE_CURRENT_LIST_DIR}/agent.cpp
    ${CMAKE_CURRENT_LIST_DIR}/node_main.cpp)
  target_link_libraries(caracal_felix
    PUBLIC caracal_felix_core caracal_netlink caracal_ipam caracal_ipip caracal_nat
    PRIVATE PkgConfig::FELIX_MNL spdlog::spdlog caracal_confd_watch caracal_bgp caracal_felix_policy)

  caracal_add_test(NAME felix_test
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/node_setup_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/ipip_manager_test.cpp
    LIBS caracal_felix)

  caracal_add_test(NAME felix_netns_test
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/route_table_netns_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/ipip_netns_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/vxlan_netns_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/agent_netns_test.cpp
    LIBS caracal_felix
    LABELS netns)

  # The binary against a real API server (both in a private namespace).
  if(TARGET caracal_apiserver AND EXISTS ${CMAKE_SOURCE_DIR}/cmd/caracal-apiserver/binary.cmake)
    caracal_add_test(NAME felix_node_e2e_test
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/node_e2e_test.cpp
      LIBS caracal_felix
      LABELS netns)
    target_compile_definitions(felix_node_e2e_test PRIVATE
      CARACAL_NODE_BIN="$<TARGET_FILE:caracal-node>"
      CARACAL_APISERVER_BIN="$<TARGET_FILE:caracal-apiserver>")
    add_dependencies(felix_node_e2e_test caracal-node caracal-apiserver)
  endif()
endif()
