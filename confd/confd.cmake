# confd: renders this node's BIRD 2 configuration from the API objects (pure, no I/O).
add_library(caracal_confd STATIC ${CMAKE_CURRENT_SOURCE_DIR}/render.cpp)
target_link_libraries(caracal_confd PUBLIC caracal_api caracal_selector caracal_common)

caracal_add_test(NAME confd_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/render_test.cpp
  LIBS caracal_confd)
target_compile_definitions(confd_test PRIVATE
  CARACAL_CONFD_TESTDATA="${CMAKE_CURRENT_SOURCE_DIR}/testdata")
