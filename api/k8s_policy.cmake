# Kubernetes NetworkPolicy -> Calico NetworkPolicy conversion (api/k8s_policy.h): pure, on Values.
add_library(caracal_k8s_policy STATIC ${CMAKE_CURRENT_SOURCE_DIR}/k8s_policy.cpp)
target_link_libraries(caracal_k8s_policy PUBLIC caracal_api)

caracal_add_test(NAME k8s_policy_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/k8s_policy_test.cpp
  LIBS caracal_k8s_policy)
target_compile_definitions(k8s_policy_test PRIVATE
  CARACAL_EXAMPLES_DIR="${CMAKE_CURRENT_SOURCE_DIR}/../examples")
