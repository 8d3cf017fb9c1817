// The caracal-labtool command line: serve, probe, matrix, forward.
#include "tools/labtool/labtool.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace caracal::labtool {

namespace {

// Exit codes: 0 success / reachable, 1 unreachable or runtime failure, 2 usage error.
constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;

// Writes `content` to `path` through a temporary file and a rename, so a reader polling for the
// file never sees it half written.
Status writeFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << content;
    if (!f) {
      return Status(Code::Internal, "cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status(Code::Internal, "cannot rename " + tmp + " to " + path);
  }
  return Status::ok();
}

int fail(const Status& st, int code = kExitFail) {
  std::cerr << "caracal-labtool: " << st.message() << "\n";
  return code;
}

// SIGTERM and SIGINT end `serve` and `forward` cleanly: a thread waits for them and calls stop.
template <typename Stoppable> std::thread stopOnSignal(Stoppable& s) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return std::thread([&s, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    s.stop();
  });
}

int cmdServe(const std::string& specText, const std::string& readyFile) {
  auto specs = parseServeSpecs(specText);
  if (!specs) {
    return fail(specs.error(), kExitUsage);
  }
  EchoServer server;
  if (Status st = server.bind(*specs); !st) {
    return fail(st);
  }
  if (!readyFile.empty()) {
    if (Status st = writeFileAtomic(readyFile, std::to_string(getpid()) + "\n"); !st) {
      return fail(st);
    }
  }
  std::thread waiter = stopOnSignal(server);
  waiter.detach();
  Status st = server.run();
  return st ? 0 : fail(st);
}

int cmdProbe(ProbeOptions o, const std::string& protocol, const std::string& netns) {
  auto proto = parseProtocol(protocol);
  if (!proto) {
    return fail(proto.error(), kExitUsage);
  }
  o.protocol = *proto;
  Status st = runInNetns(netns, [&] { return probe(o); });
  if (st.code() == Code::Invalid) {
    return fail(st, kExitUsage);
  }
  if (!st) {
    std::cerr << "unreachable: " << st.message() << "\n";
    return kExitFail;
  }
  std::cout << "reachable: " << protocolName(o.protocol) << " " << o.address;
  if (o.protocol != Protocol::Icmp) {
    std::cout << ":" << o.port;
  }
  std::cout << "\n";
  return 0;
}

int cmdMatrix(const std::string& specFile, ProbeOptions o, const std::string& protocol,
              const std::string& output, int parallel) {
  auto proto = parseProtocol(protocol);
  if (!proto) {
    return fail(proto.error(), kExitUsage);
  }
  o.protocol = *proto;
  std::ifstream f(specFile);
  if (!f) {
    return fail(Status(Code::NotFound, "cannot read " + specFile), kExitUsage);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  auto pods = parseMatrixSpec(ss.str());
  if (!pods) {
    return fail(pods.error().withContext(specFile), kExitUsage);
  }
  auto m = runMatrix(*pods, o, parallel);
  if (!m) {
    return fail(m.error());
  }
  if (output == "json") {
    std::cout << toJson(matrixJson(*pods, *m)) << "\n";
  } else {
    std::cout << matrixTable(*pods, *m);
  }
  return 0;
}

int cmdForward(const std::string& listenText, const std::string& netns, const std::string& toText,
               const std::string& portFile) {
  auto listenAt = parseHostPort(listenText);
  auto to = parseHostPort(toText);
  if (!listenAt) {
    return fail(listenAt.error().withContext("--listen"), kExitUsage);
  }
  if (!to) {
    return fail(to.error().withContext("--to"), kExitUsage);
  }
  Forwarder fwd;
  if (Status st = fwd.start(*listenAt, netns, *to); !st) {
    return fail(st);
  }
  if (!portFile.empty()) {
    if (Status st = writeFileAtomic(portFile, std::to_string(fwd.port()) + "\n"); !st) {
      return fail(st);
    }
  }
  std::thread waiter = stopOnSignal(fwd);
  waiter.detach();
  Status st = fwd.run();
  return st ? 0 : fail(st);
}

} // namespace

int labtoolMain(int argc, char** argv) {
  CLI::App app{"caracal-labtool: network helpers of caracal-lab (echo servers, probes, relay)"};
  app.require_subcommand(1);

  std::string serveSpec, readyFile;
  auto* serve = app.add_subcommand("serve", "TCP/UDP echo servers on 0.0.0.0; runs until killed");
  serve->add_option("specs", serveSpec, "PROTO:PORT,... e.g. tcp:80,udp:81")->required();
  serve->add_option("--ready-file", readyFile, "written (with the pid) once every port is bound");

  ProbeOptions po;
  std::string protocol = "tcp", netns;
  auto* probeCmd = app.add_subcommand("probe", "one reachability check; exit 0 reachable, 1 not");
  probeCmd->add_option("address", po.address, "IPv4 address to probe")->required();
  probeCmd->add_option("--port", po.port, "destination port (tcp, udp)");
  probeCmd->add_option("--protocol", protocol, "tcp | udp | icmp")->capture_default_str();
  probeCmd->add_option("--timeout-ms", po.timeoutMs, "deadline of the check")
      ->capture_default_str();
  probeCmd->add_option("--hold-ms", po.holdMs,
                       "tcp: keep the connection, echoing every 100 ms, this long");
  probeCmd->add_option("--netns", netns, "probe from the network namespace at this path");

  std::string specFile, output = "json";
  ProbeOptions mo;
  std::string mprotocol = "tcp";
  int parallel = 128;
  auto* matrix = app.add_subcommand("matrix", "probe every ordered pair of pods in parallel");
  matrix->add_option("--spec", specFile, "lines NS/NAME<TAB>NETNS_PATH<TAB>IP")->required();
  matrix->add_option("--port", mo.port, "destination port");
  matrix->add_option("--protocol", mprotocol, "tcp | udp | icmp")->capture_default_str();
  matrix->add_option("--timeout-ms", mo.timeoutMs, "deadline per pair")->capture_default_str();
  matrix->add_option("-o,--output", output, "json | table")
      ->check(CLI::IsMember({"json", "table"}))
      ->capture_default_str();
  matrix->add_option("--parallel", parallel, "probes in flight at once")->capture_default_str();

  std::string listenText, fwdNetns, toText, portFile;
  auto* forward = app.add_subcommand("forward", "TCP relay into another network namespace");
  forward->add_option("--listen", listenText, "A.B.C.D:PORT here (port 0 picks one)")->required();
  forward->add_option("--netns", fwdNetns, "namespace the outgoing connections start from")
      ->required();
  forward->add_option("--to", toText, "A.B.C.D:PORT to connect to")->required();
  forward->add_option("--port-file", portFile, "written with the bound port once listening");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (serve->parsed()) {
    return cmdServe(serveSpec, readyFile);
  }
  if (probeCmd->parsed()) {
    return cmdProbe(po, protocol, netns);
  }
  if (matrix->parsed()) {
    return cmdMatrix(specFile, mo, mprotocol, output, parallel);
  }
  return cmdForward(listenText, fwdNetns, toText, portFile);
}

} // namespace caracal::labtool
