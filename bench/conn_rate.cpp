// conn_rate: TCP connection rate between two network namespaces (netperf TCP_CRR style).
//
//   conn_rate server --port P [--threads T] [--ready-file F]
//   conn_rate client --to IP:PORT [--parallel N] [--seconds S] [--warmup W]
//
// Each client loop repeats connect -> write 1 byte -> read 1 byte -> wait for the server's close
// -> close, for S seconds after W seconds of warm-up, and the client prints one line:
//   conn/s 4210.3 connections 21052 errors 0 seconds 5.000 p50_us 452 p99_us 1210
// The server answers every connection with one byte and closes first, so TIME_WAIT stays on the
// server side and the client never runs out of ephemeral ports however long it runs. Every
// connection is a new flow, so each one goes through the whole firewall path (the first packet
// of a flow is the one that walks the policy chains; the rest hit conntrack).
//
// Blocking sockets, one thread per loop: with a handful of loops that is the cheapest way on a
// 2-core machine, and it keeps the program free of an event loop.
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIoTimeoutMs = 2000;
constexpr int kBacklog = 4096;

struct Options {
  std::string mode;
  uint16_t port = 0;
  int threads = 4;
  std::string readyFile;
  sockaddr_in to{};
  int parallel = 4;
  double seconds = 5;
  double warmup = 0.5;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "conn_rate: %s\n"
               "usage: conn_rate server --port P [--threads T] [--ready-file F]\n"
               "       conn_rate client --to IP:PORT [--parallel N] [--seconds S] [--warmup W]\n",
               why.c_str());
  std::exit(2);
}

bool parseAddress(const std::string& text, sockaddr_in& out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  out.sin_family = AF_INET;
  int port = std::atoi(text.c_str() + colon + 1);
  if (port <= 0 || port > 65535) {
    return false;
  }
  out.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

Options parseOptions(int argc, char** argv) {
  if (argc < 2) {
    usage("missing mode");
  }
  Options o;
  o.mode = argv[1];
  if (o.mode != "server" && o.mode != "client") {
    usage("mode must be server or client");
  }
  bool haveTo = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      usage(a + " needs a value");
    }
    std::string v = argv[++i];
    if (a == "--port") {
      int p = std::atoi(v.c_str());
      if (p <= 0 || p > 65535) {
        usage("bad --port " + v);
      }
      o.port = static_cast<uint16_t>(p);
    } else if (a == "--threads") {
      o.threads = std::max(1, std::atoi(v.c_str()));
    } else if (a == "--ready-file") {
      o.readyFile = v;
    } else if (a == "--to") {
      if (!parseAddress(v, o.to)) {
        usage("bad --to " + v + " (want IPv4:PORT)");
      }
      haveTo = true;
    } else if (a == "--parallel") {
      o.parallel = std::max(1, std::atoi(v.c_str()));
    } else if (a == "--seconds") {
      o.seconds = std::atof(v.c_str());
    } else if (a == "--warmup") {
      o.warmup = std::max(0.0, std::atof(v.c_str()));
    } else {
      usage("unknown option " + a);
    }
  }
  if (o.mode == "server" && o.port == 0) {
    usage("server needs --port");
  }
  if (o.mode == "client" && (!haveTo || o.seconds <= 0)) {
    usage("client needs --to and a positive --seconds");
  }
  return o;
}

void setTimeouts(int fd) {
  timeval tv{kIoTimeoutMs / 1000, (kIoTimeoutMs % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// ---- server ----------------------------------------------------------------------------------

void serveLoop(int listenFd) {
  while (true) {
    int fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        continue;
      }
      std::perror("conn_rate: accept");
      std::exit(1);
    }
    setTimeouts(fd);
    char b = 0;
    if (read(fd, &b, 1) == 1) {
      if (write(fd, &b, 1) != 1) {
        // The client went away; nothing to answer.
      }
    }
    close(fd);
  }
}

int runServer(const Options& o) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("conn_rate: socket");
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(o.port);
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd, kBacklog) != 0) {
    std::perror("conn_rate: bind/listen");
    return 1;
  }
  if (!o.readyFile.empty()) {
    std::ofstream(o.readyFile) << getpid() << "\n";
  }
  std::vector<std::thread> workers;
  for (int i = 0; i < o.threads; ++i) {
    workers.emplace_back(serveLoop, fd);
  }
  for (auto& w : workers) {
    w.join();
  }
  return 0;
}

// ---- client ----------------------------------------------------------------------------------

struct LoopResult {
  uint64_t connections = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latencyUs; // connect to the server's close, measured connections only
};

// One connection; true when the byte came back and the server closed.
bool oneConnection(const sockaddr_in& to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  setTimeouts(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  bool ok = false;
  char b = 'x';
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0 &&
      write(fd, &b, 1) == 1 && read(fd, &b, 1) == 1) {
    // Wait for the server's FIN so that this side closes second (no TIME_WAIT here).
    char rest = 0;
    ok = read(fd, &rest, 1) == 0;
  }
  close(fd);
  return ok;
}

void clientLoop(const Options& o, const std::atomic<bool>& measuring, const std::atomic<bool>& done,
                LoopResult& r) {
  r.latencyUs.reserve(1 << 16);
  while (!done.load(std::memory_order_relaxed)) {
    bool counted = measuring.load(std::memory_order_relaxed);
    auto t0 = Clock::now();
    bool ok = oneConnection(o.to);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    // A connection that straddles the end of the window still counts: the window is long
    // enough for that to be noise, and the last one per loop must not be lost either way.
    if (!counted) {
      continue;
    }
    if (ok) {
      r.connections++;
      r.latencyUs.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
    } else {
      r.errors++;
      // A refused or reset connection returns at once: do not spin on it.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

uint32_t percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int runClient(const Options& o) {
  std::atomic<bool> measuring{false};
  std::atomic<bool> done{false};
  std::vector<LoopResult> results(static_cast<size_t>(o.parallel));
  std::vector<std::thread> loops;
  for (auto& r : results) {
    loops.emplace_back(clientLoop, std::cref(o), std::cref(measuring), std::cref(done),
                       std::ref(r));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  auto start = Clock::now();
  measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  measuring = false;
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  done = true;
  for (auto& t : loops) {
    t.join();
  }
  uint64_t conns = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> lat;
  for (auto& r : results) {
    conns += r.connections;
    errors += r.errors;
    lat.insert(lat.end(), r.latencyUs.begin(), r.latencyUs.end());
  }
  uint32_t p50 = percentile(lat, 0.50);
  uint32_t p99 = percentile(lat, 0.99);
  std::printf("conn/s %.1f connections %llu errors %llu seconds %.3f p50_us %u p99_us %u\n",
              static_cast<double>(conns) / elapsed, static_cast<unsigned long long>(conns),
              static_cast<unsigned long long>(errors), elapsed, p50, p99);
  // No connection at all is a failed measurement, not a rate of zero.
  return conns > 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  Options o = parseOptions(argc, argv);
  return o.mode == "server" ? runServer(o) : runClient(o);
}
