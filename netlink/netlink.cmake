# rtnetlink over libmnl (netlink.h): links, addresses, routes, neighbours, FDB, batched writes.
find_package(PkgConfig REQUIRED)
if(NOT TARGET PkgConfig::MNL)
  pkg_check_modules(MNL REQUIRED IMPORTED_TARGET libmnl)
endif()

add_library(caracal_netlink STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/netlink.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/codec.cpp)
target_link_libraries(caracal_netlink PUBLIC caracal_common caracal_api PRIVATE PkgConfig::MNL)

# nftables over nfnetlink (nft_batch.h): socket, batches with named requests, libnftnl helpers;
# shared by felix's natOutgoing and policy's nftables writer.
pkg_check_modules(NETLINK_NFTNL REQUIRED IMPORTED_TARGET libnftnl)
add_library(caracal_nft STATIC ${CMAKE_CURRENT_SOURCE_DIR}/nft_batch.cpp)
target_link_libraries(caracal_nft PUBLIC caracal_common PkgConfig::NETLINK_NFTNL
  PRIVATE caracal_netlink PkgConfig::MNL)

# Needs root: every case works in network namespaces of its own.
caracal_add_test(NAME netlink_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/netlink_test.cpp
  LIBS caracal_netlink
  LABELS netns)

# Measures batch install and dump of many routes in a scratch namespace (not a test).
add_executable(netlink_bench ${CMAKE_CURRENT_SOURCE_DIR}/netlink_bench_main.cpp)
target_link_libraries(netlink_bench PRIVATE caracal_netlink)
