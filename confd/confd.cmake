# confd: renders this node's BIRD 2 configuration from the API objects (render: pure, no I/O) and
# puts it in place, validated, with a reload of the running BIRD (writer).
add_library(caracal_confd STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/render.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/writer.cpp)
target_link_libraries(caracal_confd PUBLIC caracal_api caracal_selector caracal_common caracal_bgp)

caracal_add_test(NAME confd_test
  SOURCES
    ${CMAKE_CURRENT_SOURCE_DIR}/render_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/writer_test.cpp
  LIBS caracal_confd)
target_compile_definitions(confd_test PRIVATE
  CARACAL_CONFD_TESTDATA="${CMAKE_CURRENT_SOURCE_DIR}/testdata")

caracal_add_test(NAME confd_netns_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/writer_netns_test.cpp
  LIBS caracal_confd
  LABELS netns)

# The watcher: confd fed by caracal-node's shared watch cache (felix's Syncer).
find_package(spdlog REQUIRED)
add_library(caracal_confd_watch STATIC ${CMAKE_CURRENT_SOURCE_DIR}/watcher.cpp)
target_link_libraries(caracal_confd_watch
  PUBLIC caracal_confd caracal_felix_core
  PRIVATE spdlog::spdlog)

caracal_add_test(NAME confd_watcher_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/watcher_test.cpp
  LIBS caracal_confd_watch)
