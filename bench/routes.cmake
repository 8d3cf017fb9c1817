# Route programming benchmark (not a test): felix's RouteTable vs `ip -batch` in a private netns.
# Run as root: build-dir/bench/bench_routes [--sizes 10000,100000] [--repeats 5]
if(TARGET caracal_felix)
  add_executable(bench_routes ${CMAKE_CURRENT_SOURCE_DIR}/bench_routes.cpp)
  target_link_libraries(bench_routes PRIVATE caracal_felix caracal_netlink)
endif()
