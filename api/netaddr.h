#pragma once
// IP addresses and CIDR blocks, as the resource model reads them.
//
// Parsing follows Go's net package (which is what Calico and Kubernetes use): dotted-quad IPv4 with
// no leading zeros, RFC 4291 IPv6 text without zones, and "<address>/<prefix>" blocks. Printing
// gives the canonical form (IPv6 lower case with the longest zero run compressed).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace caracal::api {

struct IpAddr {
  int family = 0;                  // 4 or 6
  std::array<uint8_t, 16> bytes{}; // network order; IPv4 uses the first four

  int bits() const { return family == 4 ? 32 : 128; }
  std::string str() const;
  bool operator==(const IpAddr&) const = default;
};

struct IpNet {
  IpAddr addr; // as written, host bits included
  int prefix = 0;

  // The network with its host bits cleared.
  IpNet masked() const;
  // True when no host bit is set.
  bool isMasked() const;
  bool contains(const IpAddr& ip) const;
  // True when `inner` lies entirely inside this block (equal blocks included).
  bool contains(const IpNet& inner) const;
  // True when the two blocks share at least one address (never across families).
  bool overlaps(const IpNet& other) const;
  // "10.0.0.0/16" (the address as written, canonically printed).
  std::string str() const;
  bool operator==(const IpNet&) const = default;
};

std::optional<IpAddr> parseIp(std::string_view text);
// "<ip>/<prefix>" only.
std::optional<IpNet> parseCidr(std::string_view text);
// A CIDR, or a bare address taken as /32 or /128.
std::optional<IpNet> parseCidrOrIp(std::string_view text);

} // namespace caracal::api
