# The `caracal-ipam` CNI IPAM plugin, exec'd by `caracal`; all logic is in caracal_cni (cni/).
add_executable(caracal-ipam ${CMAKE_CURRENT_SOURCE_DIR}/caracal-ipam/main.cpp)
target_link_libraries(caracal-ipam PRIVATE caracal_cni)
