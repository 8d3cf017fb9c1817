// ipip_bench: TCP throughput (iperf3) through the userspace IPIP tunnel against the plain veth it
// rides on, in the same run. Builds two namespaces like the netns test (underlay 10.98.0.1/24 <->
// 10.98.0.2/24, pods 10.244.1.1 and 10.244.2.1 on lo, a tunnel in each), then runs
//   iperf3 -c 10.244.2.1 -B 10.244.1.1   (pod to pod, through tunl0)
//   iperf3 -c 10.98.0.2                  (node to node, plain veth)
// from namespace A against one iperf3 server in B. Needs root and iperf3.
//
//   ipip_bench [--seconds N] [--repeat R] [--txqueuelen Q] [--offloads on|off|both]
//
// Q overrides the tunnel default. --offloads both measures the tunnel with and without TUN
// offloads (TunnelOptions::offloads) in every round, restarting both tunnels between the two.

#include "common/value.h"
#include "ipip/netns_testutil.h"
#include "ipip/userspace_tunnel.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

using caracal::testing::BackgroundCommand;
using caracal::testing::Netns;
using caracal::testing::TempDir;

namespace {

struct IperfResult {
  bool ok = false;
  double gbps = 0;
  int64_t retransmits = 0;
  std::string error;
};

double number(const caracal::Value* v) {
  if (v == nullptr) {
    return 0;
  }
  return v->isInt() ? static_cast<double>(v->asInt()) : v->asDouble();
}

IperfResult iperf(const Netns& from, const std::string& args, int seconds) {
  IperfResult r;
  auto out = from.exec("iperf3 -J -t " + std::to_string(seconds) + " " + args);
  auto doc = caracal::parseJson(out.output);
  if (out.rc != 0 || !doc.hasValue()) {
    r.error = out.output.substr(0, 400);
    return r;
  }
  r.gbps = number(doc->path("end.sum_received.bits_per_second")) / 1e9;
  r.retransmits = doc->path("end.sum_sent.retransmits") != nullptr
                      ? doc->path("end.sum_sent.retransmits")->asInt()
                      : 0;
  r.ok = r.gbps > 0;
  return r;
}

int fail(const std::string& msg) {
  std::cerr << "ipip_bench: " << msg << "\n";
  return 1;
}

} // namespace

