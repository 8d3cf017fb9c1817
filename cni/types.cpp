#include "cni/types.h"

#include "common/strings.h"

#include <algorithm>
#include <cctype>

namespace caracal::cni {

const std::vector<std::string>& supportedVersions() {
  static const std::vector<std::string> kVersions = {"0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  return kVersions;
}

bool isSupportedVersion(std::string_view version) {
  const auto& v = supportedVersions();
  return std::find(v.begin(), v.end(), version) != v.end();
}

std::string versionInfoJson(std::string_view requestedVersion) {
  Value out = Value::object();
  out.set("cniVersion", isSupportedVersion(requestedVersion) ? std::string(requestedVersion)
                                                             : std::string("1.0.0"));
  Value list = Value::array();
  for (const auto& v : supportedVersions()) {
    list.push(v);
  }
  out.set("supportedVersions", std::move(list));
  return toJson(out);
}

bool resultHasIpVersion(std::string_view version) { return version != "1.0.0"; }

bool versionSupportsCheck(std::string_view version) {
  return version == "0.4.0" || version == "1.0.0";
}

// ---- errors

std::string errorJson(const Error& err, std::string_view cniVersion) {
  Value out = Value::object();
  out.set("cniVersion", std::string(cniVersion.empty() ? "1.0.0" : cniVersion));
  out.set("code", int64_t(err.code));
  out.set("msg", err.msg);
  if (!err.details.empty()) {
    out.set("details", err.details);
  }
  return toJson(out);
}

std::optional<Error> parseError(std::string_view text) {
  auto v = parseJson(text);
  if (!v || !v->isObject()) {
    return std::nullopt;
  }
  const Value* code = v->find("code");
  const Value* msg = v->find("msg");
  if (!code || !code->isInt() || !msg || !msg->isString()) {
    return std::nullopt;
  }
  Error e;
  e.code = uint32_t(code->asInt());
  e.msg = msg->asString();
  e.details = v->getString("details");
  return e;
}

Error errorFromStatus(uint32_t code, std::string msg, const Status& st) {
  Error e{code, std::move(msg), st.message()};
  if (st.code() == Code::Unavailable || st.code() == Code::Timeout) {
    e.code = kErrTryAgainLater;
  }
  return e;
}

// ---- results

Value resultToValue(const CniResult& result, std::string_view version) {
  bool withVersion = resultHasIpVersion(version);
  Value out = Value::object();
  out.set("cniVersion", std::string(version));
  if (!result.interfaces.empty()) {
    Value list = Value::array();
    for (const auto& i : result.interfaces) {
      Value o = Value::object();
      o.set("name", i.name);
      if (!i.mac.empty()) {
        o.set("mac", i.mac);
      }
      if (!i.sandbox.empty()) {
        o.set("sandbox", i.sandbox);
      }
      list.push(std::move(o));
    }
    out.set("interfaces", std::move(list));
  }
  if (!result.ips.empty()) {
    Value list = Value::array();
    for (const auto& ip : result.ips) {
      Value o = Value::object();
      if (withVersion) {
        o.set("version", ip.address.addr.family == 6 ? "6" : "4");
      }
      if (ip.interface) {
        o.set("interface", *ip.interface);
      }
      o.set("address", ip.address.str());
      if (ip.gateway) {
        o.set("gateway", ip.gateway->str());
      }
      list.push(std::move(o));
    }
    out.set("ips", std::move(list));
  }
  if (!result.routes.empty()) {
    Value list = Value::array();
    for (const auto& r : result.routes) {
      Value o = Value::object();
      o.set("dst", r.dst.str());
      if (r.gw) {
        o.set("gw", r.gw->str());
      }
      list.push(std::move(o));
    }
    out.set("routes", std::move(list));
  }
  out.set("dns", Value::object());
  return out;
}

std::string resultJson(const CniResult& result, std::string_view version) {
  return toJson(resultToValue(result, version));
}

namespace {

std::string quoted(std::string_view s) { return jsonQuote(s); }

Result<std::string> stringField(const Value& obj, std::string_view key, const std::string& path,
                                bool required) {
  const Value* v = obj.find(key);
  if (!v || v->isNull()) {
    if (required) {
      return Status::invalidField(path + "." + std::string(key), "required");
    }
    return std::string();
  }
  if (!v->isString()) {
    return Status::invalidField(path + "." + std::string(key),
                                std::string("must be a string, got ") + v->typeName());
  }
  return v->asString();
}

} // namespace

Result<CniResult> parseResult(const Value& v) {
  if (!v.isObject()) {
    return Status(Code::Invalid, std::string("result must be an object, got ") + v.typeName());
  }
  CniResult r;
  if (const Value* list = v.find("interfaces"); list && !list->isNull()) {
    if (!list->isArray()) {
      return Status::invalidField("interfaces", "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const Value& o = list->asArray()[i];
      std::string path = "interfaces[" + std::to_string(i) + "]";
      Interface iface;
      ASSIGN_OR_RETURN(iface.name, stringField(o, "name", path, true));
      ASSIGN_OR_RETURN(iface.mac, stringField(o, "mac", path, false));
      ASSIGN_OR_RETURN(iface.sandbox, stringField(o, "sandbox", path, false));
      r.interfaces.push_back(std::move(iface));
    }
  }
  if (const Value* list = v.find("ips"); list && !list->isNull()) {
    if (!list->isArray()) {
      return Status::invalidField("ips", "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const Value& o = list->asArray()[i];
      std::string path = "ips[" + std::to_string(i) + "]";
      IpConfig ip;
      ASSIGN_OR_RETURN(std::string addr, stringField(o, "address", path, true));
      auto net = api::parseCidr(addr);
      if (!net) {
        return Status::invalidField(path + ".address", "not a CIDR: " + quoted(addr));
      }
      ip.address = *net;
      ASSIGN_OR_RETURN(std::string gw, stringField(o, "gateway", path, false));
      if (!gw.empty()) {
        auto g = api::parseIp(gw);
        if (!g) {
          return Status::invalidField(path + ".gateway", "not an IP address: " + quoted(gw));
        }
        ip.gateway = *g;
      }
      if (const Value* idx = o.find("interface"); idx && !idx->isNull()) {
        if (!idx->isInt() || idx->asInt() < 0) {
          return Status::invalidField(path + ".interface", "must be a non-negative integer");
        }
        ip.interface = int(idx->asInt());
      }
      r.ips.push_back(std::move(ip));
    }
  }
  if (const Value* list = v.find("routes"); list && !list->isNull()) {
    if (!list->isArray()) {
      return Status::invalidField("routes", "must be an array");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const Value& o = list->asArray()[i];
      std::string path = "routes[" + std::to_string(i) + "]";
      RouteEntry route;
      ASSIGN_OR_RETURN(std::string dst, stringField(o, "dst", path, true));
      auto net = api::parseCidr(dst);
      if (!net) {
        return Status::invalidField(path + ".dst", "not a CIDR: " + quoted(dst));
      }
      route.dst = *net;
      ASSIGN_OR_RETURN(std::string gw, stringField(o, "gw", path, false));
      if (!gw.empty()) {
        auto g = api::parseIp(gw);
        if (!g) {
          return Status::invalidField(path + ".gw", "not an IP address: " + quoted(gw));
        }
        route.gw = *g;
      }
      r.routes.push_back(std::move(route));
    }
  }
  return r;
}

// ---- environment

Environment readEnvironment(const EnvLookup& env) {
  auto get = [&](const char* name) { return env(name).value_or(""); };
  Environment e;
  e.command = get("CNI_COMMAND");
  e.containerId = get("CNI_CONTAINERID");
  e.netns = get("CNI_NETNS");
  e.ifname = get("CNI_IFNAME");
  e.args = get("CNI_ARGS");
  e.path = get("CNI_PATH");
  return e;
}

namespace {

// What is wrong with a container ID (the spec: alphanumerics, then also '_', '.', '-'); "" = ok.
std::string containerIdProblem(const std::string& id) {
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (id.empty()) {
    return "must not be empty";
  }
  if (!alnum(id[0])) {
    return "must start with a letter or digit";
  }
  for (char c : id) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') {
      return "may contain only letters, digits, '_', '.' and '-'";
    }
  }
  return "";
}

// What is wrong with an interface name (the kernel's rules, as the spec asks); "" = ok.
std::string ifnameProblem(const std::string& name) {
  constexpr size_t kMaxIfname = 15; // IFNAMSIZ - 1
  if (name.empty() || name.size() > kMaxIfname) {
    return "must be 1 to 15 characters long";
  }
  if (name == "." || name == "..") {
    return "must not be \".\" or \"..\"";
  }
  for (char c : name) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c))) {
      return "must not contain '/', ':' or whitespace";
    }
  }
  return "";
}

} // namespace

