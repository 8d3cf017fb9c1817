# Integration tests: the real caracal-apiserver on an ephemeral loopback port, driven by real
# kubectl and caracalctl.
foreach(t kubectl_test caracalctl_test)
  add_test(NAME integration.${t}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.sh)
  set_tests_properties(integration.${t} PROPERTIES
    LABELS integration TIMEOUT 300
    ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
endforeach()
