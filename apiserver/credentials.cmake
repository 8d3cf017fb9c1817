# Security material of caracal-apiserver: CA, serving certificate, admin token, admin kubeconfig.
add_library(caracal_credentials STATIC ${CMAKE_CURRENT_SOURCE_DIR}/credentials.cpp)
target_link_libraries(caracal_credentials PUBLIC caracal_common OpenSSL::SSL OpenSSL::Crypto)

caracal_add_test(NAME credentials_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/credentials_test.cpp
  LIBS caracal_credentials)
