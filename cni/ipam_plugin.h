#pragma once
// The `caracal-ipam` CNI IPAM plugin: block IPAM (ipam/ipam.h) for one container.
//
// The handle is "<network name>.<containerID>" ("k8s-pod-network.<id>"); allocations carry the
// attributes namespace, pod, node and timestamp.
// ADD: when the handle already holds addresses (a retried ADD) they are returned unchanged.
//   Otherwise, for a Kubernetes pod (CNI_ARGS K8S_POD_NAMESPACE/K8S_POD_NAME):
//     - cni.projectcalico.org/ipAddrs on the Pod (a JSON list of addresses) assigns exactly those;
//     - else pools come from cni.projectcalico.org/ipv4pools (ipv6pools) on the Pod, else on its
//       Namespace, else from the configuration's ipam.ipv4_pools (ipv6_pools), else every enabled
//       pool whose nodeSelector matches the node and namespaceSelector matches the namespace.
//   One IPv4 address when ipam.assign_ipv4 (default), one IPv6 when ipam.assign_ipv6.
//   The result lists the addresses as /32 (/128), without routes or interfaces.
// DEL: releases everything the handle holds; nothing held is success.
// CHECK: the handle must hold the addresses of prevResult (or at least one when there is none).

#include "cni/log.h"
#include "cni/plugin.h"
#include "cni/types.h"
#include "ipam/ipam.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::cni {

// A JSON list of strings from an annotation; errors name the annotation.
Result<std::vector<std::string>> parseAnnotationList(std::string_view annotation,
                                                     std::string_view value);

class IpamPlugin {
public:
  // `now` gives the timestamp attribute (RFC 3339, UTC).
  IpamPlugin(ipam::Store& store, Logger& log, std::function<std::string()> now = {});

  Outcome<CniResult> add(const Invocation& inv);
  MaybeError del(const Invocation& inv);
  MaybeError check(const Invocation& inv);

private:
  ipam::Store& store_;
  ipam::Ipam ipam_;
  Logger& log_;
  std::function<std::string()> now_;
};

// The whole `caracal-ipam` process (see runCaracal).
int runCaracalIpam(const EnvLookup& env, std::string_view input, std::string& output);
int caracalIpamMain();

} // namespace caracal::cni
