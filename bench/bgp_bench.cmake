# BGP benchmarks (not tests): confd's renderer and `bird -p` on large clusters (bench_bgp_render),
# and the helper that renders bird.conf from a file of API objects for bench/bgp_frr_routes.sh
# (10,000 FRR routes into a node's kernel through BIRD, in private namespaces; needs root).
#   ninja -C BUILD bench_bgp_render bench_bgp_render_file bench_bgp_route_wait
#   BUILD/bench/bench_bgp_render [--nodes 1000]; sudo BUILD_DIR=BUILD bash bench/bgp_frr_routes.sh
if(TARGET caracal_confd)
  add_executable(bench_bgp_render ${CMAKE_CURRENT_SOURCE_DIR}/bgp_render_bench.cpp)
  target_link_libraries(bench_bgp_render PRIVATE caracal_confd caracal_bench_support caracal_common)
  add_executable(bench_bgp_render_file ${CMAKE_CURRENT_SOURCE_DIR}/bgp_render_file.cpp)
  target_link_libraries(bench_bgp_render_file PRIVATE caracal_confd caracal_common)
endif()
# Polls a namespace's routes over netlink until there are N of a protocol (bgp_frr_routes.sh).
if(TARGET caracal_netlink)
  add_executable(bench_bgp_route_wait ${CMAKE_CURRENT_SOURCE_DIR}/bgp_route_wait.cpp)
  target_link_libraries(bench_bgp_route_wait PRIVATE caracal_netlink)
endif()
