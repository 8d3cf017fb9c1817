# The REST client every component uses: HTTP/1.1 transport (Boost.Beast, TLS via OpenSSL),
# kubeconfig loading and the Kubernetes-style resource client.
find_package(Boost REQUIRED)

add_library(caracal_client STATIC
  ${CMAKE_CURRENT_LIST_DIR}/connect.cpp
  ${CMAKE_CURRENT_LIST_DIR}/http_transport.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kubeconfig.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rest_client.cpp)
target_link_libraries(caracal_client
  PUBLIC caracal_common Threads::Threads
  PRIVATE Boost::boost OpenSSL::SSL OpenSSL::Crypto)

caracal_add_test(NAME client_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/http_transport_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/kubeconfig_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/rest_client_test.cpp
  LIBS caracal_client Boost::boost OpenSSL::SSL OpenSSL::Crypto)
