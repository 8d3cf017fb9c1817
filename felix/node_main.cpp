#include "felix/node_main.h"

#include "bgp/supervisor.h"
#include "common/signals.h"
#include "confd/watcher.h"
#include "datastore/connect.h"
#include "felix/agent.h"
#include "felix/nat_outgoing.h"
#include "felix/policy_manager.h"
#include "felix/policy_writers.h"
#include "felix/syncer.h"
#include "ipam/ipam.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <mutex>
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
  std::string backend = "bird";
  std::string birdRunDir = "/var/run/calico";
  std::string birdBinary = "/usr/sbin/bird";
  std::string secretsNamespace = "calico-system";
  std::string dataplane = "nftables";
};

// Union of two kind lists, without duplicates, in first-seen order.
std::vector<const api::KindInfo*> unionKinds(std::vector<const api::KindInfo*> a,
                                             const std::vector<const api::KindInfo*>& b) {
  for (const api::KindInfo* k : b) {
    if (std::find(a.begin(), a.end(), k) == a.end()) {
      a.push_back(k);
    }
  }
  return a;
}

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
  app.add_option("--networking-backend", f.backend,
                 "bird: BGP with BIRD (confd renders its config, caracal-node supervises it) and "
                 "felix's tunnels; vxlan or none: no BGP, felix programs every pool route "
                 "(Calico's CALICO_NETWORKING_BACKEND)")
      ->check(CLI::IsMember({"bird", "vxlan", "none"}));
  app.add_option("--bird-run-dir", f.birdRunDir,
                 "BIRD's config, control socket (bird.ctl), pid file and confd's status file");
  app.add_option("--bird-binary", f.birdBinary, "the BIRD 2 daemon");
  app.add_option("--secrets-namespace", f.secretsNamespace,
                 "namespace of the Secrets that BGPPeer passwords refer to");
  app.add_option("--dataplane", f.dataplane,
                 "policy dataplane: nftables (table inet caracal), iptables (ipset + "
                 "iptables-restore) or none (no policy enforcement)")
      ->check(CLI::IsMember({"nftables", "iptables", "none"}));
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
  const bool bgp = f.backend == "bird";
  opts.bgpProgramsUnencapsulated = bgp;
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
  BlockedSignals sigs{SIGTERM, SIGINT, SIGHUP};

  auto client = datastore::connectRestClient(f.kubeconfig, "caracal-node/" CARACAL_VERSION);
  if (!client) {
    spdlog::error("{}", client.error().message());
    return 1;
  }
  std::unique_ptr<ipam::Store> store = ipam::makeRestStore(**client);
  std::unique_ptr<ListWatchSource> source = makeRestListWatchSource(**client);

  std::unique_ptr<NatOutgoing> nat;
  if (auto n = makeNftNatOutgoing()) {
    nat = std::move(*n);
  } else {
    spdlog::warn("natOutgoing disabled: {}", n.error().message());
  }

  std::vector<const api::KindInfo*> kinds = agentKinds();
  if (bgp) {
    kinds = unionKinds(kinds, confd::confdKinds());
  }
  if (f.dataplane != "none") {
    kinds = unionKinds(kinds, calc::PolicyCalc::kinds());
  }
  Syncer syncer(*source, kinds);
  Agent agent(opts, syncer, *store, std::move(nat));

  // Policy: the calculation graph and the chosen kernel writer on the same watch cache.
  std::unique_ptr<PolicyManager> policyManager;
  if (f.dataplane != "none") {
    std::unique_ptr<PolicyWriter> writer;
    if (f.dataplane == "nftables") {
      auto w = makeNftablesPolicyWriter();
      if (!w) {
        spdlog::error("--dataplane nftables: {}", w.error().message());
        return 1;
      }
      writer = std::move(*w);
    } else {
      writer = makeIptablesPolicyWriter();
    }
    if (Status st = writer->prepare(); !st) {
      spdlog::warn("policy dataplane: {}", st.message());
    }
    PolicyManagerOptions po;
    po.nodeName = f.node;
    policyManager = std::make_unique<PolicyManager>(po, syncer, std::move(writer));
  }

  // BGP: confd renders bird.conf from the shared cache; BIRD starts once a valid one is in place.
  std::unique_ptr<bgp::BirdSupervisor> bird;
  std::unique_ptr<confd::Confd> confdWatcher;
  std::once_flag birdStarted;
  if (bgp) {
    std::error_code ec;
    std::filesystem::create_directories(f.birdRunDir, ec);
    if (ec) {
      spdlog::error("--bird-run-dir {}: {}", f.birdRunDir, ec.message());
      return 1;
    }
    bgp::BirdSupervisor::Options bo;
    bo.birdBinary = f.birdBinary;
    bo.configPath = f.birdRunDir + "/bird.conf";
    bo.socketPath = f.birdRunDir + "/bird.ctl";
    bo.pidFile = f.birdRunDir + "/bird.pid";
    // Graceful restart recovery: the kernel protocol keeps the routes the previous BIRD left
    // (`persist`) until the sessions have converged, instead of pruning them at the first scan.
    bo.extraArgs = {"-R"};
    bo.onUnexpectedExit = [](const std::string& why, std::chrono::milliseconds backoff) {
      spdlog::warn("BIRD exited ({}); starting it again in {} ms", why, backoff.count());
    };
    bird = std::make_unique<bgp::BirdSupervisor>(bo);
    confd::ConfdOptions co;
    co.nodeName = f.node;
    co.secretsNamespace = f.secretsNamespace;
    co.writer.configPath = bo.configPath;
    co.writer.birdBinary = f.birdBinary;
    co.writer.socketPath = bo.socketPath;
    co.statusFile = f.birdRunDir + "/confd-status.json";
    co.onApplied = [&bird, &birdStarted, socket = bo.socketPath](confd::WriteOutcome) {
      std::call_once(birdStarted, [&] {
        if (Status st = bird->start(); !st) {
          spdlog::error("BIRD: {}", st.message());
          return;
        }
        spdlog::info("BIRD started (socket {})", socket);
      });
    };
    confdWatcher = std::make_unique<confd::Confd>(co, syncer);
  }

  if (Status st = agent.start(); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  if (confdWatcher) {
    confdWatcher->start();
  }
  if (policyManager) {
    policyManager->start();
  }
  syncer.start();

  while (true) {
    int sig = sigs.wait();
    if (sig == SIGHUP) {
      agent.kick();
      continue;
    }
    spdlog::info("signal {}: stopping (the dataplane stays in place)", sig);
    break;
  }
  syncer.stop();
  if (confdWatcher) {
    confdWatcher->stop();
  }
  if (policyManager) {
    policyManager->stop(); // the rules stay: traffic keeps the policy it had
  }
  if (bird) {
    bird->stop(); // graceful restart: peers and the kernel keep this node's routes meanwhile
  }
  agent.stop();
  return 0;
}

} // namespace caracal::felix
