# The iptables writer (iptables-restore + ipset), for hosts without nftables.
add_library(caracal_policy_ipt STATIC ${CMAKE_CURRENT_SOURCE_DIR}/ipt_table.cpp)
target_link_libraries(caracal_policy_ipt PUBLIC caracal_policy caracal_common)

caracal_add_test(NAME policy_ipt_netns_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/ipt_table_netns_test.cpp
  LIBS caracal_policy_ipt
  LABELS netns)
