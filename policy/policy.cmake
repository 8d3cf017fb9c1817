# Policy compilation: Calico rules -> compiled rules -> nftables / iptables-restore text.
find_package(OpenSSL REQUIRED)

add_library(caracal_policy STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/rules.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/chains.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/dataplane.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/nft_render.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/ipt_render.cpp)
target_link_libraries(caracal_policy PUBLIC caracal_api caracal_selector caracal_common
  PRIVATE OpenSSL::Crypto)

# Golden scenarios shared by the unit and the netns tests.
add_library(caracal_policy_scenarios STATIC ${CMAKE_CURRENT_SOURCE_DIR}/scenarios_test_util.cpp)
target_link_libraries(caracal_policy_scenarios PUBLIC caracal_policy)

# Compiler semantics and golden files (CARACAL_UPDATE_GOLDEN=1 rewrites policy/testdata).
caracal_add_test(NAME policy_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/policy_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/selector_rewrite_test.cpp
  LIBS caracal_policy_scenarios)
target_compile_definitions(policy_test PRIVATE
  CARACAL_POLICY_TESTDATA="${CMAKE_CURRENT_SOURCE_DIR}/testdata")

# The rendered text checked by the real tools (nft -c, iptables-restore --test) inside fresh
# network namespaces (unshare -n); skips without root.
caracal_add_test(NAME policy_netns_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/policy_netns_test.cpp
  LIBS caracal_policy_scenarios
  LABELS netns
  TIMEOUT 120)

# The kernel writer of the nftables policy dataplane (libnftnl + libmnl batches), and its tests
# against the real kernel and nft inside network namespaces (root; skip otherwise).
find_package(PkgConfig REQUIRED)
pkg_check_modules(POLICY_NFTNL REQUIRED IMPORTED_TARGET libnftnl)
add_library(caracal_policy_nft STATIC ${CMAKE_CURRENT_SOURCE_DIR}/nft_table.cpp)
target_link_libraries(caracal_policy_nft PUBLIC caracal_policy
  PRIVATE caracal_nft PkgConfig::POLICY_NFTNL)

caracal_add_test(NAME policy_nft_netns_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/nft_table_netns_test.cpp
  LIBS caracal_policy_nft caracal_policy_scenarios
  LABELS netns
  TIMEOUT 300)
