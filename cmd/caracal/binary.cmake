# The `caracal` CNI plugin, exec'd by the container runtime; all logic is in caracal_cni (cni/).
add_executable(caracal ${CMAKE_CURRENT_SOURCE_DIR}/caracal/main.cpp)
target_link_libraries(caracal PRIVATE caracal_cni)
