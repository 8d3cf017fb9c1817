# Userspace IP-in-IP (TUN + raw IPPROTO_IPIP socket) for kernels without the ipip module.
add_library(caracal_ipip STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/tunnel_packet.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/userspace_tunnel.cpp)
target_link_libraries(caracal_ipip PUBLIC caracal_api caracal_common Threads::Threads
  PRIVATE caracal_netlink)

# Pure: peer table and packet checks.
caracal_add_test(NAME ipip_packet_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tunnel_packet_test.cpp
  LIBS caracal_ipip)

# Two namespaces joined by a veth underlay, a tunnel in each (root; skips otherwise).
caracal_add_test(NAME ipip_tunnel_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/userspace_tunnel_test.cpp
  LIBS caracal_ipip
  LABELS netns
  TIMEOUT 120)

# Throughput driver (not a test): iperf3 over the userspace tunnel vs over the plain veth.
add_executable(ipip_bench ${CMAKE_CURRENT_SOURCE_DIR}/ipip_bench.cpp)
target_link_libraries(ipip_bench PRIVATE caracal_ipip)
