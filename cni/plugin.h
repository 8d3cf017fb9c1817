#pragma once
// The `caracal` CNI plugin: ADD, DEL and CHECK for one container of a Kubernetes pod.
//
// ADD, in order (each step undone, last first, when a later one fails):
//   1. read the Pod (labels, annotations, serviceAccountName, named container ports) and any
//      WorkloadEndpoint already written for this pod's interface;
//   2. run the IPAM plugin (ADD; undone by IPAM DEL, which releases by handle);
//   3. create the veth pair, program both sides (see dataplane.h; undone by deleting the pair);
//   4. create the WorkloadEndpoint, or update it when one exists for this pod (a retried ADD or a
//      new sandbox); undone by deleting what was created or restoring what was replaced;
//   5. merge-patch the Pod's annotations cni.projectcalico.org/{podIP,podIPs,containerID};
//   6. return the result: interfaces [host cali..., pod eth0 with mac and sandbox],
//      ips [{address, interface: 1}], routes [{dst: 0.0.0.0/0, gw: 169.254.1.1}].
// DEL deletes the pod's interface (when the namespace still exists), releases the IPAM handle, and
// deletes the WorkloadEndpoint and clears the Pod's annotations only when they name this container;
// everything already gone counts as done, so DEL may be repeated.
// CHECK verifies the veth pair, the pod's address and routes, the node route, the IPAM handle and
// the WorkloadEndpoint.
//
// The collaborators (API, kernel, IPAM plugin) are interfaces so that this logic is tested with
// fakes; caracalMain() wires the real ones.

#include "cni/api.h"
#include "cni/config.h"
#include "cni/dataplane.h"
#include "cni/exec.h"
#include "cni/log.h"
#include "cni/types.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::cni {

// Annotations read and written (Calico's names).
inline constexpr const char* kAnnotationIpv4Pools = "cni.projectcalico.org/ipv4pools";
inline constexpr const char* kAnnotationIpv6Pools = "cni.projectcalico.org/ipv6pools";
inline constexpr const char* kAnnotationIpAddrs = "cni.projectcalico.org/ipAddrs";
inline constexpr const char* kAnnotationPodIp = "cni.projectcalico.org/podIP";
inline constexpr const char* kAnnotationPodIps = "cni.projectcalico.org/podIPs";
inline constexpr const char* kAnnotationContainerId = "cni.projectcalico.org/containerID";

// Everything one invocation knows before it starts working.
struct Invocation {
  Environment env;
  NetConf conf;
  CniArgs args;
  std::string node;
  int mtu = kDefaultMtu;
};

struct PodPort {
  std::string name;
  std::string protocol = "TCP";
  int port = 0;
  int hostPort = 0;
  std::string hostIp;
  bool operator==(const PodPort&) const = default;
};

// What the plugins need from a Pod object.
struct PodInfo {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string serviceAccount = "default";
  std::vector<PodPort> ports; // named container ports (and ports with a hostPort)
  bool hostNetwork = false;
};
PodInfo podInfoFromObject(const Value& pod);

struct WorkloadEndpointParams {
  std::string node;
  std::string podNamespace;
  std::string podName;
  std::string ifname; // CNI_IFNAME
  std::string containerId;
  std::string hostIfname; // cali...
  std::string mac;        // the pod interface's MAC
  std::vector<IpNet> ips; // /32 and /128
  PodInfo pod;
};
// The projectcalico.org/v3 WorkloadEndpoint for the pod's interface (see contracts: name, labels,
// profiles kns.<ns> and ksa.<ns>.<serviceaccount>, ports).
Value buildWorkloadEndpoint(const WorkloadEndpointParams& p);

// The ADD result for the pod (interface 0 = host side, 1 = pod side).
CniResult buildAddResult(const std::string& hostIfname, const std::string& hostMac,
                         const std::string& ifname, const std::string& podMac,
                         const std::string& sandbox, const std::vector<IpNet>& ips);

class Plugin {
public:
  Plugin(Api& api, Dataplane& dataplane, IpamInvoker& ipam, Logger& log)
      : api_(api), dataplane_(dataplane), ipam_(ipam), log_(log) {}

  Outcome<CniResult> add(const Invocation& inv);
  MaybeError del(const Invocation& inv);
  MaybeError check(const Invocation& inv);

private:
  Api& api_;
  Dataplane& dataplane_;
  IpamInvoker& ipam_;
  Logger& log_;
};

// The whole `caracal` process: reads the environment (`env`) and the configuration (`input`),
// writes the result, version info or error object to `output`, returns the exit code.
int runCaracal(const EnvLookup& env, std::string_view input, std::string& output);
// runCaracal() on the process's environment, stdin and stdout.
int caracalMain();

} // namespace caracal::cni
