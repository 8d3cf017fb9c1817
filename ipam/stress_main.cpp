// ipam_stress: a load driver for block IPAM against a live API server, one process per simulated
// CNI invocation stream.
//
//   ipam_stress run --kubeconfig K --node NODE --count N --prefix P --out FILE
//                   [--create-pods] [--ready-file F --start-file S]
//       Optionally creates the Node and one Pod per allocation (outside the timed part), writes
//       READY-FILE, waits for START-FILE to exist, then allocates N addresses one by one (handle
//       k8s-pod-network.P-i, attributes namespace/pod/node) and writes "IP HANDLE" lines to FILE.
//   ipam_stress verify --kubeconfig K FILE...
//       Checks that every address is listed once, that each address resolves to its handle and
//       each handle to exactly its address.
#include "api/netaddr.h"
#include "api/registry.h"
#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"
#include "ipam/ipam.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace caracal;

struct Flags {
  std::string command;
  std::string kubeconfig;
  std::string node;
  std::string prefix = "stress";
  std::string out;
  std::string readyFile;
  std::string startFile;
  int count = 100;
  bool createPods = false;
  std::vector<std::string> files;
};

int usage() {
  std::cerr << "usage: ipam_stress run --kubeconfig K --node NODE --count N --prefix P --out FILE "
               "[--create-pods] [--ready-file F --start-file S]\n"
               "       ipam_stress verify --kubeconfig K FILE...\n";
  return 2;
}

bool parseFlags(int argc, char** argv, Flags& f) {
  if (argc < 2) {
    return false;
  }
  f.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string count;
    if (a == "--kubeconfig") {
      if (!value(f.kubeconfig)) {
        return false;
      }
    } else if (a == "--node") {
      if (!value(f.node)) {
        return false;
      }
    } else if (a == "--prefix") {
      if (!value(f.prefix)) {
        return false;
      }
    } else if (a == "--out") {
      if (!value(f.out)) {
        return false;
      }
    } else if (a == "--ready-file") {
      if (!value(f.readyFile)) {
        return false;
      }
    } else if (a == "--start-file") {
      if (!value(f.startFile)) {
        return false;
      }
    } else if (a == "--count") {
      if (!value(count)) {
        return false;
      }
      f.count = std::stoi(count);
    } else if (a == "--create-pods") {
      f.createPods = true;
    } else if (!a.empty() && a[0] != '-') {
      f.files.push_back(a);
    } else {
      return false;
    }
  }
  return !f.kubeconfig.empty();
}

Result<std::unique_ptr<datastore::RestClient>> connect(const std::string& kubeconfig) {
  datastore::ConfigOverrides o;
  o.kubeconfig = kubeconfig;
  ASSIGN_OR_RETURN(datastore::ClientConfig cfg,
                   datastore::resolveClientConfig(o, datastore::processEnv));
  return datastore::RestClient::fromConfig(cfg);
}

Status createPrerequisites(datastore::RestClient& client, const Flags& f) {
  Value node = Value::object();
  node.set("apiVersion", "projectcalico.org/v3");
  node.set("kind", "Node");
  node["metadata"].set("name", f.node);
  node.set("spec", Value::object());
  auto n = client.create(*api::findByKind("projectcalico.org/v3", "Node"), node);
  if (!n && n.code() != Code::AlreadyExists) {
    return n.error().withContext("creating node " + f.node);
  }
  const api::KindInfo& podKind = *api::findByKind("v1", "Pod");
  for (int i = 0; i < f.count; ++i) {
    Value pod = Value::object();
    pod.set("apiVersion", "v1");
    pod.set("kind", "Pod");
    pod["metadata"].set("name", f.prefix + "-" + std::to_string(i));
    pod["metadata"].set("namespace", "default");
    pod["spec"].set("nodeName", f.node);
    Value c = Value::object();
    c.set("name", "c");
    c.set("image", "busybox");
    pod["spec"].set("containers", Value(Value::Array{c}));
    auto r = client.create(podKind, pod);
    if (!r && r.code() != Code::AlreadyExists) {
      return r.error().withContext("creating pod " + f.prefix + "-" + std::to_string(i));
    }
  }
  return Status::ok();
}

