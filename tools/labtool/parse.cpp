// Parsers and namespace helpers shared by the labtool commands.
#include "common/strings.h"
#include "tools/labtool/labtool.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

namespace caracal::labtool {

namespace {

Result<uint16_t> parsePort(std::string_view s, bool allowZero) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string_view::npos) {
    return Status(Code::Invalid, "invalid port \"" + std::string(s) + "\"");
  }
  unsigned long v = std::stoul(std::string(s));
  if (v > 65535 || (v == 0 && !allowZero)) {
    return Status(Code::Invalid, "port out of range: " + std::string(s));
  }
  return static_cast<uint16_t>(v);
}

} // namespace

Result<Protocol> parseProtocol(std::string_view s) {
  std::string p = toLower(s);
  if (p == "tcp") {
    return Protocol::Tcp;
  }
  if (p == "udp") {
    return Protocol::Udp;
  }
  if (p == "icmp") {
    return Protocol::Icmp;
  }
  return Status(Code::Invalid,
                "unknown protocol \"" + std::string(s) + "\" (want tcp, udp or icmp)");
}

const char* protocolName(Protocol p) {
  switch (p) {
  case Protocol::Tcp:
    return "tcp";
  case Protocol::Udp:
    return "udp";
  case Protocol::Icmp:
    return "icmp";
  }
  return "?";
}

Result<std::vector<ServeSpec>> parseServeSpecs(std::string_view s) {
  std::vector<ServeSpec> out;
  if (trim(s).empty()) {
    return Status(Code::Invalid, "empty serve list (want e.g. tcp:80,udp:81)");
  }
  for (const std::string& raw : split(s, ',')) {
    std::string item = trim(raw);
    size_t colon = item.find(':');
    if (colon == std::string::npos) {
      return Status(Code::Invalid, "\"" + item + "\": want PROTOCOL:PORT (e.g. tcp:80)");
    }
    ASSIGN_OR_RETURN(Protocol proto, parseProtocol(item.substr(0, colon)));
    if (proto == Protocol::Icmp) {
      return Status(Code::Invalid, "\"" + item + "\": only tcp and udp can be served");
    }
    ASSIGN_OR_RETURN(uint16_t port, parsePort(item.substr(colon + 1), false));
    ServeSpec spec{proto, port};
    for (const ServeSpec& seen : out) {
      if (seen == spec) {
        return Status(Code::Invalid, "\"" + item + "\" is listed twice");
      }
    }
    out.push_back(spec);
  }
  return out;
}

Result<HostPort> parseHostPort(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    return Status(Code::Invalid, "\"" + std::string(s) + "\": want A.B.C.D:PORT");
  }
  HostPort hp;
  hp.host = std::string(s.substr(0, colon));
  in_addr a{};
  if (inet_pton(AF_INET, hp.host.c_str(), &a) != 1) {
    return Status(Code::Invalid, "\"" + hp.host + "\" is not an IPv4 address");
  }
  ASSIGN_OR_RETURN(hp.port, parsePort(s.substr(colon + 1), true));
  return hp;
}

Status enterNetns(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status(Code::NotFound, "open " + path + ": " + std::strerror(errno));
  }
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc != 0) {
    return Status(Code::Internal, "setns " + path + ": " + std::strerror(err));
  }
  return Status::ok();
}

Status runInNetns(const std::string& netnsPath, const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] {
    if (!netnsPath.empty()) {
      Status st = enterNetns(netnsPath);
      if (!st) {
        result = st;
        return;
      }
    }
    result = fn();
  });
  t.join();
  return result;
}

Result<std::vector<MatrixPod>> parseMatrixSpec(std::string_view text) {
  std::vector<MatrixPod> pods;
  int lineNo = 0;
  for (const std::string& raw : split(text, '\n')) {
    ++lineNo;
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (trim(line).empty() || trim(line)[0] == '#') {
      continue;
    }
    std::vector<std::string> f = split(line, '\t');
    if (f.size() != 3 || f[0].empty() || f[1].empty() || f[2].empty()) {
      return Status(Code::Invalid,
                    "line " + std::to_string(lineNo) + ": want NS/NAME<TAB>NETNS_PATH<TAB>IP");
    }
    in_addr a{};
    if (inet_pton(AF_INET, f[2].c_str(), &a) != 1) {
      return Status(Code::Invalid,
                    "line " + std::to_string(lineNo) + ": \"" + f[2] + "\" is not an IPv4 address");
    }
    for (const MatrixPod& p : pods) {
      if (p.name == f[0]) {
        return Status(Code::Invalid,
                      "line " + std::to_string(lineNo) + ": pod " + f[0] + " is listed twice");
      }
    }
    pods.push_back(MatrixPod{f[0], f[1], f[2]});
  }
  return pods;
}

} // namespace caracal::labtool
