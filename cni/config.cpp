#include "cni/config.h"

#include "common/strings.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace caracal::cni {

namespace {

std::string describe(const Value& v) {
  if (v.isString()) {
    return std::string("string ") + jsonQuote(v.asString());
  }
  return std::string(v.typeName()) + " " + toJson(v);
}

// Reads an optional string member of `obj` into `out`.
Status readString(const Value& obj, std::string_view key, const std::string& path,
                  std::string& out) {
  const Value* v = obj.find(key);
  if (!v || v->isNull()) {
    return Status::ok();
  }
  if (!v->isString()) {
    return Status::invalidField(path, "must be a string, got " + describe(*v));
  }
  out = v->asString();
  return Status::ok();
}

// A boolean given as true/false or as Calico's "true"/"false" strings.
Status readBool(const Value& obj, std::string_view key, const std::string& path, bool& out) {
  const Value* v = obj.find(key);
  if (!v || v->isNull()) {
    return Status::ok();
  }
  if (v->isBool()) {
    out = v->asBool();
    return Status::ok();
  }
  if (v->isString()) {
    std::string s = toLower(v->asString());
    if (s == "true") {
      out = true;
      return Status::ok();
    }
    if (s == "false") {
      out = false;
      return Status::ok();
    }
  }
  return Status::invalidField(path, "must be true or false, got " + describe(*v));
}

Status readStringList(const Value& obj, std::string_view key, const std::string& path,
                      std::vector<std::string>& out) {
  const Value* v = obj.find(key);
  if (!v || v->isNull()) {
    return Status::ok();
  }
  if (!v->isArray()) {
    return Status::invalidField(path, "must be a list of strings, got " + describe(*v));
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const Value& item = v->asArray()[i];
    if (!item.isString() || item.asString().empty()) {
      return Status::invalidField(path + "[" + std::to_string(i) + "]",
                                  "must be a non-empty string, got " + describe(item));
    }
    out.push_back(item.asString());
  }
  return Status::ok();
}

Result<const Value*> readObject(const Value& obj, std::string_view key, const std::string& path) {
  const Value* v = obj.find(key);
  if (!v || v->isNull()) {
    return static_cast<const Value*>(nullptr);
  }
  if (!v->isObject()) {
    return Status::invalidField(path, "must be an object, got " + describe(*v));
  }
  return v;
}

Status readMtu(const Value& obj, int& out) {
  const Value* v = obj.find("mtu");
  if (!v || v->isNull()) {
    return Status::ok();
  }
  int64_t n = -1;
  if (v->isInt()) {
    n = v->asInt();
  } else if (v->isString() && !v->asString().empty() &&
             v->asString().find_first_not_of("0123456789") == std::string::npos &&
             v->asString().size() < 10) {
    n = std::stoll(v->asString());
  } else {
    return Status::invalidField("mtu", "must be an integer, got " + describe(*v));
  }
  if (n != 0 && (n < 68 || n > 65535)) {
    return Status::invalidField("mtu", "must be 0 (unset) or between 68 and 65535, got " +
                                           std::to_string(n));
  }
  out = int(n);
  return Status::ok();
}

Result<std::string> readFirstLine(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status(Code::NotFound, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::string line;
  std::getline(in, line);
  return trim(line);
}

bool fileExists(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

} // namespace

Result<NetConf> parseNetConf(std::string_view text) {
  auto doc = parseJson(text);
  if (!doc) {
    return Status(Code::BadRequest,
                  "network configuration is not valid JSON: " + doc.error().message());
  }
  if (!doc->isObject()) {
    return Status(Code::BadRequest,
                  std::string("network configuration must be a JSON object, got ") +
                      doc->typeName());
  }
  const Value& v = *doc;
  NetConf c;
  RETURN_IF_ERROR(readString(v, "cniVersion", "cniVersion", c.cniVersion));
  RETURN_IF_ERROR(readString(v, "name", "name", c.name));
  if (c.name.empty()) {
    return Status::invalidField("name", "required: the network name (part of the IPAM handle)",
                                "FieldValueRequired");
  }
  RETURN_IF_ERROR(readString(v, "type", "type", c.type));
  RETURN_IF_ERROR(readString(v, "nodename", "nodename", c.nodename));
  RETURN_IF_ERROR(readString(v, "nodename_file", "nodename_file", c.nodenameFile));
  RETURN_IF_ERROR(readMtu(v, c.mtu));
  RETURN_IF_ERROR(readString(v, "mtu_file", "mtu_file", c.mtuFile));
  RETURN_IF_ERROR(readBool(v, "require_mtu_file", "require_mtu_file", c.requireMtuFile));
  RETURN_IF_ERROR(readString(v, "log_level", "log_level", c.logLevel));
  if (c.logLevel.empty()) {
    c.logLevel = "info";
  }
  static const std::vector<std::string> kLevels = {"debug", "info",  "warning", "warn",
                                                   "error", "fatal", "panic",   "none"};
  if (std::find(kLevels.begin(), kLevels.end(), toLower(c.logLevel)) == kLevels.end()) {
    return Status::invalidField("log_level", "unknown value " + jsonQuote(c.logLevel) +
                                                 " (allowed: debug, info, warning, error)");
  }
  c.logLevel = toLower(c.logLevel);
  RETURN_IF_ERROR(readString(v, "log_file_path", "log_file_path", c.logFilePath));

  ASSIGN_OR_RETURN(const Value* ipam, readObject(v, "ipam", "ipam"));
  if (!ipam) {
    return Status::invalidField("ipam", "required: an object with the IPAM plugin's \"type\"",
                                "FieldValueRequired");
  }
  RETURN_IF_ERROR(readString(*ipam, "type", "ipam.type", c.ipam.type));
  if (c.ipam.type.empty()) {
    return Status::invalidField("ipam.type", "required: the IPAM plugin to run (caracal-ipam)",
                                "FieldValueRequired");
  }
  if (c.ipam.type.find('/') != std::string::npos || c.ipam.type == "." || c.ipam.type == "..") {
    return Status::invalidField("ipam.type",
                                "must be a plugin name without '/', got " + jsonQuote(c.ipam.type));
  }
  RETURN_IF_ERROR(readBool(*ipam, "assign_ipv4", "ipam.assign_ipv4", c.ipam.assignIpv4));
  RETURN_IF_ERROR(readBool(*ipam, "assign_ipv6", "ipam.assign_ipv6", c.ipam.assignIpv6));
  RETURN_IF_ERROR(readStringList(*ipam, "ipv4_pools", "ipam.ipv4_pools", c.ipam.ipv4Pools));
  RETURN_IF_ERROR(readStringList(*ipam, "ipv6_pools", "ipam.ipv6_pools", c.ipam.ipv6Pools));
  if (!c.ipam.assignIpv4 && !c.ipam.assignIpv6) {
    return Status::invalidField("ipam.assign_ipv4",
                                "assign_ipv4 and assign_ipv6 are both false: nothing to assign");
  }

  ASSIGN_OR_RETURN(const Value* k8s, readObject(v, "kubernetes", "kubernetes"));
  if (k8s) {
    RETURN_IF_ERROR(readString(*k8s, "kubeconfig", "kubernetes.kubeconfig", c.kubeconfig));
  }
  ASSIGN_OR_RETURN(const Value* policy, readObject(v, "policy", "policy"));
  if (policy) {
    RETURN_IF_ERROR(readString(*policy, "type", "policy.type", c.policyType));
  }
  if (const Value* prev = v.find("prevResult"); prev && !prev->isNull()) {
    auto r = parseResult(*prev);
    if (!r) {
      return r.error().withContext("prevResult");
    }
    c.prevResult = std::move(r).value();
  }
  c.raw = std::move(doc).value();
  return c;
}

MaybeError checkVersion(const NetConf& conf) {
  if (isSupportedVersion(conf.cniVersion)) {
    return std::nullopt;
  }
  std::string got =
      conf.cniVersion.empty() ? "no cniVersion" : "cniVersion " + jsonQuote(conf.cniVersion);
  return Error{kErrIncompatibleVersion, "incompatible CNI version: config has " + got,
               "supported versions: " + join(supportedVersions(), ", ")};
}

Result<std::string> resolveNodename(const NetConf& conf) {
  if (!conf.nodename.empty()) {
    return conf.nodename;
  }
  if (!conf.nodenameFile.empty()) {
    auto read = readFirstLine(conf.nodenameFile);
    if (!read) {
      return read.error().withContext("nodename_file");
    }
    std::string name = std::move(read).value();
    if (name.empty()) {
      return Status(Code::Invalid, "nodename_file " + conf.nodenameFile + " is empty");
    }
    return name;
  }
  if (fileExists(kDefaultNodenameFile)) {
    auto name = readFirstLine(kDefaultNodenameFile);
    if (name && !name->empty()) {
      return *name;
    }
  }
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    return Status(Code::Internal, std::string("cannot read the hostname: ") + std::strerror(errno));
  }
  return std::string(host);
}

Result<int> resolveMtu(const NetConf& conf) {
  if (conf.mtu > 0) {
    return conf.mtu;
  }
  if (!conf.mtuFile.empty()) {
    auto line = readFirstLine(conf.mtuFile);
    if (!line) {
      if (conf.requireMtuFile) {
        return Status(Code::Unavailable, "require_mtu_file is set and mtu_file " + conf.mtuFile +
                                             " is not readable yet (is caracal-node running?)");
      }
      return kDefaultMtu;
    }
    const std::string& s = *line;
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) {
      return Status(Code::Invalid, "mtu_file " + conf.mtuFile + ": not a number: " + jsonQuote(s));
    }
    int n = std::stoi(s);
    if (n < 68 || n > 65535) {
      return Status(Code::Invalid,
                    "mtu_file " + conf.mtuFile + ": MTU out of range: " + std::to_string(n));
    }
    return n;
  }
  return kDefaultMtu;
}

} // namespace caracal::cni
