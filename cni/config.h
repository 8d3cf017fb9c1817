#pragma once
// The network configuration both plugins read on stdin (one entry of a conflist, with `name`,
// `cniVersion` and possibly `prevResult` injected by the runtime):
//
//   {"name":"k8s-pod-network","cniVersion":"1.0.0","type":"caracal","nodename":"node1",
//    "mtu":0,"mtu_file":"/var/lib/caracal/mtu","log_level":"info","log_file_path":"",
//    "ipam":{"type":"caracal-ipam","assign_ipv4":"true","assign_ipv6":"false",
//            "ipv4_pools":["default-ipv4-ippool"]},
//    "kubernetes":{"kubeconfig":"/etc/cni/net.d/caracal-kubeconfig"},"policy":{"type":"k8s"}}
//
// Unknown fields are ignored (runtimes add their own: runtimeConfig, capabilities, args, ...), but
// a known field of the wrong type or with a bad value is an error naming the field and the value.
// Calico's spellings are accepted where they differ only in type: assign_ipv4 may be "true" or
// true, mtu may be 1450 or "1450".

#include "cni/types.h"
#include "common/result.h"
#include "common/value.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::cni {

struct IpamConfig {
  std::string type;                   // the IPAM plugin's binary name in CNI_PATH (required)
  bool assignIpv4 = true;             // assign_ipv4
  bool assignIpv6 = false;            // assign_ipv6
  std::vector<std::string> ipv4Pools; // ipv4_pools: pool names or CIDRs
  std::vector<std::string> ipv6Pools; // ipv6_pools
};

struct NetConf {
  std::string cniVersion;
  std::string name; // the network name, part of the IPAM handle "<name>.<containerID>"
  std::string type;
  std::string nodename; // "" -> nodenameFile -> hostname (see resolveNodename)
  std::string nodenameFile;
  int mtu = 0; // 0 -> mtu_file -> 1500 (see resolveMtu)
  std::string mtuFile;
  bool requireMtuFile = false;
  std::string logLevel = "info"; // debug, info, warning, error
  std::string logFilePath;
  IpamConfig ipam;
  std::string kubeconfig; // kubernetes.kubeconfig; "" -> $KUBECONFIG -> default admin kubeconfig
  std::string policyType; // policy.type (informational: "k8s")
  std::optional<CniResult> prevResult;
  Value raw; // the whole document as given
};

// Parses and validates the configuration. Code::BadRequest when the text is not a JSON object
// (CNI error 6); Code::Invalid naming the field otherwise (CNI error 7). The version itself is not
// judged here (see checkVersion).
Result<NetConf> parseNetConf(std::string_view text);

// CNI error 1 when the configuration's cniVersion is missing or not one we implement.
MaybeError checkVersion(const NetConf& conf);

// The node's name: `nodename`, else the first line of `nodename_file` (when set and readable; a set
// but unreadable file is an error), else /var/lib/caracal/nodename when it exists, else the
// hostname.
Result<std::string> resolveNodename(const NetConf& conf);

// The pod interface MTU: `mtu` when > 0, else the number in `mtu_file` (when readable; an
// unreadable file is an error only with require_mtu_file), else 1500.
Result<int> resolveMtu(const NetConf& conf);

inline constexpr const char* kDefaultNodenameFile = "/var/lib/caracal/nodename";
inline constexpr int kDefaultMtu = 1500;

} // namespace caracal::cni
