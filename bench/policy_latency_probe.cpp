// policy_latency_probe: one policy write, timed until its rule is in a node's kernel.
//
//   policy_latency_probe --netns /var/run/netns/NODE --dataplane nftables|iptables --port P
//       [--interval-ms 2] [--timeout-ms 10000] [--method poll|monitor|both]
//       [--kubeconfig F --watch-ns NS]
//       ( --kubeconfig F --api create|update --file OBJ.yaml  |  -- WRITER ARGS... )
//
// The write is either done here, over one HTTPS request to the API server (--api: POST for
// create, PUT for update; the connection is opened and, for an update, the stored
// resourceVersion read, before the clock starts), or by running WRITER (kubectl, caracalctl) as
// a child process in this (the host's) network namespace. The clock starts right before the
// request is sent or the writer is spawned.
//
// The rule is "in the kernel" when a rule line holds "dport" and the port P as a whole number,
// seen from inside the node's network namespace by
//   poll:    `nft list table inet caracal` (nftables) or `iptables-save -t filter` (iptables),
//            run again every interval (the interval is the pause between the end of one listing
//            and the start of the next); the time is the end of the listing that first shows it;
//   monitor: `nft monitor rules` (nftables) or `xtables-monitor -e -4` (iptables), line-buffered
//            with stdbuf, started before the write; the time is when the line that shows it is
//            read.
// Both run at once by default (two threads, each moved into the node's namespace by setns; the
// commands they spawn inherit it). Before the clock starts, one listing checks that the rule is
// not there yet.
//
// With --watch-ns, a watch on projectcalico.org/v3 NetworkPolicies in NS (from the resourceVersion
// of a list taken before the clock starts) notes when an event first carries a policy with the
// port in a rule's ports: the moment a watcher like caracal-node learns of the change (for a
// Kubernetes NetworkPolicy, that includes caracal-controller's conversion).
//
// Prints one line, times in milliseconds from the start (-1: not seen before the timeout):
//   write_ms 11.84 watch_ms 14.02 poll_ms 47.20 polls 9 poll_cost_ms 3.61 monitor_ms 44.95
// where write_ms is the request's round trip (or the writer's run time), watch_ms the watch
// event, poll_cost_ms the mean duration of one listing; the fields of a method not in use (or of
// the watch without --watch-ns) are left out. Exit status 0 when every method in use saw the rule,
// 1 when one timed out, 2 on a usage or set-up error.
#include "api/registry.h"
#include "common/value.h"
#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using caracal::Value;

// How long the monitor gets to subscribe before the clock starts (it prints nothing on start).
constexpr std::chrono::milliseconds kMonitorSettle{150};

// Set when the write failed: the watchers stop (and the monitor's child is ended) at once.
std::atomic<bool> gAbort{false};

