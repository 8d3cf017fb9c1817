#include "bench/bench_support.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <signal.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef CARACAL_BENCH_APISERVER
#define CARACAL_BENCH_APISERVER "caracal-apiserver"
#endif

namespace caracal::bench {

namespace fs = std::filesystem;

namespace {

// What the signal handler cleans up. Fixed-size slots so that the handler never allocates to find
// them; a slot holds a pid (servers) or an index into the dir table (directories).
constexpr size_t kMaxSlots = 16;
std::atomic<pid_t> gPids[kMaxSlots];
std::mutex gDirsMu;
std::array<std::string, kMaxSlots> gDirs;
std::atomic<bool> gDirUsed[kMaxSlots];

void registerPid(pid_t pid) {
  for (auto& p : gPids) {
    pid_t zero = 0;
    if (p.compare_exchange_strong(zero, pid)) {
      return;
    }
  }
}

void unregisterPid(pid_t pid) {
  for (auto& p : gPids) {
    pid_t want = pid;
    if (p.compare_exchange_strong(want, 0)) {
      return;
    }
  }
}

void registerDir(const std::string& path) {
  std::lock_guard<std::mutex> lk(gDirsMu);
  for (size_t i = 0; i < kMaxSlots; ++i) {
    if (!gDirUsed[i].load()) {
      gDirs[i] = path;
      gDirUsed[i].store(true);
      return;
    }
  }
}

void unregisterDir(const std::string& path) {
  std::lock_guard<std::mutex> lk(gDirsMu);
  for (size_t i = 0; i < kMaxSlots; ++i) {
    if (gDirUsed[i].load() && gDirs[i] == path) {
      gDirUsed[i].store(false);
      gDirs[i].clear();
      return;
    }
  }
}

void onSignal(int sig) {
  for (auto& p : gPids) {
    pid_t pid = p.load();
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  // Removing a tree is not async-signal-safe in general, but the process ends right after and
  // nothing else runs meanwhile that could hold the allocator in a broken state for long enough to
  // matter for a benchmark; leaving temp dirs behind is the worse outcome.
  for (size_t i = 0; i < kMaxSlots; ++i) {
    if (gDirUsed[i].load()) {
      std::error_code ec;
      fs::remove_all(gDirs[i], ec);
    }
  }
  _exit(128 + sig);
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? std::string() : s.substr(b);
}

} // namespace

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void installCleanupHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    sigaction(sig, &sa, nullptr);
  }
  // A watcher connection the server closes must not kill the benchmark.
  signal(SIGPIPE, SIG_IGN);
}

uint64_t raiseFdLimit(uint64_t want) {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 0;
  }
  rlim_t target = static_cast<rlim_t>(want);
  if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) {
    target = rl.rlim_max;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= target) {
    return rl.rlim_cur == RLIM_INFINITY ? want : rl.rlim_cur;
  }
  rl.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

std::string defaultApiserverBinary() {
  if (const char* env = std::getenv("CARACAL_APISERVER"); env && *env) {
    return env;
  }
  return CARACAL_BENCH_APISERVER;
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<TempDir>> TempDir::make(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    return Status(Code::Internal, "mkdtemp " + tmpl + ": " + std::strerror(errno));
  }
  std::string path(buf.data());
  registerDir(path);
  return std::unique_ptr<TempDir>(new TempDir(path));
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
  unregisterDir(path_);
}

// ---------------------------------------------------------------------------------------------

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::NotFound, "cannot read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fileTail(const std::string& path, size_t maxBytes) {
  auto text = readFile(path);
  if (!text) {
    return "";
  }
  return text->size() > maxBytes ? text->substr(text->size() - maxBytes) : *text;
}

