add_library(caracal_bgp STATIC birdctl.cpp supervisor.cpp)
target_link_libraries(caracal_bgp PUBLIC caracal_common)

caracal_add_test(NAME bgp_test SOURCES birdctl_test.cpp LIBS caracal_bgp)
caracal_add_test(NAME bgp_netns_test SOURCES birdctl_netns_test.cpp LIBS caracal_bgp LABELS netns)
caracal_add_test(NAME bgp_supervisor_netns_test SOURCES supervisor_netns_test.cpp LIBS caracal_bgp
  LABELS netns)
