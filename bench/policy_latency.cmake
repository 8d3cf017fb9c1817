# policy_latency_probe: one policy write (HTTPS to the API server, or kubectl/caracalctl), timed
# until its rule shows in a node's nftables/iptables; bench/policy_latency.sh runs it against a
# caracal-lab. Not a test (needs root and a lab).
#   ninja -C BUILD policy_latency_probe
#   sudo BUILD_DIR=BUILD bench/policy_latency.sh
if(TARGET caracal_client AND TARGET caracal_api)
  add_executable(policy_latency_probe ${CMAKE_CURRENT_SOURCE_DIR}/policy_latency_probe.cpp)
  target_link_libraries(policy_latency_probe PRIVATE caracal_client caracal_api caracal_common
    Threads::Threads)
endif()
