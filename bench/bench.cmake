# Benchmarks of caracal-apiserver (not tests; run them with `make bench` or bench/run.sh BUILD_DIR).
# Each program starts its own caracal-apiserver from this build, so they depend on it.
find_package(Boost REQUIRED)

# Shared support (process control, temp dirs, statistics) and the HTTPS clients; bench_http.cpp is
# the only benchmark TU with Boost.Beast/Asio in it.
add_library(caracal_bench_support STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/bench_support.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/bench_http.cpp)
target_link_libraries(caracal_bench_support
  PUBLIC caracal_common Threads::Threads
  PRIVATE Boost::boost OpenSSL::SSL OpenSSL::Crypto)
target_compile_definitions(caracal_bench_support
  PRIVATE CARACAL_BENCH_APISERVER="$<TARGET_FILE:caracal-apiserver>")

foreach(name bench_creates bench_list bench_watch)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.cpp)
  target_link_libraries(${name} PRIVATE caracal_bench_support caracal_datastore caracal_common)
  add_dependencies(${name} caracal-apiserver)
endforeach()
target_link_libraries(bench_creates PRIVATE caracal_apiserver)
target_link_libraries(bench_list PRIVATE caracal_apiserver)

# In-process timing profile of the watch fan-out (Handler + engine, no transport).
add_executable(bench_fanout ${CMAKE_CURRENT_SOURCE_DIR}/bench_fanout.cpp)
target_link_libraries(bench_fanout PRIVATE caracal_bench_support caracal_apiserver)
