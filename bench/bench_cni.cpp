// bench_cni: latency of CNI ADD and DEL as a container runtime sees it: fork+exec of `caracal`
// (which execs `caracal-ipam`) with the network configuration on stdin, against a real
// caracal-apiserver (HTTPS, SQLite), one pod at a time, for N pods (default 200).
//
// Isolation: the benchmark first moves itself into a network namespace of its own (unshare), which
// plays the node: the apiserver listens on its loopback, the host veths and node routes land in
// it, and it has an uplink with a default route (as a node has, for proxy ARP). Each pod namespace
// is held by a child process (CNI_NETNS=/proc/<pid>/ns/net). Every namespace disappears with its
// process, so nothing can leak into the machine, even when the benchmark is killed. Needs root.
//
//   bench_cni [--pods 200] [--plugin-dir DIR] [--apiserver BIN]

#include "bench/bench_support.h"
#include "cni/exec.h"
#include "cni/types.h"
#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace caracal::bench {
namespace {

constexpr const char* kNamespace = "bench-cni";

// Runs a command, waits, returns its exit status (-1 when it could not run).
int runCommand(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      dup2(devnull, 1);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A process that only holds a fresh network namespace: /proc/<pid>/ns/net.
class NetnsHolder {
public:
  static Result<std::unique_ptr<NetnsHolder>> start() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      return Status(Code::Internal, std::string("pipe: ") + std::strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
      return Status(Code::Internal, std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) {
        _exit(1);
      }
      char ok = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
      (void)!write(fds[1], &ok, 1);
      while (true) {
        pause();
      }
    }
    close(fds[1]);
    char ok = 0;
    ssize_t n = read(fds[0], &ok, 1);
    close(fds[0]);
    auto holder = std::unique_ptr<NetnsHolder>(new NetnsHolder(pid));
    if (n != 1 || ok != 'y') {
      return Status(Code::Internal, "could not create a network namespace");
    }
    return holder;
  }
  ~NetnsHolder() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::string path() const { return "/proc/" + std::to_string(pid_) + "/ns/net"; }

private:
  explicit NetnsHolder(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

Status setUpNodeNamespace() {
  if (unshare(CLONE_NEWNET) != 0) {
    return Status(Code::Internal, std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) +
                                      " (bench_cni needs root)");
  }
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "link", "set", "lo", "up"},
      {"ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"},
      {"ip", "addr", "add", "192.0.2.1/24", "dev", "uplink0"},
      {"ip", "link", "set", "uplink0", "up"},
      {"ip", "link", "set", "uplink1", "up"},
      {"ip", "route", "add", "default", "via", "192.0.2.254", "dev", "uplink0"},
  };
  for (const auto& s : steps) {
    if (runCommand(s) != 0) {
      std::string cmd;
      for (const auto& a : s) {
        cmd += a + " ";
      }
      return Status(Code::Internal, "node namespace setup failed: " + cmd);
    }
  }
  return Status::ok();
}

Status createObjects(datastore::RestClient& client, int pods) {
  auto create = [&](std::string_view json) -> Status {
    ASSIGN_OR_RETURN(Value obj, parseJson(json));
    const api::KindInfo* kind = api::findByKind(obj.getString("apiVersion"), obj.getString("kind"));
    if (!kind) {
      return Status(Code::Internal, "unknown kind in " + std::string(json));
    }
    return client.create(*kind, obj).status();
  };
  const std::string pool = R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool",)"
                           R"("metadata":{"name":"bench-pool"},"spec":{"cidr":"10.96.0.0/16",)"
                           R"("blockSize":26,"ipipMode":"Never","vxlanMode":"Never",)"
                           R"j("nodeSelector":"all()"}})j";
  RETURN_IF_ERROR(create(pool));
  const std::string ns =
      std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") + kNamespace +
      R"("}})";
  RETURN_IF_ERROR(create(ns));
  for (int i = 0; i < pods; ++i) {
    std::string name = "pod-" + std::to_string(i);
    const std::string pod =
        std::string(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")") + name +
        R"(","namespace":")" + kNamespace +
        R"(","labels":{"app":"bench"}},"spec":{"nodeName":"node-1","containers":)"
        R"([{"name":"main","ports":[{"name":"http","containerPort":8080}]}]}})";
    RETURN_IF_ERROR(create(pod));
  }
  return Status::ok();
}

struct Invocation {
  std::string netns;
  std::string containerId;
  std::string pod;
};

