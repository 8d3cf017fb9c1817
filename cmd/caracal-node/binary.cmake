# caracal-node: the per-node agent (felix: routes, tunnels, natOutgoing). Needs caracal_felix,
# which exists once the netlink, IPAM, IPIP and NAT libraries are part of the build.
if(TARGET caracal_felix)
  add_executable(caracal-node ${CMAKE_CURRENT_SOURCE_DIR}/caracal-node/main.cpp)
  target_link_libraries(caracal-node PRIVATE caracal_felix)
endif()