Result<std::unique_ptr<ApiServer>> ApiServer::start(ApiServerOptions opts) {
  if (access(opts.binary.c_str(), X_OK) != 0) {
    return Status(Code::NotFound, "caracal-apiserver binary not found or not executable: " +
                                      opts.binary + " (build it, or set --apiserver)");
  }
  std::string kubeconfig = opts.dataDir + "/admin.kubeconfig";
  std::error_code ec;
  fs::remove(kubeconfig, ec);

  std::vector<std::string> args = {opts.binary, "--data-dir", opts.dataDir, "--listen",
                                   "127.0.0.1:0"};
  args.insert(args.end(), opts.extraArgs.begin(), opts.extraArgs.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  int logFd = open(opts.logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logFd < 0) {
    return Status(Code::Internal, "open " + opts.logPath + ": " + std::strerror(errno));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(logFd);
    return Status(Code::Internal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // The server must not outlive the benchmark, however the benchmark ends.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(127);
    }
    signal(SIGPIPE, SIG_DFL);
    int nullFd = open("/dev/null", O_RDONLY);
    dup2(nullFd, 0);
    dup2(logFd, 1);
    dup2(logFd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(logFd);
  registerPid(pid);
  std::unique_ptr<ApiServer> server(new ApiServer(std::move(opts), pid));

  auto deadline = Clock::now() + server->opts_.startTimeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      unregisterPid(pid);
      server->pid_ = 0;
      return Status(Code::Unavailable, "caracal-apiserver exited during start-up; its log:\n" +
                                           fileTail(server->opts_.logPath));
    }
    if (fs::exists(kubeconfig, ec)) {
      break;
    }
    if (Clock::now() > deadline) {
      return Status(Code::Timeout, "caracal-apiserver did not write " + kubeconfig + " within " +
                                       std::to_string(server->opts_.startTimeout.count()) +
                                       " s; its log:\n" + fileTail(server->opts_.logPath));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  ASSIGN_OR_RETURN(std::string kc, readFile(kubeconfig));
  bool tls = std::find(server->opts_.extraArgs.begin(), server->opts_.extraArgs.end(),
                       "--insecure-http") == server->opts_.extraArgs.end();
  server->endpoint_.tls = tls;
  const std::string marker = tls ? "server: https://127.0.0.1:" : "server: http://127.0.0.1:";
  size_t at = kc.find(marker);
  if (at == std::string::npos) {
    return Status(Code::Internal, kubeconfig + " has no \"" + marker + "PORT\" line");
  }
  server->endpoint_.port =
      static_cast<uint16_t>(std::strtoul(kc.c_str() + at + marker.size(), nullptr, 10));
  ASSIGN_OR_RETURN(std::string token, readFile(server->opts_.dataDir + "/token"));
  server->endpoint_.token = trimmed(token);
  ASSIGN_OR_RETURN(server->endpoint_.caPem, readFile(server->opts_.dataDir + "/ca.crt"));
  if (server->endpoint_.port == 0 || server->endpoint_.token.empty()) {
    return Status(Code::Internal, "could not read the port or token of the server");
  }
  return server;
}

Status ApiServer::stop(std::chrono::seconds grace) {
  if (pid_ <= 0) {
    return Status::ok();
  }
  pid_t pid = pid_;
  pid_ = 0;
  kill(pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      break;
    }
    if (r < 0) {
      unregisterPid(pid);
      return Status(Code::Internal, std::string("waitpid: ") + std::strerror(errno));
    }
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      unregisterPid(pid);
      return Status(Code::Timeout, "caracal-apiserver did not stop within " +
                                       std::to_string(grace.count()) + " s of SIGTERM; killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  unregisterPid(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status(Code::Internal,
                  "caracal-apiserver exited abnormally (status " + std::to_string(status) + ")");
  }
  return Status::ok();
}

ApiServer::~ApiServer() {
  if (pid_ > 0) {
    (void)stop(std::chrono::seconds(5));
  }
}

uint64_t ApiServer::rssKib() const {
  auto text = readFile("/proc/" + std::to_string(pid_) + "/status");
  if (!text) {
    return 0;
  }
  size_t at = text->find("VmRSS:");
  return at == std::string::npos ? 0 : std::strtoull(text->c_str() + at + 6, nullptr, 10);
}

double ApiServer::cpuSeconds() const {
  auto text = readFile("/proc/" + std::to_string(pid_) + "/stat");
  if (!text) {
    return 0;
  }
  // Fields after the command name (which may contain spaces) start after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream ss(text->substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (ss >> tok) {
    f.push_back(tok);
  }
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after "state" (field 3).
  if (f.size() < 13) {
    return 0;
  }
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr)) / ticks;
}

int ApiServer::threadCount() const {
  auto text = readFile("/proc/" + std::to_string(pid_) + "/status");
  if (!text) {
    return 0;
  }
  size_t at = text->find("Threads:");
  return at == std::string::npos ? 0 : std::atoi(text->c_str() + at + 8);
}

// ---------------------------------------------------------------------------------------------

namespace {

template <class T> double pick(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

template <class T> Summary summarizeSorted(const std::vector<T>& v) {
  Summary s;
  s.count = v.size();
  if (v.empty()) {
    return s;
  }
  long double sum = 0;
  for (const auto& x : v) {
    sum += static_cast<long double>(x);
  }
  s.min = static_cast<double>(v.front());
  s.max = static_cast<double>(v.back());
  s.mean = static_cast<double>(sum / static_cast<long double>(v.size()));
  s.p50 = pick(v, 0.50);
  s.p90 = pick(v, 0.90);
  s.p99 = pick(v, 0.99);
  s.p999 = pick(v, 0.999);
  return s;
}

} // namespace

Summary summarize(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  return summarizeSorted(v);
}

Summary summarizeU32(std::vector<uint32_t>& v) {
  std::sort(v.begin(), v.end());
  return summarizeSorted(v);
}

double median(std::vector<double> v) { return summarize(v).p50; }

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmtBytes(double bytes) {
  if (bytes >= 1e9) {
    return fmt(bytes / 1e9, 2) + " GB";
  }
  if (bytes >= 1e6) {
    return fmt(bytes / 1e6, 1) + " MB";
  }
  if (bytes >= 1e3) {
    return fmt(bytes / 1e3, 1) + " kB";
  }
  return fmt(bytes, 0) + " B";
}

std::string machineDescription() {
  std::string out;
  std::string model;
  if (auto cpu = readFile("/proc/cpuinfo")) {
    size_t at = cpu->find("model name");
    if (at != std::string::npos) {
      size_t colon = cpu->find(':', at);
      size_t eol = cpu->find('\n', at);
      model = trimmed(cpu->substr(colon + 1, eol - colon - 1));
    }
  }
  out += "cpu: " + (model.empty() ? std::string("unknown") : model) + ", " +
         std::to_string(std::thread::hardware_concurrency()) + " logical cores\n";
  if (auto mem = readFile("/proc/meminfo")) {
    size_t at = mem->find("MemTotal:");
    if (at != std::string::npos) {
      double kib = std::strtod(mem->c_str() + at + 9, nullptr);
      out += "memory: " + fmt(kib / 1024 / 1024, 1) + " GiB\n";
    }
  }
  struct utsname u {};
  if (uname(&u) == 0) {
    out += std::string("kernel: ") + u.sysname + " " + u.release + " " + u.machine + "\n";
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

} // namespace caracal::bench
