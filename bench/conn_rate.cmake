# conn_rate: TCP connection rate (connect, 1 byte each way, close) between two network
# namespaces, client and server in one program; bench/policy_packet.sh runs it inside
# caracal-lab pods. Not a test.
#   ninja -C BUILD conn_rate
#   BUILD/bench/conn_rate server --port 7000 --threads 4 &
#   BUILD/bench/conn_rate client --to 127.0.0.1:7000 --parallel 4 --seconds 5
add_executable(conn_rate ${CMAKE_CURRENT_SOURCE_DIR}/conn_rate.cpp)
target_link_libraries(conn_rate PRIVATE Threads::Threads)
