#pragma once
// caracal-labtool: the small network helpers that tools/caracal-lab (a bash script) delegates to.
//
//  - EchoServer: TCP and UDP echo servers (every byte or datagram received is sent back), so that a
//    probe proves a full round trip through the pod network.
//  - probe(): one reachability check from the calling thread's network namespace: TCP connect and
//    echo, UDP datagram and echo, or ICMP echo over a raw socket. With holdMs, a TCP connection is
//    kept open and exercised every kHoldIntervalMs, so a restart of an agent can be checked for
//    disturbing established traffic.
//  - runMatrix(): every ordered pair of a set of pods, probed in parallel from worker threads that
//    each enter the source pod's namespace with setns(2).
//  - Forwarder: a TCP relay that accepts in the current namespace and connects from inside another
//    one; the lab's host-side door to the API server that lives in the fabric namespace.
//
// Network namespaces are per thread: enterNetns() switches only the calling thread, and a socket
// stays in the namespace it was created in whatever thread later uses it. Nothing here changes the
// namespace of the thread that constructs an object, so a caller in the host namespace stays there.
//
// Errors are values (Status / Result); an unreachable peer is a non-OK Status whose message says
// why (timeout, refused, wrong echo).

#include "common/result.h"
#include "common/value.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace caracal::labtool {

enum class Protocol { Tcp, Udp, Icmp };

// "tcp" | "udp" | "icmp" (case-insensitive).
Result<Protocol> parseProtocol(std::string_view s);
const char* protocolName(Protocol p);

// One echo listener: "tcp:80" or "udp:81".
struct ServeSpec {
  Protocol protocol = Protocol::Tcp;
  uint16_t port = 0;
  bool operator==(const ServeSpec&) const = default;
};

// Parses "tcp:80,udp:81,..." (no duplicates, ports 1..65535, only tcp and udp). Invalid otherwise.
Result<std::vector<ServeSpec>> parseServeSpecs(std::string_view s);

// "A.B.C.D:PORT" -> address and port (port 0 allowed).
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result<HostPort> parseHostPort(std::string_view s);

// Moves the calling thread into the network namespace at `path` (e.g. /var/run/netns/x or
// /proc/PID/ns/net). Other threads are unaffected.
Status enterNetns(const std::string& path);

// Runs fn on a new thread that first enters the namespace at `netnsPath` ("" = stay in the
// caller's namespace) and returns fn's status (or the failure to enter).
Status runInNetns(const std::string& netnsPath, const std::function<Status()>& fn);

// ---- echo server ---------------------------------------------------------------------------

// TCP and UDP echo servers on 0.0.0.0, served by one poll loop.
// bind() creates the sockets in the calling thread's namespace; run() may then be called on any
// thread and returns after stop() (callable from any thread) or on a fatal error.
class EchoServer {
public:
  EchoServer();
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  Status bind(const std::vector<ServeSpec>& specs);
  Status run();
  void stop();

private:
  struct Conn {
    int fd = -1;
    std::string pending; // bytes received but not yet echoed back
  };
  std::vector<std::pair<ServeSpec, int>> listeners_; // spec, fd
  std::vector<Conn> conns_;
  int wakeFd_ = -1; // eventfd: stop()
};

// ---- probe ---------------------------------------------------------------------------------

struct ProbeOptions {
  std::string address; // IPv4 destination
  uint16_t port = 0;   // ignored for ICMP
  Protocol protocol = Protocol::Tcp;
  int timeoutMs = 1000; // the whole check (TCP: connect + echo); with holdMs: each echo
  int holdMs = 0;       // TCP only: keep the connection and echo every kHoldIntervalMs this long
};

constexpr int kHoldIntervalMs = 100;

// Probes from the calling thread's namespace. OK = reachable (the echo came back intact).
Status probe(const ProbeOptions& opts);

// ---- matrix --------------------------------------------------------------------------------

struct MatrixPod {
  std::string name;      // "NS/NAME"
  std::string netnsPath; // where the probes from this pod start
  std::string ip;        // where probes to this pod go
};

// Parses lines "NS/NAME<TAB>NETNS_PATH<TAB>IP"; blank lines and lines starting with '#' are
// skipped. Duplicate names are Invalid.
Result<std::vector<MatrixPod>> parseMatrixSpec(std::string_view text);

// matrix[i][j]: pods[i] reached pods[j].
using Matrix = std::vector<std::vector<bool>>;

// Probes every ordered pair (self included) with at most `parallelism` threads at a time. Each
// probe uses `tmpl` with address = the target's IP. Fails only when a namespace cannot be entered.
Result<Matrix> runMatrix(const std::vector<MatrixPod>& pods, const ProbeOptions& tmpl,
                         int parallelism = 128);

// {"NS/FROM": {"NS/TO": true|false, ...}, ...} in the pods' order.
Value matrixJson(const std::vector<MatrixPod>& pods, const Matrix& m);
// A human table: one row per source, one column per target, "ok" or "--".
std::string matrixTable(const std::vector<MatrixPod>& pods, const Matrix& m);

// ---- forwarder -----------------------------------------------------------------------------

// Accepts TCP connections on `listen` (in the namespace of the thread calling start()) and relays
// each to `to`, connected from inside the namespace at `netnsPath` ("" = the same namespace).
// Each connection is served by its own thread that enters the target namespace before creating
// its outgoing socket; the accepting thread never changes namespace.
class Forwarder {
public:
  Forwarder() = default;
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  Status start(const HostPort& listen, std::string netnsPath, const HostPort& to);
  uint16_t port() const { return port_; } // the bound port (useful with port 0)
  Status run();                           // accept loop; returns after stop()
  void stop(); // ends run() and shuts down every relayed connection (the destructor waits)

private:
  void relay(int clientFd);

  int listenFd_ = -1;
  int wakeFd_ = -1;
  uint16_t port_ = 0;
  std::string netnsPath_;
  HostPort to_;
  std::mutex mu_;
  std::condition_variable relaysDone_;
  int relays_ = 0;           // relay threads still running (guarded by mu_)
  std::vector<int> liveFds_; // sockets of running relays (guarded by mu_)
  std::atomic<bool> stopping_{false};
};

// The command line (see docs/design/lab.md); returns the process exit code.
int labtoolMain(int argc, char** argv);

} // namespace caracal::labtool
