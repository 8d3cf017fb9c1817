# The caracal-labtool executable (helper of tools/caracal-lab); its logic lives in caracal_labtool.
include(${CMAKE_SOURCE_DIR}/tools/labtool/labtool.cmake)
add_executable(caracal-labtool ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
target_link_libraries(caracal-labtool PRIVATE caracal_labtool)