Result<double> runPlugin(const std::string& plugin, const std::string& pluginDir,
                         const std::string& command, const std::string& config,
                         const Invocation& inv, std::string* out = nullptr) {
  std::vector<std::pair<std::string, std::string>> env = {
      {"CNI_COMMAND", command},
      {"CNI_CONTAINERID", inv.containerId},
      {"CNI_NETNS", inv.netns},
      {"CNI_IFNAME", "eth0"},
      {"CNI_PATH", pluginDir},
      {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + std::string(kNamespace) +
                       ";K8S_POD_NAME=" + inv.pod +
                       ";K8S_POD_INFRA_CONTAINER_ID=" + inv.containerId},
  };
  auto t0 = Clock::now();
  auto r = cni::execPlugin(plugin, config, env);
  double ms = secondsSince(t0) * 1000.0;
  if (!r) {
    return r.error();
  }
  if (r->exitCode != 0) {
    return Status(Code::Internal, command + " " + inv.pod + " exited " +
                                      std::to_string(r->exitCode) + ": " + r->out);
  }
  if (out) {
    *out = r->out;
  }
  return ms;
}

void printSummary(const std::string& label, std::vector<double> ms) {
  Summary s = summarize(ms);
  std::printf("  %-22s n=%-4zu p50 %7s ms   p90 %7s ms   p99 %7s ms   max %7s ms   mean %7s ms\n",
              label.c_str(), s.count, fmt(s.p50, 1).c_str(), fmt(s.p90, 1).c_str(),
              fmt(s.p99, 1).c_str(), fmt(s.max, 1).c_str(), fmt(s.mean, 1).c_str());
}

