# The caracalctl executable: all logic lives in caracal_ctl (ctl/). It needs the resource model
# library to link.
if(TARGET caracal_ctl AND TARGET caracal_api)
  add_executable(caracalctl ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
  target_link_libraries(caracalctl PRIVATE caracal_ctl)
endif()
