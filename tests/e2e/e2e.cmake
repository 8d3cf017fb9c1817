# End-to-end tests: whole clusters on this machine built by tools/caracal-lab in network
# namespaces (root). Each test has its own lab state directory, so labs never collide; the
# RESOURCE_LOCK keeps them from running at the same time on a small machine.
foreach(t vxlan_test ipip_test crosssubnet_test pod_delete_test restart_test route_repair_test
    crash_test bgp_mesh_test bgp_rr_test bgp_frr_test)
  add_test(NAME e2e.${t}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}.sh)
  set_tests_properties(e2e.${t} PROPERTIES
    LABELS netns TIMEOUT 600
    SKIP_RETURN_CODE 77
    RESOURCE_LOCK caracal-lab
    ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
endforeach()

# Policy enforcement (policy_basic) and the NetworkPolicy conformance matrix (namespaces x, y, z
# with pods a, b, c), once per dataplane.
foreach(t policy_basic policy_matrix policy_bad_input policy_calico policy_hep)
  foreach(dp nftables iptables)
    add_test(NAME e2e.${t}_${dp}
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}_test.sh ${dp})
    set_tests_properties(e2e.${t}_${dp} PROPERTIES
      LABELS netns TIMEOUT 600
      SKIP_RETURN_CODE 77
      RESOURCE_LOCK caracal-lab
      ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
  endforeach()
endforeach()
