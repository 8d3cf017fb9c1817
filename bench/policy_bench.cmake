# Policy dataplane benchmark (not a test; needs root): one policy change with 1k-100k rules
# installed, NftPolicyTable's incremental batch vs iptables-restore, in private namespaces.
#   ninja -C BUILD bench_policy_update
#   sudo BUILD/bench/bench_policy_update --sizes 1000,10000,100000 --repeats 200,200,50
if(TARGET caracal_policy_nft AND TARGET caracal_policy_ipt)
  add_executable(bench_policy_update ${CMAKE_CURRENT_SOURCE_DIR}/policy_update_bench.cpp)
  target_link_libraries(bench_policy_update PRIVATE caracal_policy_nft caracal_policy_ipt
    caracal_policy caracal_bench_support caracal_common)
endif()

# Control plane: the controller's conversion of 10k NetworkPolicies and felix's calculation delta
# after one pod label change (pure CPU, no root).
#   BUILD/bench/bench_policy_calc --policies 10000 --endpoints 1000 --local 100
if(TARGET caracal_felix_calc AND TARGET caracal_k8s_policy)
  add_executable(bench_policy_calc ${CMAKE_CURRENT_SOURCE_DIR}/policy_calc_bench.cpp)
  target_link_libraries(bench_policy_calc PRIVATE caracal_felix_calc caracal_k8s_policy
    caracal_bench_support caracal_common)
endif()
