#pragma once
// The CNI protocol as the plugins speak it: spec versions, the error object, the result object in
// each supported version, the environment variables and CNI_ARGS.
//
// Versions: both plugins declare 0.3.0, 0.3.1, 0.4.0 and 1.0.0 and answer in the version of the
// network configuration they were given. The result shapes differ only in the `ips` entries:
//   1.0.0:        {"interface": 1, "address": "10.0.0.5/32", "gateway": ...}
//   0.3.x, 0.4.0: {"version": "4", "interface": 1, "address": "10.0.0.5/32", "gateway": ...}
// (0.3.0 added interfaces and the interface index; 0.4.0 added CHECK and prevResult on DEL.)
//
// Errors: a failed command prints {"cniVersion", "code", "msg", "details"} on stdout and exits 1.
// Codes 1-99 are the spec's well-known ones; 100 and above are this plugin's (see ErrorCode).
//
// Everything here is pure (no I/O) so that it can be unit-tested byte for byte.

#include "api/netaddr.h"
#include "common/result.h"
#include "common/value.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace caracal::cni {

using api::IpAddr;
using api::IpNet;

// The versions both plugins implement, oldest first.
const std::vector<std::string>& supportedVersions();
bool isSupportedVersion(std::string_view version);
// The VERSION command's answer: {"cniVersion": <requested or 1.0.0>, "supportedVersions": [...]}.
std::string versionInfoJson(std::string_view requestedVersion);
// True for versions whose results carry `ips[].version` (everything before 1.0.0).
bool resultHasIpVersion(std::string_view version);
// True when the version knows CHECK (0.4.0 and later).
bool versionSupportsCheck(std::string_view version);

// CNI error codes.
enum ErrorCode : uint32_t {
  kErrUnknown = 0,
  kErrIncompatibleVersion = 1,
  kErrUnsupportedField = 2,
  kErrUnknownContainer = 3,
  kErrInvalidEnvironment = 4,
  kErrIoFailure = 5,
  kErrDecodingFailure = 6,
  kErrInvalidConfig = 7,
  kErrTryAgainLater = 11,
  // Plugin-specific.
  kErrPod = 100,       // the Pod named by CNI_ARGS is missing or unusable
  kErrIpam = 101,      // the IPAM plugin failed (pool exhausted, bad annotation, ...)
  kErrDataplane = 102, // veth, address, route or sysctl programming failed
  kErrDatastore = 103, // reading or writing the API failed
  kErrCheck = 104,     // CHECK found the container's network not as ADD left it
};

struct Error {
  uint32_t code = kErrUnknown;
  std::string msg;     // one line saying what failed
  std::string details; // the underlying cause

  bool operator==(const Error&) const = default;
};

// {"cniVersion":...,"code":N,"msg":"...","details":"..."} ("details" omitted when empty).
std::string errorJson(const Error& err, std::string_view cniVersion);
// Reads an error object printed by another plugin; nullopt when `text` is not one.
std::optional<Error> parseError(std::string_view text);
// The CNI error for a failed step: `msg` says which step, the Status gives the details. The code
// is `code`, except that an unreachable or timed-out API becomes kErrTryAgainLater.
Error errorFromStatus(uint32_t code, std::string msg, const Status& st);

// A value or a CNI error.
template <typename T> class Outcome {
public:
  Outcome(T value) : v_(std::move(value)) {}
  Outcome(Error err) : v_(std::move(err)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(v_); }

private:
  std::variant<T, Error> v_;
};
// The void case: nullopt means success.
using MaybeError = std::optional<Error>;

// ---- results

struct Interface {
  std::string name;
  std::string mac;     // "" = not reported
  std::string sandbox; // netns path for interfaces inside the container; "" on the host
  bool operator==(const Interface&) const = default;
};

struct IpConfig {
  IpNet address; // address with its prefix, e.g. 10.0.0.5/32
  std::optional<IpAddr> gateway;
  std::optional<int> interface; // index into CniResult::interfaces
  bool operator==(const IpConfig&) const = default;
};

struct RouteEntry {
  IpNet dst;
  std::optional<IpAddr> gw;
  bool operator==(const RouteEntry&) const = default;
};

struct CniResult {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<RouteEntry> routes;
  bool operator==(const CniResult&) const = default;
};

// The result object in the shape of `version` (see the header comment). `dns` is always {}.
Value resultToValue(const CniResult& result, std::string_view version);
std::string resultJson(const CniResult& result, std::string_view version);
// Reads a result (an IPAM plugin's output, or prevResult) of any supported version. Errors name the
// offending field ("ips[0].address: ...").
Result<CniResult> parseResult(const Value& v);

// ---- environment

// The CNI_* variables of one invocation.
struct Environment {
  std::string command;     // CNI_COMMAND: ADD, DEL, CHECK, VERSION
  std::string containerId; // CNI_CONTAINERID
  std::string netns;       // CNI_NETNS
  std::string ifname;      // CNI_IFNAME
  std::string args;        // CNI_ARGS
  std::string path;        // CNI_PATH
};
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
Environment readEnvironment(const EnvLookup& env);
// The variables `command` needs (ADD and CHECK: CONTAINERID, NETNS, IFNAME, PATH; DEL: CONTAINERID,
// IFNAME, PATH — the netns may already be gone), with an error naming each missing one.
MaybeError checkEnvironment(const Environment& env);

// CNI_ARGS: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;IgnoreUnknown=1".
struct CniArgs {
  std::string podNamespace;               // K8S_POD_NAMESPACE
  std::string podName;                    // K8S_POD_NAME
  std::string infraContainerId;           // K8S_POD_INFRA_CONTAINER_ID
  std::string podUid;                     // K8S_POD_UID
  bool ignoreUnknown = false;             // IgnoreUnknown
  std::map<std::string, std::string> all; // every pair as given

  bool isKubernetes() const { return !podName.empty() && !podNamespace.empty(); }
};
// As the reference runtime library reads them: pairs separated by ';', each exactly "KEY=VALUE";
// an unknown key is an error unless IgnoreUnknown is 1/true. Errors name the pair.
Result<CniArgs> parseCniArgs(std::string_view text);

} // namespace caracal::cni
