# bench_cni: CNI ADD and DEL latency (p50/p99) of caracal + caracal-ipam against a real
# caracal-apiserver, inside a private network namespace (needs root). A benchmark, not a test:
#   ninja -C BUILD bench_cni && sudo BUILD/bench/bench_cni [--pods 200]
if(TARGET caracal_bench_support AND TARGET caracal_cni)
  add_executable(bench_cni ${CMAKE_CURRENT_SOURCE_DIR}/bench_cni.cpp)
  target_link_libraries(bench_cni PRIVATE caracal_bench_support caracal_cni caracal_client
                                          caracal_api)
  target_compile_definitions(bench_cni PRIVATE
    CARACAL_BENCH_PLUGIN_DIR="$<TARGET_FILE_DIR:caracal>")
  add_dependencies(bench_cni caracal caracal-ipam caracal-apiserver)
endif()