MaybeError checkEnvironment(const Environment& env) {
  if (env.command.empty()) {
    return Error{kErrInvalidEnvironment, "CNI_COMMAND is not set",
                 "expected one of ADD, DEL, CHECK, VERSION"};
  }
  if (env.command != "ADD" && env.command != "DEL" && env.command != "CHECK" &&
      env.command != "VERSION") {
    return Error{kErrInvalidEnvironment, "unknown CNI_COMMAND " + jsonQuote(env.command),
                 "expected one of ADD, DEL, CHECK, VERSION"};
  }
  if (env.command == "VERSION") {
    return std::nullopt;
  }
  std::vector<std::string> missing;
  if (env.containerId.empty()) {
    missing.push_back("CNI_CONTAINERID");
  }
  if (env.netns.empty() && env.command != "DEL") {
    missing.push_back("CNI_NETNS");
  }
  if (env.ifname.empty()) {
    missing.push_back("CNI_IFNAME");
  }
  if (env.path.empty()) {
    missing.push_back("CNI_PATH");
  }
  if (!missing.empty()) {
    return Error{kErrInvalidEnvironment,
                 "required environment variable" + std::string(missing.size() > 1 ? "s " : " ") +
                     join(missing, ", ") + " not set for " + env.command,
                 ""};
  }
  if (std::string why = containerIdProblem(env.containerId); !why.empty()) {
    return Error{kErrInvalidEnvironment, "invalid CNI_CONTAINERID " + jsonQuote(env.containerId),
                 why};
  }
  if (std::string why = ifnameProblem(env.ifname); !why.empty()) {
    return Error{kErrInvalidEnvironment, "invalid CNI_IFNAME " + jsonQuote(env.ifname), why};
  }
  return std::nullopt;
}

