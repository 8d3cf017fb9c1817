# caracal-controller's reconcilers (controller/policy_controller.h): the NetworkPolicy controller
# keeps a Calico NetworkPolicy knp.default.<name> per Kubernetes NetworkPolicy.
find_package(spdlog REQUIRED)

add_library(caracal_controller STATIC ${CMAKE_CURRENT_LIST_DIR}/policy_controller.cpp)
target_link_libraries(caracal_controller
  PUBLIC caracal_felix_core caracal_k8s_policy caracal_client caracal_api caracal_common
  PRIVATE spdlog::spdlog)

caracal_add_test(NAME controller_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_controller_test.cpp
  LIBS caracal_controller)

# The real caracal-apiserver and caracal-controller binaries driven by real kubectl.
add_test(NAME integration.controller_test
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/controller_test.sh)
set_tests_properties(integration.controller_test PROPERTIES
  LABELS integration TIMEOUT 300
  ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
