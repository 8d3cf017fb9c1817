# The CNI plugins against the reference runtime library (libcni): cnidriver.go is built offline
# from the Debian golang-github-appc-cni-dev sources, and libcni_test.sh runs it in network
# namespaces against a real caracal-apiserver (needs root: label netns).
set(CARACAL_LIBCNI_SRC /usr/share/gocode/src/github.com/containernetworking/cni/libcni)
find_program(CARACAL_GO_BIN go)
set(CARACAL_CNIDRIVER "")
if(CARACAL_GO_BIN AND EXISTS ${CARACAL_LIBCNI_SRC})
  set(CARACAL_CNIDRIVER ${CMAKE_CURRENT_BINARY_DIR}/cni/cnidriver)
  add_custom_command(OUTPUT ${CARACAL_CNIDRIVER}
    COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=/usr/share/gocode
            GOCACHE=${CMAKE_CURRENT_BINARY_DIR}/cni/gocache
            ${CARACAL_GO_BIN} build -o ${CARACAL_CNIDRIVER} cnidriver.go
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/cni
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cni/cnidriver.go
    COMMENT "Building the libcni test driver (Go, offline)")
  add_custom_target(cnidriver ALL DEPENDS ${CARACAL_CNIDRIVER})
endif()

add_test(NAME cni.libcni COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cni/libcni_test.sh)
set_tests_properties(cni.libcni PROPERTIES
  LABELS "netns;cni" TIMEOUT 600 SKIP_RETURN_CODE 77
  ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR};CNIDRIVER=${CARACAL_CNIDRIVER}")