struct Options {
  std::string netns;
  std::string dataplane;
  std::string port;
  int intervalMs = 2;
  int timeoutMs = 10000;
  bool poll = true;
  bool monitor = true;
  std::string kubeconfig;
  std::string watchNs; // watch Calico NetworkPolicies there; empty: no watch
  std::string apiVerb; // "create" or "update"; empty: run `writer`
  std::string file;
  std::vector<std::string> writer;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(
      stderr,
      "policy_latency_probe: %s\n"
      "usage: policy_latency_probe --netns PATH --dataplane nftables|iptables --port P\n"
      "         [--interval-ms 2] [--timeout-ms 10000] [--method poll|monitor|both]\n"
      "         [--kubeconfig F --watch-ns NS]\n"
      "         (--kubeconfig F --api create|update --file OBJ.yaml | -- WRITER ARGS...)\n",
      why.c_str());
  std::exit(2);
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "policy_latency_probe: %s\n", why.c_str());
  std::exit(2);
}

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--") {
      for (int j = i + 1; j < argc; j++) {
        o.writer.emplace_back(argv[j]);
      }
      break;
    }
    if (i + 1 >= argc) {
      usage(a + " needs a value");
    }
    std::string v = argv[++i];
    if (a == "--netns") {
      o.netns = v;
    } else if (a == "--dataplane") {
      o.dataplane = v;
    } else if (a == "--port") {
      o.port = v;
    } else if (a == "--interval-ms") {
      o.intervalMs = std::atoi(v.c_str());
    } else if (a == "--timeout-ms") {
      o.timeoutMs = std::atoi(v.c_str());
    } else if (a == "--method") {
      o.poll = v == "poll" || v == "both";
      o.monitor = v == "monitor" || v == "both";
      if (!o.poll && !o.monitor) {
        usage("--method must be poll, monitor or both");
      }
    } else if (a == "--kubeconfig") {
      o.kubeconfig = v;
    } else if (a == "--watch-ns") {
      o.watchNs = v;
    } else if (a == "--api") {
      o.apiVerb = v;
    } else if (a == "--file") {
      o.file = v;
    } else {
      usage("unknown option " + a);
    }
  }
  if (o.netns.empty() || o.port.empty()) {
    usage("--netns and --port are required");
  }
  if (o.dataplane != "nftables" && o.dataplane != "iptables") {
    usage("--dataplane must be nftables or iptables");
  }
  if (o.port.find_first_not_of("0123456789") != std::string::npos) {
    usage("--port must be a number");
  }
  if (o.intervalMs < 0 || o.timeoutMs <= 0) {
    usage("bad --interval-ms or --timeout-ms");
  }
  if (o.apiVerb.empty() == o.writer.empty()) {
    usage("give either --api (with --kubeconfig and --file) or -- WRITER ARGS");
  }
  if (!o.watchNs.empty() && o.kubeconfig.empty()) {
    usage("--watch-ns needs --kubeconfig");
  }
  if (!o.apiVerb.empty() && (o.kubeconfig.empty() || o.file.empty() ||
                             (o.apiVerb != "create" && o.apiVerb != "update"))) {
    usage("--api create|update needs --kubeconfig and --file");
  }
  return o;
}

double msSince(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

// A rule line naming the port: "dport" (nft `tcp dport`, iptables `--dport(s)`) and the port as
// a whole number somewhere on the line.
bool lineMatches(const std::string& line, const std::string& port) {
  if (line.find("dport") == std::string::npos) {
    return false;
  }
  for (size_t pos = line.find(port); pos != std::string::npos; pos = line.find(port, pos + 1)) {
    bool digitBefore = pos > 0 && std::isdigit(static_cast<unsigned char>(line[pos - 1]));
    size_t end = pos + port.size();
    bool digitAfter = end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]));
    if (!digitBefore && !digitAfter) {
      return true;
    }
  }
  return false;
}

bool textMatches(const std::string& text, const std::string& port) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (lineMatches(line, port)) {
      return true;
    }
  }
  return false;
}

// Spawns argv with stdout on a pipe (returned in *readFd) and stderr on /dev/null; the child
// inherits the calling thread's network namespace.
pid_t spawnReading(const std::vector<std::string>& args, int* readFd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> cargv;
  for (const auto& s : args) {
    cargv.push_back(const_cast<char*>(s.c_str()));
  }
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    return -1;
  }
  *readFd = p[0];
  return pid;
}

// Runs argv to the end; its stdout, or nullopt when it could not run.
std::optional<std::string> runCapture(const std::vector<std::string>& args) {
  int fd = -1;
  pid_t pid = spawnReading(args, &fd);
  if (pid < 0) {
    return std::nullopt;
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(fd);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return out;
}

// A one-shot start signal from the main thread to the watchers.
class Gate {
public:
  void open(Clock::time_point t0) {
    std::lock_guard lock(mu_);
    t0_ = t0;
    open_ = true;
    cv_.notify_all();
  }
  Clock::time_point wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
    return t0_;
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  Clock::time_point t0_;
};

// Counts down once per watcher that is set up (or failed to).
class Latch {
public:
  explicit Latch(int n) : n_(n) {}
  void arrive() {
    std::lock_guard lock(mu_);
    n_--;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return n_ <= 0; });
  }

