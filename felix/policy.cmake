# The policy half of caracal-node: PolicyManager (syncer → PolicyCalc → a PolicyWriter) and the
# nftables / iptables writers behind it.
find_package(spdlog REQUIRED)
add_library(caracal_felix_policy STATIC
  ${CMAKE_CURRENT_LIST_DIR}/policy_manager.cpp
  ${CMAKE_CURRENT_LIST_DIR}/policy_writers.cpp)
target_link_libraries(caracal_felix_policy
  PUBLIC caracal_felix_calc caracal_felix_core caracal_policy_nft caracal_policy_ipt
  PRIVATE spdlog::spdlog)

caracal_add_test(NAME felix_policy_manager_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_manager_test.cpp
  LIBS caracal_felix_policy)
