#pragma once
// Textual formats that API fields carry: Kubernetes names and label syntax, port names, interface
// names, MAC addresses, Go durations, AS numbers, port ranges, BGP communities, timestamps.
//
// The `check*` functions return an empty string when the text is valid and otherwise a short
// explanation (no field path, no quoted value: the caller adds both).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace caracal::api {

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters (namespaces, tiers).
std::string checkDns1123Label(std::string_view s);
// The label syntax [a-z0-9]([-a-z0-9]*[a-z0-9])? without a length limit.
bool isDns1123LabelSyntax(std::string_view s);
// RFC 1123 subdomain: dot-separated parts in label syntax, at most 253 characters in total (most
// object names). As in Kubernetes, a part may be longer than 63 characters.
std::string checkDns1123Subdomain(std::string_view s);
// Label and annotation keys: [prefix/]name, prefix a subdomain, name <= 63 of [A-Za-z0-9-_.].
std::string checkQualifiedName(std::string_view s);
// Label values: empty, or <= 63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
std::string checkLabelValue(std::string_view s);
// IANA service names as used for named ports: <= 15 of [a-z0-9-], at least one letter, no
// leading, trailing or doubled '-'.
std::string checkPortName(std::string_view s);
// Linux interface names: 1-15 of [A-Za-z0-9_.-]; "*" too when `allowWildcard`.
std::string checkInterfaceName(std::string_view s, bool allowWildcard);
// MAC-48 or EUI-64 with ':' or '-' separators.
bool isMacAddress(std::string_view s);
// Go time.Duration text ("90s", "1m30s", "250ms", "0"); the value in seconds.
std::optional<double> parseGoDuration(std::string_view s);
// RFC 3339 date-time ("2024-05-01T10:00:00Z", fractional seconds and offsets allowed).
bool isRfc3339(std::string_view s);

// AS numbers: plain ("64512") or dotted ("1.10" = 1*65536+10), 0..4294967295.
std::optional<int64_t> parseAsNumber(std::string_view s);

// A port as Calico rules write it: a number, "min:max", or a named port.
struct PortSpec {
  int min = 0;
  int max = 0;
  std::string name; // set for a named port
};
// Parses the string form of a port. On failure returns nullopt and sets *error.
std::optional<PortSpec> parsePortString(std::string_view s, std::string* error);

// BGP community: "aa:nn" (16-bit parts) or "aa:nn:mm" (32-bit parts, large community).
std::string checkCommunity(std::string_view s);
// BGP peer address: "<ip>", "<ipv4>:<port>" or "[<ipv6>]:<port>".
std::string checkIpPort(std::string_view s);

} // namespace caracal::api
