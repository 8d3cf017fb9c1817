# The policy calculation graph: pure C++ (no syscalls, clock or threads), see docs/design/calc.md:
# the label index (which items each selector matches), the policy resolver (which policies apply
# to each endpoint, in order), the IP-set calculator (set members from matches) and the API
# object → item/profile mapping. Selector composition is policy/rules.h's.
add_library(caracal_felix_calc STATIC
  ${CMAKE_CURRENT_LIST_DIR}/calc/label_index.cpp
  ${CMAKE_CURRENT_LIST_DIR}/calc/selector_keys.cpp
  ${CMAKE_CURRENT_LIST_DIR}/calc/policy_resolver.cpp
  ${CMAKE_CURRENT_LIST_DIR}/calc/ipset_calc.cpp
  ${CMAKE_CURRENT_LIST_DIR}/calc/items.cpp
  ${CMAKE_CURRENT_LIST_DIR}/calc/policy_calc.cpp)
target_link_libraries(caracal_felix_calc PUBLIC caracal_policy caracal_api caracal_selector caracal_common)

caracal_add_test(NAME felix_calc_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/calc/label_index_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/calc/selector_keys_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/calc/policy_resolver_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/calc/ipset_calc_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/calc/items_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/calc/policy_calc_test.cpp
  LIBS caracal_felix_calc)
