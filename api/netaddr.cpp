#include "api/netaddr.h"

#include <arpa/inet.h>
#include <cstring>

namespace caracal::api {

namespace {

// Sets every bit from `prefix` on to zero.
IpAddr maskAddr(const IpAddr& a, int prefix) {
  IpAddr out = a;
  int nbytes = a.bits() / 8;
  for (int i = 0; i < nbytes; ++i) {
    int bitStart = i * 8;
    if (bitStart >= prefix) {
      out.bytes[i] = 0;
    } else if (bitStart + 8 > prefix) {
      int keep = prefix - bitStart;
      out.bytes[i] = static_cast<uint8_t>(out.bytes[i] & (0xff << (8 - keep)));
    }
  }
  return out;
}

} // namespace

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family == 4) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof(buf));
  } else if (family == 6) {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

IpNet IpNet::masked() const { return IpNet{maskAddr(addr, prefix), prefix}; }

bool IpNet::isMasked() const { return maskAddr(addr, prefix) == addr; }

bool IpNet::contains(const IpAddr& ip) const {
  return ip.family == addr.family && maskAddr(ip, prefix) == maskAddr(addr, prefix);
}

bool IpNet::contains(const IpNet& inner) const {
  return inner.addr.family == addr.family && inner.prefix >= prefix && contains(inner.addr);
}

bool IpNet::overlaps(const IpNet& other) const {
  if (other.addr.family != addr.family) {
    return false;
  }
  return contains(other) || other.contains(*this);
}

std::string IpNet::str() const { return addr.str() + "/" + std::to_string(prefix); }

std::optional<IpAddr> parseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  std::string s(text);
  IpAddr a;
  if (s.find(':') == std::string::npos) {
    // inet_pton(AF_INET) accepts exactly four decimal parts and rejects leading zeros, like Go.
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) {
      return std::nullopt;
    }
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) {
    return std::nullopt;
  }
  a.family = 6;
  return a;
}

std::optional<IpNet> parseCidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  auto ip = parseIp(text.substr(0, slash));
  if (!ip) {
    return std::nullopt;
  }
  std::string_view p = text.substr(slash + 1);
  if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) {
    return std::nullopt;
  }
  int prefix = 0;
  for (char c : p) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > ip->bits()) {
    return std::nullopt;
  }
  return IpNet{*ip, prefix};
}

std::optional<IpNet> parseCidrOrIp(std::string_view text) {
  if (text.find('/') != std::string_view::npos) {
    return parseCidr(text);
  }
  auto ip = parseIp(text);
  if (!ip) {
    return std::nullopt;
  }
  return IpNet{*ip, ip->bits()};
}

} // namespace caracal::api
