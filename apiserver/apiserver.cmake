# caracal-apiserver: pure helpers (patch formats, k8s selectors), credentials, the REST handler and
# the Beast transport (the only TU with Beast in it).
include(${CMAKE_CURRENT_SOURCE_DIR}/pure.cmake OPTIONAL)
include(${CMAKE_CURRENT_SOURCE_DIR}/credentials.cmake OPTIONAL)

add_library(caracal_apiserver STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/handler.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/table.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/http_server.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/apiserver_main.cpp)
target_link_libraries(caracal_apiserver
  PUBLIC caracal_api caracal_datastore caracal_apiserver_pure caracal_credentials caracal_common
         OpenSSL::SSL OpenSSL::Crypto Threads::Threads)

caracal_add_test(NAME apiserver_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/handler_test.cpp ${CMAKE_CURRENT_SOURCE_DIR}/http_server_test.cpp
  LIBS caracal_apiserver)

# Kubernetes protobuf bodies: the decoder, and the handler answering kubectl's protobuf requests.
caracal_add_test(NAME apiserver_protobuf_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/protobuf_test.cpp
  LIBS caracal_apiserver)