int runLoad(const Flags& f) {
  if (f.node.empty() || f.out.empty() || f.count < 1) {
    return usage();
  }
  auto client = connect(f.kubeconfig);
  if (!client) {
    std::cerr << "ipam_stress: " << client.error().str() << "\n";
    return 1;
  }
  if (f.createPods) {
    if (Status st = createPrerequisites(**client, f); !st.isOk()) {
      std::cerr << "ipam_stress: " << st.str() << "\n";
      return 1;
    }
  }
  if (!f.readyFile.empty()) {
    std::ofstream(f.readyFile) << "ready\n";
  }
  if (!f.startFile.empty()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (!std::filesystem::exists(f.startFile)) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "ipam_stress: no start signal\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  auto store = ipam::makeRestStore(**client);
  ipam::Ipam ipam(*store);
  std::vector<std::pair<std::string, std::string>> results;
  auto start = std::chrono::steady_clock::now();
  int failures = 0;
  for (int i = 0; i < f.count; ++i) {
    ipam::AssignArgs a;
    std::string pod = f.prefix + "-" + std::to_string(i);
    a.handle = ipam::podHandle(pod);
    a.node = f.node;
    a.attrs = {{"namespace", "default"}, {"pod", pod}, {"node", f.node}};
    auto r = ipam.autoAssign(a);
    if (!r || r->size() != 1) {
      std::cerr << "ipam_stress: allocation " << i
                << " failed: " << (r ? std::string("wrong count") : r.error().str()) << "\n";
      ++failures;
      continue;
    }
    results.emplace_back(r->front().addr.str(), a.handle);
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::ofstream out(f.out);
  for (const auto& [ip, handle] : results) {
    out << ip << " " << handle << "\n";
  }
  out.close();
  std::cout << "node " << f.node << " prefix " << f.prefix << ": " << results.size()
            << " allocations in " << static_cast<long>(ms) << " ms ("
            << static_cast<long>(results.size() * 1000.0 / (ms > 0 ? ms : 1)) << "/s), " << failures
            << " failures\n";
  return failures == 0 && out ? 0 : 1;
}

int runVerify(const Flags& f) {
  auto client = connect(f.kubeconfig);
  if (!client) {
    std::cerr << "ipam_stress: " << client.error().str() << "\n";
    return 1;
  }
  auto store = ipam::makeRestStore(**client);
  ipam::Ipam ipam(*store);
  std::map<std::string, std::string> byIp;
  int problems = 0;
  size_t lines = 0;
  for (const auto& file : f.files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "cannot read " << file << "\n";
      return 1;
    }
    std::string ip, handle;
    while (in >> ip >> handle) {
      ++lines;
      if (!byIp.emplace(ip, handle).second) {
        std::cerr << "DUPLICATE: " << ip << " handed to " << byIp[ip] << " and " << handle << "\n";
        ++problems;
      }
    }
  }
  for (const auto& [ipText, handle] : byIp) {
    auto ip = api::parseIp(ipText);
    if (!ip) {
      std::cerr << "bad address " << ipText << "\n";
      ++problems;
      continue;
    }
    auto a = ipam.lookup(*ip);
    if (!a || a->handle != handle) {
      std::cerr << "address " << ipText << " does not resolve to handle " << handle << "\n";
      ++problems;
    }
    auto ips = ipam.ipsByHandle(handle);
    if (!ips || ips->size() != 1 || ips->front().str() != ipText) {
      std::cerr << "handle " << handle << " does not resolve to exactly " << ipText << "\n";
      ++problems;
    }
  }
  std::cout << "verified " << lines << " allocations, " << byIp.size() << " unique addresses, "
            << problems << " problems\n";
  return problems == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  Flags f;
  if (!parseFlags(argc, argv, f)) {
    return usage();
  }
  if (f.command == "run") {
    return runLoad(f);
  }
  if (f.command == "verify") {
    return runVerify(f);
  }
  return usage();
}
