# caracal-controller: the cluster-wide reconcilers (controller/); all logic is in caracal_controller.
if(TARGET caracal_controller)
  find_package(CLI11 REQUIRED CONFIG)
  find_package(spdlog REQUIRED)
  add_executable(caracal-controller ${CMAKE_CURRENT_SOURCE_DIR}/caracal-controller/main.cpp)
  target_link_libraries(caracal-controller PRIVATE caracal_controller CLI11::CLI11 spdlog::spdlog)
endif()
