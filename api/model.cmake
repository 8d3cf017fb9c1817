# The resource model: the schema language, every kind, and the registry (api/registry.h).
add_library(caracal_api STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/netaddr.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/formats.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/schema.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kinds_common.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kinds_calico.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/kinds_core.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/registry.cpp)
target_link_libraries(caracal_api PUBLIC caracal_common caracal_selector)

caracal_add_test(NAME api_test
  SOURCES
    ${CMAKE_CURRENT_SOURCE_DIR}/formats_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/schema_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/calico_kinds_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/core_kinds_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/registry_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/examples_test.cpp
  LIBS caracal_api)
target_compile_definitions(api_test PRIVATE
  CARACAL_EXAMPLES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/../examples")
