#pragma once
// Names the CNI plugin gives to what it creates, compatible with Calico's:
//   WorkloadEndpoint  <node>-k8s-<pod>-<iface>, every '-' inside a part doubled
//                     ("node-1", "web-0", "eth0" -> "node--1-k8s-web--0-eth0")
//   host veth         "cali" + the first 11 hex digits of SHA-1("<namespace>.<pod>")
//   IPAM handle       "<network name>.<containerID>" ("k8s-pod-network.0123abcd")

#include <string>
#include <string_view>

namespace caracal::cni {

// Doubles every '-' (so that the single '-' between parts stays unambiguous).
std::string escapeDashes(std::string_view part);
// The WorkloadEndpoint of a Kubernetes pod's interface.
std::string workloadEndpointName(std::string_view node, std::string_view pod,
                                 std::string_view iface);
// The host side of the pod's veth pair (15 characters, within IFNAMSIZ).
std::string hostVethName(std::string_view podNamespace, std::string_view podName);
// The IPAM handle of a container's addresses.
std::string ipamHandle(std::string_view networkName, std::string_view containerId);
// Lower-case hex SHA-1 of `data`.
std::string sha1Hex(std::string_view data);

inline constexpr const char* kHostVethPrefix = "cali";
inline constexpr size_t kHostVethHashChars = 11;

} // namespace caracal::cni
