# The caracalctl executable; all of its logic lives in caracal_ctl (ctl/).
add_executable(caracalctl ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
target_link_libraries(caracalctl PRIVATE caracal_ctl)