int run(int pods, std::string pluginDir, std::string apiserverBin) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_cni: needs root (network namespaces)\n");
    return 2;
  }
  installCleanupHandlers();
  std::string plugin = pluginDir + "/caracal";
  for (const char* b : {"caracal", "caracal-ipam"}) {
    if (access((pluginDir + "/" + b).c_str(), X_OK) != 0) {
      std::fprintf(stderr, "bench_cni: %s/%s missing: build it (ninja caracal caracal-ipam)\n",
                   pluginDir.c_str(), b);
      return 2;
    }
  }
  if (Status st = setUpNodeNamespace(); !st.isOk()) {
    std::fprintf(stderr, "bench_cni: %s\n", st.message().c_str());
    return 1;
  }
  auto dir = TempDir::make("bench-cni");
  if (!dir) {
    std::fprintf(stderr, "bench_cni: %s\n", dir.error().message().c_str());
    return 1;
  }
  ApiServerOptions opts;
  opts.binary = apiserverBin.empty() ? defaultApiserverBinary() : apiserverBin;
  opts.dataDir = (*dir)->path() + "/data";
  opts.logPath = (*dir)->path() + "/apiserver.log";
  auto server = ApiServer::start(opts);
  if (!server) {
    std::fprintf(stderr, "bench_cni: %s\n", server.error().message().c_str());
    return 1;
  }
  std::string kubeconfig = opts.dataDir + "/admin.kubeconfig";
  auto cfg = datastore::loadKubeconfig(kubeconfig);
  if (!cfg) {
    std::fprintf(stderr, "bench_cni: %s\n", cfg.error().message().c_str());
    return 1;
  }
  auto client = datastore::RestClient::fromConfig(*cfg);
  if (!client) {
    std::fprintf(stderr, "bench_cni: %s\n", client.error().message().c_str());
    return 1;
  }
  if (Status st = createObjects(**client, pods); !st.isOk()) {
    std::fprintf(stderr, "bench_cni: creating objects: %s\n", st.message().c_str());
    return 1;
  }

  std::vector<std::unique_ptr<NetnsHolder>> holders;
  std::vector<Invocation> invs;
  for (int i = 0; i < pods; ++i) {
    auto h = NetnsHolder::start();
    if (!h) {
      std::fprintf(stderr, "bench_cni: %s\n", h.error().message().c_str());
      return 1;
    }
    char cid[32];
    std::snprintf(cid, sizeof cid, "bench%08x%04d", unsigned(getpid()), i);
    invs.push_back({(*h)->path(), cid, "pod-" + std::to_string(i)});
    holders.push_back(std::move(h).value());
  }
  std::string config = R"({"cniVersion":"1.0.0","name":"k8s-pod-network","type":"caracal",)"
                       R"("nodename":"node-1","mtu":1440,"log_level":"warning",)"
                       R"("log_file_path":")" +
                       (*dir)->path() +
                       R"(/cni.log","ipam":{"type":"caracal-ipam"},)"
                       R"("kubernetes":{"kubeconfig":")" +
                       kubeconfig + R"("},"policy":{"type":"k8s"}})";

  std::printf("bench_cni: %d pods, one at a time; CNI 1.0.0 ADD/DEL = fork+exec of caracal "
              "(+ caracal-ipam) against caracal-apiserver (HTTPS, SQLite), in a private netns\n",
              pods);
  std::printf("%s\n", machineDescription().c_str());

  // The cost of starting the plugin process at all (VERSION does no I/O).
  std::vector<double> versionMs;
  for (int i = 0; i < 50; ++i) {
    auto r = runPlugin(plugin, pluginDir, "VERSION", "{}", invs[0]);
    if (r) {
      versionMs.push_back(*r);
    }
  }
  std::vector<double> addMs;
  std::vector<double> delMs;
  std::string firstError;
  auto t0 = Clock::now();
  for (const auto& inv : invs) {
    std::string out;
    auto r = runPlugin(plugin, pluginDir, "ADD", config, inv, &out);
    if (!r) {
      firstError = r.error().message();
      break;
    }
    addMs.push_back(*r);
  }
  double addSeconds = secondsSince(t0);
  t0 = Clock::now();
  for (size_t i = 0; i < addMs.size(); ++i) {
    auto r = runPlugin(plugin, pluginDir, "DEL", config, invs[i]);
    if (!r) {
      if (firstError.empty()) {
        firstError = r.error().message();
      }
      continue;
    }
    delMs.push_back(*r);
  }
  double delSeconds = secondsSince(t0);

  // The share of the IPAM plugin: caracal-ipam alone, as caracal runs it (other container IDs).
  std::vector<double> ipamAddMs;
  std::vector<double> ipamDelMs;
  std::string ipamPlugin = pluginDir + "/caracal-ipam";
  size_t ipamRounds = std::min<size_t>(invs.size(), 50);
  for (size_t i = 0; i < ipamRounds && firstError.empty(); ++i) {
    Invocation inv = invs[i];
    inv.containerId += "i";
    auto a = runPlugin(ipamPlugin, pluginDir, "ADD", config, inv);
    auto d = runPlugin(ipamPlugin, pluginDir, "DEL", config, inv);
    if (!a || !d) {
      firstError = !a ? a.error().message() : d.error().message();
      break;
    }
    ipamAddMs.push_back(*a);
    ipamDelMs.push_back(*d);
  }

  std::printf("results (wall time per invocation, as the runtime waits for it):\n");
  printSummary("exec only (VERSION)", versionMs);
  printSummary("ADD", addMs);
  printSummary("DEL", delMs);
  printSummary("of which IPAM ADD", ipamAddMs);
  printSummary("of which IPAM DEL", ipamDelMs);
  std::printf("  throughput: %s ADD/s, %s DEL/s (sequential)\n",
              fmt(double(addMs.size()) / addSeconds, 1).c_str(),
              fmt(double(delMs.size()) / delSeconds, 1).c_str());

  // Nothing may be left: no WorkloadEndpoint, no IPAM handle.
  const api::KindInfo* wep = api::findByKind("projectcalico.org/v3", "WorkloadEndpoint");
  const api::KindInfo* handles = api::findByKind("projectcalico.org/v3", "IPAMHandle");
  auto weps = (*client)->list(*wep, "");
  auto hs = (*client)->list(*handles, "");
  size_t leftWeps = weps ? weps->items.size() : size_t(-1);
  size_t leftHandles = hs ? hs->items.size() : size_t(-1);
  std::printf("  left after DEL: %zu WorkloadEndpoints, %zu IPAM handles\n", leftWeps, leftHandles);
  holders.clear();
  (void)(*server)->stop();
  if (!firstError.empty()) {
    std::fprintf(stderr, "bench_cni: first failure: %s\n", firstError.c_str());
    std::fprintf(stderr, "%s\n", fileTail((*dir)->path() + "/cni.log").c_str());
    return 1;
  }
  if (int(addMs.size()) != pods || int(delMs.size()) != pods || leftWeps != 0 || leftHandles != 0) {
    return 1;
  }
  return 0;
}

} // namespace
} // namespace caracal::bench

int main(int argc, char** argv) {
  CLI::App app{"CNI ADD/DEL latency of caracal + caracal-ipam against caracal-apiserver"};
  int pods = 200;
  std::string pluginDir = CARACAL_BENCH_PLUGIN_DIR;
  std::string apiserver;
  app.add_option("--pods", pods, "pods to ADD then DEL")->check(CLI::Range(1, 5000));
  app.add_option("--plugin-dir", pluginDir, "directory with caracal and caracal-ipam");
  app.add_option("--apiserver", apiserver, "caracal-apiserver binary");
  CLI11_PARSE(app, argc, argv);
  return caracal::bench::run(pods, pluginDir, apiserver);
}
