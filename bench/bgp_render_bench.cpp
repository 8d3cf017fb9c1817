// confd rendering cost: renderBirdConfig() for large clusters, and what `bird -p` (the parse-only
// validation the config writer runs before every reload) costs on the result.
//
//   bench_bgp_render [--nodes 1000] [--repeats 30] [--bird-repeats 10] [--bird /usr/sbin/bird]
//                    [--keep DIR]
//
// Scenarios (all with one IPPool 192.168.0.0/16, blocks /26, and one affine block per node):
//   mesh      full node-to-node mesh: this node plus N-1 peers (N-1 Mesh_ sessions);
//   rr-client mesh off, 3 route reflectors (Nodes with spec.bgp.routeReflectorClusterID and label
//             route-reflector=true), one BGPPeer {nodeSelector: all(), peerSelector:
//             has(route-reflector)}; rendered for an ordinary node;
//   rr-reflector the same objects, rendered for a reflector (sessions to every node).
// Baseline in the same run: the same scenarios with 3 nodes (the fixed cost of a render and of
// starting bird). Render figures are medians and p90 over --repeats renders of the same inputs;
// `bird -p -c FILE` is timed as a whole process (fork + exec + parse) over --bird-repeats runs,
// after one untimed run.
// The rendered files are written to a private temporary directory (removed at the end) or, with
// --keep DIR, to DIR (kept). Exits non-zero when a render or a `bird -p` fails.

#include "bench/bench_support.h"
#include "common/value.h"
#include "confd/render.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using caracal::Value;
using caracal::bench::Clock;
using caracal::confd::BirdConfig;
using caracal::confd::BirdInputs;
namespace fs = std::filesystem;

using caracal::bench::percentile;
using caracal::bench::secondsSince;

// Node i's address: 10.1.0.0/16, skipping .0 and .255 of each /24.
std::string nodeIp(int i) {
  return "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}

// Node i's affine block: the i-th /26 of 192.168.0.0/16.
std::string nodeBlock(int i) {
  int base = i * 64;
  return "192.168." + std::to_string((base >> 8) & 0xff) + "." + std::to_string(base & 0xff) +
         "/26";
}

std::string nodeName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "node-%04d", i);
  return buf;
}

// A Calico API object: apiVersion, kind, metadata and spec.
Value makeObject(const std::string& kind, Value meta, Value spec) {
  Value obj = Value::object();
  obj.set("apiVersion", "projectcalico.org/v3");
  obj.set("kind", kind);
  obj.set("metadata", std::move(meta));
  obj.set("spec", std::move(spec));
  return obj;
}

Value metaNamed(const std::string& name) {
  Value meta = Value::object();
  meta.set("name", name);
  return meta;
}

Value makeNode(int i, bool reflector) {
  Value meta = metaNamed(nodeName(i));
  if (reflector) {
    Value labels = Value::object();
    labels.set("route-reflector", "true");
    meta.set("labels", std::move(labels));
  }
  Value bgp = Value::object();
  bgp.set("ipv4Address", nodeIp(i) + "/16");
  if (reflector) {
    bgp.set("routeReflectorClusterID", "244.0.0.1");
  }
  Value spec = Value::object();
  spec.set("bgp", std::move(bgp));
  return makeObject("Node", std::move(meta), std::move(spec));
}

Value makePool() {
  Value spec = Value::object();
  spec.set("cidr", "192.168.0.0/16");
  spec.set("blockSize", 26);
  spec.set("natOutgoing", true);
  return makeObject("IPPool", metaNamed("default-ipv4-ippool"), std::move(spec));
}

// Full mesh: `nodes` Nodes, rendered for node 0.
BirdInputs meshInputs(int nodes) {
  BirdInputs in;
  in.nodeName = nodeName(0);
  for (int i = 0; i < nodes; ++i) {
    in.nodes.push_back(makeNode(i, false));
  }
  in.pools.push_back(makePool());
  in.affineBlocks.push_back(nodeBlock(0));
  return in;
}

// Route reflectors: nodes 0..reflectors-1 reflect; rendered for `self`.
BirdInputs rrInputs(int nodes, int reflectors, int self) {
  BirdInputs in;
  in.nodeName = nodeName(self);
  for (int i = 0; i < nodes; ++i) {
    in.nodes.push_back(makeNode(i, i < reflectors));
  }
  in.pools.push_back(makePool());
  in.affineBlocks.push_back(nodeBlock(self));

  Value spec = Value::object();
  spec.set("nodeToNodeMeshEnabled", false);
  spec.set("asNumber", 64512);
  in.defaultConfig = makeObject("BGPConfiguration", metaNamed("default"), std::move(spec));

  Value pspec = Value::object();
  pspec.set("nodeSelector", "all()");
  pspec.set("peerSelector", "has(route-reflector)");
  in.peers.push_back(makeObject("BGPPeer", metaNamed("to-route-reflectors"), std::move(pspec)));
  return in;
}

struct RenderFigures {
  bool ok = false;
  std::string error;
  std::string text;
  size_t sessions = 0;
  size_t warnings = 0;
  std::vector<double> seconds;
};

size_t countSessions(const std::string& text) {
  size_t n = 0;
  for (size_t pos = text.find("\nprotocol bgp "); pos != std::string::npos;
       pos = text.find("\nprotocol bgp ", pos + 1)) {
    ++n;
  }
  return n;
}

