# Pure helpers of the apiserver: patch formats, field ownership (server-side apply), Kubernetes
# label/field selectors and the Kubernetes protobuf body decoder. No I/O; included by
# apiserver.cmake.
add_library(caracal_apiserver_pure STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/patch.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/k8s_selector.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/protobuf.cpp)
target_link_libraries(caracal_apiserver_pure PUBLIC caracal_common)

caracal_add_test(NAME apiserver_pure_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/patch_test.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/k8s_selector_test.cpp
  LIBS caracal_apiserver_pure)