private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
};

struct WatchResult {
  std::string error; // set-up failure
  double seenMs = -1;
  int polls = 0;
  double pollCostMs = 0;
};

void enterNetns(const std::string& path, WatchResult& r) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.error = path + ": " + std::strerror(errno);
    return;
  }
  if (setns(fd, CLONE_NEWNET) != 0) {
    r.error = "setns " + path + ": " + std::strerror(errno);
  }
  close(fd);
}

std::vector<std::string> listCommand(const Options& o) {
  if (o.dataplane == "nftables") {
    return {"nft", "list", "table", "inet", "caracal"};
  }
  return {"iptables-save", "-t", "filter"};
}

// Line-buffered through stdbuf: xtables-monitor leaves its events in the stdio buffer when its
// output is a pipe.
std::vector<std::string> monitorCommand(const Options& o) {
  if (o.dataplane == "nftables") {
    return {"stdbuf", "-oL", "nft", "monitor", "rules"};
  }
  return {"stdbuf", "-oL", "xtables-monitor", "-e", "-4"};
}

void pollWatcher(const Options& o, Gate& gate, Latch& ready, WatchResult& r) {
  enterNetns(o.netns, r);
  if (r.error.empty()) {
    auto base = runCapture(listCommand(o));
    if (!base) {
      r.error = "cannot run " + listCommand(o)[0];
    } else if (textMatches(*base, o.port)) {
      r.error = "a rule with port " + o.port + " is in the kernel before the write";
    }
  }
  ready.arrive();
  Clock::time_point t0 = gate.wait();
  if (!r.error.empty()) {
    return;
  }
  Clock::time_point deadline = t0 + std::chrono::milliseconds(o.timeoutMs);
  double cost = 0;
  while (Clock::now() < deadline && !gAbort) {
    Clock::time_point a = Clock::now();
    auto out = runCapture(listCommand(o));
    Clock::time_point b = Clock::now();
    r.polls++;
    cost += msSince(a, b);
    if (out && textMatches(*out, o.port)) {
      r.seenMs = msSince(t0, b);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.intervalMs));
  }
  r.pollCostMs = r.polls > 0 ? cost / r.polls : 0;
}

void monitorWatcher(const Options& o, Gate& gate, Latch& ready, WatchResult& r) {
  enterNetns(o.netns, r);
  int fd = -1;
  pid_t pid = -1;
  if (r.error.empty()) {
    pid = spawnReading(monitorCommand(o), &fd);
    if (pid < 0) {
      r.error = "cannot run " + monitorCommand(o)[2];
    } else {
      std::this_thread::sleep_for(kMonitorSettle);
    }
  }
  ready.arrive();
  Clock::time_point t0 = gate.wait();
  if (pid < 0) {
    return;
  }
  Clock::time_point deadline = t0 + std::chrono::milliseconds(o.timeoutMs);
  std::string pending;
  char buf[65536];
  bool seen = false;
  while (!seen && !gAbort) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      break;
    }
    pollfd pfd{fd, POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 20)));
    if ((n < 0 && errno == EINTR) || n == 0) {
      continue;
    }
    if (n < 0) {
      r.error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    ssize_t got = read(fd, buf, sizeof buf);
    Clock::time_point at = Clock::now();
    if (got <= 0) {
      r.error = monitorCommand(o)[2] + " ended";
      break;
    }
    pending.append(buf, static_cast<size_t>(got));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (lineMatches(line, o.port)) {
        r.seenMs = msSince(t0, at);
        seen = true;
        break;
      }
    }
  }
  kill(pid, SIGTERM);
  close(fd);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