RenderFigures timeRender(const BirdInputs& in, int repeats) {
  RenderFigures f;
  // One untimed render first: warms the allocator and caches, and gives the text.
  auto first = caracal::confd::renderBirdConfig(in);
  if (!first) {
    f.error = first.status().message();
    return f;
  }
  f.text = first->text;
  f.warnings = first->warnings.size();
  f.sessions = countSessions(f.text);
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    auto out = caracal::confd::renderBirdConfig(in);
    double s = secondsSince(t0);
    if (!out || out->text != f.text) {
      f.error = out ? "the output differs between two renders of the same inputs"
                    : out.status().message();
      return f;
    }
    f.seconds.push_back(s);
  }
  f.ok = true;
  return f;
}

// Runs `bird -p -c file` (stdout/stderr to `log`); returns its wall time, or a negative value when
// it fails.
double timeBirdParse(const std::string& bird, const std::string& file, const std::string& log) {
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out) {
      ::dup2(::fileno(stdout), 2);
    }
    ::execl(bird.c_str(), bird.c_str(), "-p", "-c", file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  double s = secondsSince(t0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? s : -1;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Prints one result line now and keeps it for the summary at the end.
void report(const char* line, std::vector<std::string>& summary) {
  std::printf("  %s\n", line);
  std::fflush(stdout);
  summary.push_back(line);
}

} // namespace

int main(int argc, char** argv) {
  int nodes = 1000;
  int repeats = 30;
  int birdRepeats = 10;
  int reflectors = 3;
  std::string bird = "/usr/sbin/bird";
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--nodes") {
      nodes = std::max(4, std::atoi(next().c_str()));
    } else if (a == "--repeats") {
      repeats = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--bird-repeats") {
      birdRepeats = std::max(0, std::atoi(next().c_str()));
    } else if (a == "--bird") {
      bird = next();
    } else if (a == "--keep") {
      keep = next();
    } else {
      std::fprintf(stderr, "usage: bench_bgp_render [--nodes N] [--repeats R] [--bird-repeats B] "
                           "[--bird PATH] [--keep DIR]\n");
      return 2;
    }
  }

  std::string dir;
  if (keep.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/caracal-bgp-render-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  } else {
    dir = keep;
    fs::create_directories(dir);
  }
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) {
        std::error_code ec;
        fs::remove_all(path, ec);
      }
    }
  } cleanup{keep.empty() ? dir : ""};

  struct Scenario {
    std::string name;
    int nodes;
    BirdInputs in;
  };
  std::vector<Scenario> scenarios;
  for (int n : {3, nodes}) {
    scenarios.push_back({"mesh", n, meshInputs(n)});
    scenarios.push_back({"rr-client", n, rrInputs(n, std::min(reflectors, n - 1), n - 1)});
    scenarios.push_back({"rr-reflector", n, rrInputs(n, std::min(reflectors, n - 1), 0)});
  }

  std::printf("bench_bgp_render: renderBirdConfig() and `bird -p` (%d render repeats, %d bird "
              "repeats)\n",
              repeats, birdRepeats);
  int failures = 0;
  std::vector<std::string> summary;
  for (Scenario& s : scenarios) {
    RenderFigures f = timeRender(s.in, repeats);
    if (!f.ok) {
      std::fprintf(stderr, "render %s (%d nodes): %s\n", s.name.c_str(), s.nodes, f.error.c_str());
      ++failures;
      continue;
    }
    std::string file = dir + "/" + s.name + "-" + std::to_string(s.nodes) + ".conf";
    {
      std::ofstream out(file, std::ios::trunc);
      out << f.text;
    }
    char line[512];
    std::snprintf(line, sizeof line,
                  "render %-12s %4d nodes: median %8.3f ms  p90 %8.3f ms  (%zu sessions, "
                  "%zu bytes, %zu warnings)",
                  s.name.c_str(), s.nodes, percentile(f.seconds, 0.5) * 1e3,
                  percentile(f.seconds, 0.9) * 1e3, f.sessions, f.text.size(), f.warnings);
    report(line, summary);

    // bird -p for the mesh and the reflector (the largest configs) and the 3-node floor.
    if (birdRepeats == 0 || s.name == "rr-client") {
      continue;
    }
    std::vector<double> parse;
    std::string log = file + ".bird-p.log";
    timeBirdParse(bird, file, log); // untimed: brings the binary and the file into the page cache
    for (int r = 0; r < birdRepeats; ++r) {
      double t = timeBirdParse(bird, file, log);
      if (t < 0) {
        std::fprintf(stderr, "%s -p -c %s failed:\n%s\n", bird.c_str(), file.c_str(),
                     readAll(log).c_str());
        ++failures;
        break;
      }
      parse.push_back(t);
    }
    std::remove(log.c_str());
    if (parse.size() == static_cast<size_t>(birdRepeats)) {
      std::snprintf(line, sizeof line,
                    "bird -p %-11s %4d nodes: median %8.1f ms  p90 %8.1f ms  (process start + "
                    "parse of %zu bytes)",
                    s.name.c_str(), s.nodes, percentile(parse, 0.5) * 1e3,
                    percentile(parse, 0.9) * 1e3, f.text.size());
      report(line, summary);
    }
  }
  if (!keep.empty()) {
    std::printf("rendered files kept in %s\n", dir.c_str());
  }
  std::printf("summary\n");
  for (const std::string& l : summary) {
    std::printf("%s\n", l.c_str());
  }
  return failures == 0 ? 0 : 1;
}
