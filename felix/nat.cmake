# natOutgoing: the `ip caracal-nat` / `ip6 caracal-nat` nftables tables, written with libnftnl.
find_package(PkgConfig REQUIRED)
pkg_check_modules(NFTNL REQUIRED IMPORTED_TARGET libnftnl)

add_library(caracal_nat STATIC ${CMAKE_CURRENT_SOURCE_DIR}/nat_outgoing.cpp)
target_link_libraries(caracal_nat PUBLIC caracal_api caracal_common
  PRIVATE caracal_nft PkgConfig::NFTNL)

# Interval encoding (pure) and, as root, the tables in fresh namespaces plus a masquerade traffic
# test across three namespaces (skips without root).
caracal_add_test(NAME nat_outgoing_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/nat_outgoing_test.cpp
  LIBS caracal_nat
  LABELS netns
  TIMEOUT 120)