// True when some "ports" array under `v` holds the port (as a number or a string).
bool hasPort(const Value& v, const std::string& port) {
  if (v.isObject()) {
    for (const auto& [key, child] : v.asObject()) {
      if (key == "ports" && child.isArray()) {
        for (const Value& p : child.asArray()) {
          if ((p.isInt() && std::to_string(p.asInt()) == port) ||
              (p.isString() && p.asString() == port)) {
            return true;
          }
        }
      }
      if (hasPort(child, port)) {
        return true;
      }
    }
  } else if (v.isArray()) {
    for (const Value& child : v.asArray()) {
      if (hasPort(child, port)) {
        return true;
      }
    }
  }
  return false;
}

// The --watch-ns watch: set up before the clock starts, noting the first matching event.
class PolicyWatch {
public:
  std::string start(const Options& o, Gate& gate) {
    auto cfg = caracal::datastore::loadKubeconfig(o.kubeconfig);
    if (!cfg) {
      return cfg.error().message();
    }
    auto client = caracal::datastore::RestClient::fromConfig(*cfg);
    if (!client) {
      return client.error().message();
    }
    client_ = std::move(*client);
    const caracal::api::KindInfo* info =
        caracal::api::findByKind("projectcalico.org/v3", "NetworkPolicy");
    if (info == nullptr) {
      return "no projectcalico.org/v3 NetworkPolicy kind";
    }
    auto listed = client_->list(*info, o.watchNs);
    if (!listed) {
      return "list networkpolicies: " + listed.error().message();
    }
    caracal::datastore::WatchOptions wo;
    wo.resourceVersion = listed->resourceVersion;
    wo.allowBookmarks = false;
    auto h = client_->watch(*info, o.watchNs, wo,
                            [this, &gate, port = o.port](const caracal::datastore::WatchEvent& e) {
                              using Type = caracal::datastore::WatchEvent::Type;
                              if (e.type != Type::Added && e.type != Type::Modified) {
                                return;
                              }
                              const Value* spec = e.object.find("spec");
                              if (spec == nullptr || !hasPort(*spec, port)) {
                                return;
                              }
                              Clock::time_point at = Clock::now();
                              std::lock_guard lock(mu_);
                              if (seenMs_ < 0) {
                                seenMs_ = msSince(gate.wait(), at);
                              }
                            });
    if (!h) {
      return "watch networkpolicies: " + h.error().message();
    }
    handle_ = std::move(*h);
    return "";
  }
  // Waits (until `deadline`) for the event; ms from the start or -1.
  double result(Clock::time_point deadline) {
    while (Clock::now() < deadline && !gAbort) {
      {
        std::lock_guard lock(mu_);
        if (seenMs_ >= 0) {
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (handle_) {
      handle_->stop();
    }
    std::lock_guard lock(mu_);
    return seenMs_;
  }

private:
  std::unique_ptr<caracal::datastore::RestClient> client_;
  caracal::datastore::WatchHandlePtr handle_;
  std::mutex mu_;
  double seenMs_ = -1;
};

// A write's outcome: its duration in ms, or why it failed.
struct WriteResult {
  double ms = -1;
  std::string error;
};

WriteResult writeError(std::string why) { return WriteResult{-1, std::move(why)}; }

// The --api write; the gate opens right before the request.
WriteResult apiWrite(const Options& o, Gate& gate) {
  auto cfg = caracal::datastore::loadKubeconfig(o.kubeconfig);
  if (!cfg) {
    return writeError(cfg.error().message());
  }
  auto client = caracal::datastore::RestClient::fromConfig(*cfg);
  if (!client) {
    return writeError(client.error().message());
  }
  std::ifstream in(o.file);
  std::stringstream text;
  text << in.rdbuf();
  auto docs = caracal::parseYamlDocuments(text.str());
  if (!docs || docs->empty()) {
    return writeError(o.file + ": " + (docs ? std::string("empty") : docs.error().message()));
  }
  Value obj = docs->front();
  const caracal::api::KindInfo* info =
      caracal::api::findByKind(obj.getString("apiVersion"), obj.getString("kind"));
  if (info == nullptr) {
    return writeError(o.file + ": unknown kind " + obj.getString("apiVersion") + " " +
                      obj.getString("kind"));
  }
  std::string ns = obj.getString("metadata.namespace");
  std::string name = obj.getString("metadata.name");
  // Opens the connection (and, for an update, learns the stored resourceVersion) off the clock.
  auto current = (*client)->get(*info, ns, name);
  if (o.apiVerb == "update") {
    if (!current) {
      return writeError("get " + ns + "/" + name + ": " + current.error().message());
    }
    obj["metadata"].set("resourceVersion", Value(current->getString("metadata.resourceVersion")));
  }
  Clock::time_point t0 = Clock::now();
  gate.open(t0);
  auto written =
      o.apiVerb == "create" ? (*client)->create(*info, obj) : (*client)->update(*info, obj);
  double ms = msSince(t0, Clock::now());
  if (!written) {
    return writeError(o.apiVerb + " " + ns + "/" + name + ": " + written.error().message());
  }
  return WriteResult{ms, ""};
}

// Runs the writer command (stdout to /dev/null, stderr inherited); the gate opens right before.
WriteResult commandWrite(const Options& o, Gate& gate) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> cargv;
  for (const auto& s : o.writer) {
    cargv.push_back(const_cast<char*>(s.c_str()));
  }
  cargv.push_back(nullptr);
  pid_t pid = -1;
  Clock::time_point t0 = Clock::now();
  gate.open(t0);
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    return writeError("cannot run " + o.writer[0] + ": " + std::strerror(rc));
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  double ms = msSince(t0, Clock::now());
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return writeError(o.writer[0] + " failed");
  }
  return WriteResult{ms, ""};
}

} // namespace

