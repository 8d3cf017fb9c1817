add_executable(caracal-apiserver ${CMAKE_CURRENT_SOURCE_DIR}/caracal-apiserver/main.cpp)
target_link_libraries(caracal-apiserver PRIVATE caracal_apiserver)
