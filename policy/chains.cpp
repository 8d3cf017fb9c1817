#include "policy/chains.h"

namespace caracal::policy {

std::string chainName(std::string_view prefix, std::string_view id, size_t maxLen) {
  bool plain = !id.empty();
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '/' || c == '-';
    plain = plain && ok;
  }
  if (plain && prefix.size() + id.size() <= maxLen) {
    return std::string(prefix) + std::string(id);
  }
  std::string hashed = std::string(prefix) + "_" + sha256Base64Url(id);
  if (hashed.size() > maxLen) {
    hashed.resize(maxLen);
  }
  return hashed;
}

const char* policyChainPrefix(Direction d, bool profile) {
  if (profile) {
    return d == Direction::Ingress ? "pri-" : "pro-";
  }
  return d == Direction::Ingress ? "pi-" : "po-";
}

const char* endpointChainPrefix(Direction d, bool host, HostHook hook) {
  const bool in = d == Direction::Ingress;
  if (!host) {
    return in ? "tw-" : "fw-";
  }
  switch (hook) {
  case HostHook::Forward:
    return in ? "fhfw-" : "thfw-";
  case HostHook::PreDnat:
    return in ? "fhpre-" : "thpre-";
  case HostHook::Untracked:
    return in ? "fhun-" : "thun-";
  case HostHook::Local:
    break;
  }
  return in ? "fh-" : "th-";
}

const char* endpointChainPrefix(const EndpointChainSpec& spec) {
  return endpointChainPrefix(spec.direction, spec.host, spec.hook);
}

std::vector<FailsafePort> defaultFailsafeInbound() {
  std::vector<FailsafePort> out = {{kProtoTcp, 22}, {kProtoUdp, 68}};
  for (uint16_t p : {179, 2379, 2380, 5473, 6443, 6666, 6667}) {
    out.push_back({kProtoTcp, p});
  }
  return out;
}

std::vector<FailsafePort> defaultFailsafeOutbound() {
  std::vector<FailsafePort> out = {{kProtoUdp, 53}, {kProtoUdp, 67}};
  for (uint16_t p : {179, 2379, 2380, 5473, 6443, 6666, 6667}) {
    out.push_back({kProtoTcp, p});
  }
  return out;
}

} // namespace caracal::policy