int main(int argc, char** argv) {
  Options o = parseArgs(argc, argv);
  Gate gate;
  Latch ready((o.poll ? 1 : 0) + (o.monitor ? 1 : 0));
  WatchResult polled, monitored;
  std::vector<std::thread> threads;
  if (o.poll) {
    threads.emplace_back([&] { pollWatcher(o, gate, ready, polled); });
  }
  if (o.monitor) {
    threads.emplace_back([&] { monitorWatcher(o, gate, ready, monitored); });
  }
  ready.wait();
  WriteResult w;
  for (const WatchResult* r : {&polled, &monitored}) {
    if (w.error.empty() && !r->error.empty()) {
      w.error = r->error;
    }
  }
  PolicyWatch watch;
  if (w.error.empty() && !o.watchNs.empty()) {
    w.error = watch.start(o, gate);
  }
  Clock::time_point started = Clock::now();
  if (w.error.empty()) {
    w = o.apiVerb.empty() ? commandWrite(o, gate) : apiWrite(o, gate);
  }
  if (!w.error.empty()) {
    gAbort = true;
    gate.open(Clock::now());
  }
  double watchMs = -1;
  if (!o.watchNs.empty()) {
    watchMs = watch.result(started + std::chrono::milliseconds(o.timeoutMs) +
                           std::chrono::milliseconds(static_cast<int>(std::max(w.ms, 0.0))));
  }
  for (auto& t : threads) {
    t.join();
  }
  if (w.error.empty() && !monitored.error.empty()) {
    w.error = monitored.error;
  }
  if (!w.error.empty()) {
    fail(w.error);
  }
  std::printf("write_ms %.2f", w.ms);
  if (!o.watchNs.empty()) {
    std::printf(" watch_ms %.2f", watchMs);
  }
  if (o.poll) {
    std::printf(" poll_ms %.2f polls %d poll_cost_ms %.2f", polled.seenMs, polled.polls,
                polled.pollCostMs);
  }
  if (o.monitor) {
    std::printf(" monitor_ms %.2f", monitored.seenMs);
  }
  std::printf("\n");
  bool ok = (o.watchNs.empty() || watchMs >= 0) && (!o.poll || polled.seenMs >= 0) &&
            (!o.monitor || monitored.seenMs >= 0);
  return ok ? 0 : 1;
}