int main(int argc, char** argv) {
  int seconds = 5;
  int repeat = 1;
  std::string qlen;
  std::string offloads = "on";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--txqueuelen" && i + 1 < argc) {
      qlen = argv[++i];
    } else if (a == "--offloads" && i + 1 < argc) {
      offloads = argv[++i];
    } else {
      return fail("usage: ipip_bench [--seconds N] [--repeat R] [--txqueuelen Q] "
                  "[--offloads on|off|both]");
    }
  }
  if (offloads != "on" && offloads != "off" && offloads != "both") {
    return fail("--offloads takes on, off or both");
  }
  if (!caracal::testing::isRoot()) {
    return fail("needs root (network namespaces)");
  }
  if (!caracal::testing::haveProgram("iperf3")) {
    return fail("iperf3 not installed");
  }

  Netns a("ipipbench", "a"), b("ipipbench", "b");
  if (!a.ok() || !b.ok()) {
    return fail("cannot create namespaces");
  }
  if (a.ip("link add ul-a type veth peer name ul-b netns " + b.name()).rc != 0 ||
      a.ip("addr add 10.98.0.1/24 dev ul-a").rc != 0 || a.ip("link set ul-a up").rc != 0 ||
      a.ip("addr add 10.244.1.1/32 dev lo").rc != 0 ||
      b.ip("addr add 10.98.0.2/24 dev ul-b").rc != 0 || b.ip("link set ul-b up").rc != 0 ||
      b.ip("addr add 10.244.2.1/32 dev lo").rc != 0) {
    return fail("cannot build the underlay");
  }

  std::unique_ptr<caracal::ipip::UserspaceTunnel> tunA, tunB;
  std::string startError;
  auto startIn = [&](const Netns& ns, const char* local, const char* tunnelAddr,
                     std::unique_ptr<caracal::ipip::UserspaceTunnel>& out, bool withOffloads) {
    caracal::ipip::TunnelOptions opts;
    opts.local = *caracal::api::parseIp(local);
    opts.tunnelAddr = caracal::api::parseCidr(tunnelAddr);
    opts.offloads = withOffloads;
    if (!qlen.empty()) {
      opts.txQueueLen = static_cast<uint32_t>(std::atoi(qlen.c_str()));
    }
    caracal::testing::inNetns(ns.path(), [&] {
      auto t = caracal::ipip::UserspaceTunnel::start(opts);
      if (t.hasValue()) {
        out = std::move(t).value();
      } else {
        startError = t.error().str();
      }
    });
  };
  // (Re)starts both tunnels; the devices persist, so routes through them survive a restart.
  bool current = offloads != "off";
  auto startBoth = [&](bool withOffloads) {
    for (auto* t : {&tunA, &tunB}) {
      if (*t) {
        (*t)->stop(false);
        t->reset();
      }
    }
    startIn(a, "10.98.0.1", "10.244.1.0/32", tunA, withOffloads);
    startIn(b, "10.98.0.2", "10.244.2.0/32", tunB, withOffloads);
    if (!tunA || !tunB) {
      return false;
    }
    tunA->setPeers(
        {{*caracal::api::parseCidr("10.244.2.0/26"), *caracal::api::parseIp("10.98.0.2")}});
    tunB->setPeers(
        {{*caracal::api::parseCidr("10.244.1.0/26"), *caracal::api::parseIp("10.98.0.1")}});
    current = withOffloads;
    return true;
  };
  if (!startBoth(current)) {
    return fail("starting tunnels: " + startError);
  }
  if (a.ip("route add 10.244.2.0/26 via 10.98.0.2 dev tunl0 onlink").rc != 0 ||
      b.ip("route add 10.244.1.0/26 via 10.98.0.1 dev tunl0 onlink").rc != 0) {
    return fail("cannot add routes");
  }

  TempDir tmp("ipipbench");
  BackgroundCommand server("exec ip netns exec " + b.name() + " iperf3 -s",
                           tmp.path() + "/srv.log");
  if (!caracal::testing::waitFor(
          [&] { return b.exec("ss -ltn").output.find(":5201") != std::string::npos; },
          std::chrono::seconds(5))) {
    return fail("iperf3 server did not start");
  }

  std::printf("%-28s %12s %12s\n", "path (inner MTU 1480)", "Gbit/s", "retransmits");
  std::vector<bool> modes;
  if (offloads == "both") {
    modes = {true, false};
  } else {
    modes = {offloads == "on"};
  }
  int rc = 0;
  for (int i = 0; i < repeat && rc == 0; ++i) {
    std::vector<std::pair<bool, IperfResult>> tunnels;
    for (bool mode : modes) {
      if (mode != current && !startBoth(mode)) {
        return fail("restarting tunnels: " + startError);
      }
      tunnels.emplace_back(mode, iperf(a, "-c 10.244.2.1 -B 10.244.1.1", seconds));
    }
    auto veth = iperf(a, "-c 10.98.0.2", seconds);
    for (const auto& [mode, tunnel] : tunnels) {
      if (!tunnel.ok) {
        std::fprintf(stderr, "iperf3 failed: %s\n", tunnel.error.c_str());
        rc = 1;
      }
    }
    if (!veth.ok) {
      std::fprintf(stderr, "iperf3 failed: %s\n", veth.error.c_str());
      rc = 1;
    }
    if (rc != 0) {
      break;
    }
    for (const auto& [mode, tunnel] : tunnels) {
      std::string label = std::string("userspace ipip, ") + (mode ? "offloads" : "no offloads");
      std::printf("%-28s %12.2f %12lld   %5.1f%% of veth\n", label.c_str(), tunnel.gbps,
                  static_cast<long long>(tunnel.retransmits), 100.0 * tunnel.gbps / veth.gbps);
    }
    std::printf("%-28s %12.2f %12lld\n", "plain veth (1500)", veth.gbps,
                static_cast<long long>(veth.retransmits));
  }
  auto sa = tunA->stats();
  auto sb = tunB->stats();
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("last tunnels (offloads %s):\n", current ? "on" : "off");
  std::printf("  A: tx %llu pkts from %llu super-packets, rx %llu pkts in %llu merged writes, "
              "txErrors %llu\n",
              u(sa.txPackets), u(sa.txGsoPackets), u(sa.rxPackets), u(sa.rxGsoWrites),
              u(sa.txErrors));
  std::printf("  B: tx %llu pkts from %llu super-packets, rx %llu pkts in %llu merged writes, "
              "rxErrors %llu, dropMalformed %llu\n",
              u(sb.txPackets), u(sb.txGsoPackets), u(sb.rxPackets), u(sb.rxGsoWrites),
              u(sb.rxErrors), u(sb.dropMalformed));
  // Where the tunnel loses packets: the TUN queue (tx_dropped on tunl0) or the raw socket's
  // receive buffer (the "drops" column of /proc/net/raw).
  std::printf("\n--- namespace A: ip -s link show tunl0\n%s",
              a.ip("-s link show tunl0").output.c_str());
  std::printf("--- namespace B: /proc/net/raw\n%s", b.exec("cat /proc/net/raw").output.c_str());
  server.kill();
  tunA->stop(true);
  tunB->stop(true);
  return rc;
}