namespace {

Result<bool> parseArgBool(const std::string& pair, const std::string& value) {
  if (value == "1" || value == "true" || value == "True") {
    return true;
  }
  if (value == "0" || value == "false" || value == "False") {
    return false;
  }
  return Status(Code::Invalid, "ARGS: error parsing value of pair " + quoted(pair) +
                                   ": boolean unmarshal error: invalid input " + value);
}

} // namespace

Result<CniArgs> parseCniArgs(std::string_view text) {
  CniArgs out;
  if (text.empty()) {
    return out;
  }
  std::vector<std::string> unknown;
  for (const std::string& pair : split(text, ';')) {
    std::vector<std::string> kv = split(pair, '=');
    if (kv.size() != 2) {
      return Status(Code::Invalid, "ARGS: invalid pair " + quoted(pair) + " (want KEY=VALUE)");
    }
    const std::string& key = kv[0];
    const std::string& value = kv[1];
    out.all[key] = value;
    if (key == "K8S_POD_NAMESPACE") {
      out.podNamespace = value;
    } else if (key == "K8S_POD_NAME") {
      out.podName = value;
    } else if (key == "K8S_POD_INFRA_CONTAINER_ID") {
      out.infraContainerId = value;
    } else if (key == "K8S_POD_UID") {
      out.podUid = value;
    } else if (key == "IgnoreUnknown") {
      ASSIGN_OR_RETURN(out.ignoreUnknown, parseArgBool(pair, value));
    } else {
      unknown.push_back(pair);
    }
  }
  if (!unknown.empty() && !out.ignoreUnknown) {
    std::vector<std::string> q;
    for (const auto& u : unknown) {
      q.push_back(quoted(u));
    }
    return Status(Code::Invalid,
                  "ARGS: unknown args [" + join(q, " ") + "] (add IgnoreUnknown=1 to allow them)");
  }
  return out;
}

} // namespace caracal::cni
