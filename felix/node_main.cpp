#include "felix/node_main.h"

#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"
#include "felix/agent.h"
#include "felix/nat_outgoing.h"
#include "felix/syncer.h"
#include "ipam/ipam.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace caracal::felix {

namespace {

struct Flags {
  std::string node;
  std::string kubeconfig;
  std::string ip;
  std::string interface;
  int resyncSeconds = 10;
  std::string mtuFile = "/var/lib/caracal/mtu";
  std::string stateDir = "/var/lib/caracal";
  std::string logLevel = "info";
};

} // namespace

int nodeMain(int argc, char** argv) {
  Flags f;
  CLI::App app{"caracal-node: the per-node agent of caracal (routes, tunnels, natOutgoing)"};
  app.add_option("--node", f.node, "this node's name (the Calico Node object)")->required();
  app.add_option("--kubeconfig", f.kubeconfig,
                 "kubeconfig of the API server (default: $KUBECONFIG, then "
                 "/var/lib/caracal/admin.kubeconfig)");
  app.add_option("--ip", f.ip,
                 "underlay IPv4 address with prefix, e.g. 10.0.0.5/24 (default: "
                 "the first global IPv4 address of --interface)");
  app.add_option("--interface", f.interface,
                 "underlay interface (default: the default route's, else the first one up)");
  app.add_option("--resync-seconds", f.resyncSeconds,
                 "period of the full dataplane read-back that repairs drift")
      ->check(CLI::Range(1, 86400));
  app.add_option("--mtu-file", f.mtuFile, "where to write the pod MTU for the CNI plugin");
  app.add_option("--state-dir", f.stateDir, "where to write `ready` after the first full pass");
  app.add_option("--log-level", f.logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error"}));
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("caracal-node");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(f.logLevel == "warning" ? "warn" : f.logLevel));

  AgentOptions opts;
  opts.nodeName = f.node;
  opts.interface = f.interface;
  opts.resyncInterval = std::chrono::seconds(f.resyncSeconds);
  opts.mtuFile = f.mtuFile;
  opts.stateDir = f.stateDir;
  if (!f.ip.empty()) {
    auto ip = api::parseCidr(f.ip);
    if (!ip || ip->addr.family != 4) {
      std::cerr << "error: --ip: want an IPv4 address with prefix such as 10.0.0.5/24, got \""
                << f.ip << "\"\n";
      return 2;
    }
    opts.ip = *ip;
  }

  // Signals are taken synchronously by the main thread: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  datastore::ConfigOverrides ov;
  ov.kubeconfig = f.kubeconfig;
  auto cfg = datastore::resolveClientConfig(ov, datastore::processEnv);
  if (!cfg) {
    spdlog::error("API server configuration: {}", cfg.error().message());
    return 1;
  }
  auto client = datastore::RestClient::fromConfig(*cfg);
  if (!client) {
    spdlog::error("API client: {}", client.error().message());
    return 1;
  }
  (*client)->setUserAgent("caracal-node/" CARACAL_VERSION);
  std::unique_ptr<ipam::Store> store = ipam::makeRestStore(**client);
  std::unique_ptr<ListWatchSource> source = makeRestListWatchSource(**client);

  std::unique_ptr<NatOutgoing> nat;
  if (auto n = makeNftNatOutgoing()) {
    nat = std::move(*n);
  } else {
    spdlog::warn("natOutgoing disabled: {}", n.error().message());
  }

  Syncer syncer(*source, agentKinds());
  Agent agent(opts, syncer, *store, std::move(nat));
  if (Status st = agent.start(); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  syncer.start();

  while (true) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      agent.kick();
      continue;
    }
    spdlog::info("signal {}: stopping (the dataplane stays in place)", sig);
    break;
  }
  syncer.stop();
  agent.stop();
  return 0;
}

} // namespace caracal::felix
