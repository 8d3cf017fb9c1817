#include "api/formats.h"

#include "api/netaddr.h"
#include "common/strings.h"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace caracal::api {

namespace {

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isLabelSyntax(std::string_view s, size_t maxLen) {
  if (s.empty() || s.size() > maxLen) {
    return false;
  }
  if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!isLowerAlnum(c) && c != '-') {
      return false;
    }
  }
  return true;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool isQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  if (!isAlnum(s.front()) || !isAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// Parses an unsigned decimal without sign or spaces; false on overflow of `max`.
bool parseUnsigned(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (!isDigit(c)) {
      return false;
    }
    v = v * 10 + uint64_t(c - '0');
    if (v > max) {
      return false;
    }
  }
  *out = v;
  return true;
}

const char* kLabelMsg = "must be a lowercase RFC 1123 label: at most 63 lower case alphanumeric "
                        "characters or '-', starting and ending with an alphanumeric character";
const char* kSubdomainMsg = "must be a lowercase RFC 1123 subdomain: at most 253 lower case "
                            "alphanumeric characters, '-' or "
                            "'.', starting and ending with an alphanumeric character";

} // namespace

std::string checkDns1123Label(std::string_view s) { return isLabelSyntax(s, 63) ? "" : kLabelMsg; }

bool isDns1123LabelSyntax(std::string_view s) { return isLabelSyntax(s, SIZE_MAX); }

std::string checkDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return kSubdomainMsg;
  }
  // As in Kubernetes and Calico, the parts between dots have no length limit of their own.
  for (const auto& part : split(s, '.')) {
    if (!isLabelSyntax(part, SIZE_MAX)) {
      return kSubdomainMsg;
    }
  }
  return "";
}

std::string checkQualifiedName(std::string_view s) {
  std::string_view name = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (prefix.empty() || !checkDns1123Subdomain(prefix).empty()) {
      return "the prefix before '/' must be a lowercase RFC 1123 subdomain";
    }
  }
  if (!isQualifiedNamePart(name)) {
    return "must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with "
           "an alphanumeric character, with an optional DNS subdomain prefix and '/'";
  }
  return "";
}

std::string checkLabelValue(std::string_view s) {
  if (s.empty() || isQualifiedNamePart(s)) {
    return "";
  }
  return "a label value must be empty or at most 63 alphanumeric characters, '-', '_' or '.', "
         "starting and ending with an alphanumeric character";
}

std::string checkPortName(std::string_view s) {
  const char* msg = "a port name must be at most 15 lower case alphanumeric characters or '-', "
                    "contain at least one letter, and neither start, end nor contain '--' with '-'";
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-' ||
      s.find("--") != std::string_view::npos) {
    return msg;
  }
  bool letter = false;
  for (char c : s) {
    if (!isLowerAlnum(c) && c != '-') {
      return msg;
    }
    letter = letter || (c >= 'a' && c <= 'z');
  }
  return letter ? "" : msg;
}

std::string checkInterfaceName(std::string_view s, bool allowWildcard) {
  if (allowWildcard && s == "*") {
    return "";
  }
  bool ok = !s.empty() && s.size() <= 15;
  for (char c : s) {
    ok = ok && (isAlnum(c) || c == '_' || c == '.' || c == '-');
  }
  if (ok) {
    return "";
  }
  return allowWildcard ? "an interface name must be \"*\" or 1-15 characters of [A-Za-z0-9_.-]"
                       : "an interface name must be 1-15 characters of [A-Za-z0-9_.-]";
}

bool isMacAddress(std::string_view s) {
  // Groups of two hex digits separated by one separator, 6 or 8 groups.
  if (s.size() != 17 && s.size() != 23) {
    return false;
  }
  char sep = s[2];
  if (sep != ':' && sep != '-') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2) {
      if (s[i] != sep) {
        return false;
      }
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<double> parseGoDuration(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  double sign = 1;
  if (s[0] == '-' || s[0] == '+') {
    sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
  }
  if (s == "0") {
    return 0.0;
  }
  if (s.empty()) {
    return std::nullopt;
  }
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    bool digits = false;
    while (i < s.size() && isDigit(s[i])) {
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && isDigit(s[i])) {
        ++i;
        digits = true;
      }
    }
    if (!digits) {
      return std::nullopt;
    }
    double number = std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && !isDigit(s[u]) && s[u] != '.') {
      ++u;
    }
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    double scale = 0;
    if (unit == "ns") {
      scale = 1e-9;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = 1e-6;
    } else if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else {
      return std::nullopt;
    }
    total += number * scale;
  }
  return sign * total;
}

bool isRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  auto digits = [&](size_t pos, size_t n) {
    if (pos + n > s.size()) {
      return false;
    }
    for (size_t i = pos; i < pos + n; ++i) {
      if (!isDigit(s[i])) {
        return false;
      }
    }
    return true;
  };
  if (s.size() < 20 || !digits(0, 4) || s[4] != '-' || !digits(5, 2) || s[7] != '-' ||
      !digits(8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2) || s[13] != ':' ||
      !digits(14, 2) || s[16] != ':' || !digits(17, 2)) {
    return false;
  }
  size_t i = 19;
  if (s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && isDigit(s[i])) {
      ++i;
    }
    if (i == start) {
      return false;
    }
  }
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    return i + 1 == s.size();
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    return i + 6 == s.size() && digits(i + 1, 2) && s[i + 3] == ':' && digits(i + 4, 2);
  }
  return false;
}

std::optional<int64_t> parseAsNumber(std::string_view s) {
  size_t dot = s.find('.');
  uint64_t v = 0;
  if (dot == std::string_view::npos) {
    if (!parseUnsigned(s, 4294967295ULL, &v)) {
      return std::nullopt;
    }
    return int64_t(v);
  }
  uint64_t hi = 0;
  uint64_t lo = 0;
  if (!parseUnsigned(s.substr(0, dot), 65535, &hi) ||
      !parseUnsigned(s.substr(dot + 1), 65535, &lo)) {
    return std::nullopt;
  }
  return int64_t(hi * 65536 + lo);
}

std::optional<PortSpec> parsePortString(std::string_view s, std::string* error) {
  auto fail = [&](std::string msg) -> std::optional<PortSpec> {
    if (error) {
      *error = std::move(msg);
    }
    return std::nullopt;
  };
  if (s.empty()) {
    return fail("a port must not be empty");
  }
  bool numeric = true;
  for (char c : s) {
    numeric = numeric && (isDigit(c) || c == ':');
  }
  if (numeric) {
    size_t colon = s.find(':');
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (colon == std::string_view::npos) {
      if (!parseUnsigned(s, 65535, &lo) || lo == 0) {
        return fail("a port number must be between 1 and 65535");
      }
      return PortSpec{int(lo), int(lo), ""};
    }
    if (!parseUnsigned(s.substr(0, colon), 65535, &lo) ||
        !parseUnsigned(s.substr(colon + 1), 65535, &hi) || lo == 0 || hi == 0) {
      return fail("a port range must be \"min:max\" with ports between 1 and 65535");
    }
    if (lo > hi) {
      return fail("a port range must not start after its end");
    }
    return PortSpec{int(lo), int(hi), ""};
  }
  std::string err = checkPortName(s);
  if (!err.empty()) {
    return fail("must be a port number, a \"min:max\" range or a named port: " + err);
  }
  return PortSpec{0, 0, std::string(s)};
}

std::string checkCommunity(std::string_view s) {
  auto parts = split(s, ':');
  if (parts.size() != 2 && parts.size() != 3) {
    return "a community must be \"aa:nn\" or \"aa:nn:mm\"";
  }
  uint64_t max = parts.size() == 2 ? 65535 : 4294967295ULL;
  for (const auto& p : parts) {
    uint64_t v = 0;
    if (!parseUnsigned(p, max, &v)) {
      return parts.size() == 2 ? "a standard community \"aa:nn\" needs 16-bit numbers"
                               : "a large community \"aa:nn:mm\" needs 32-bit numbers";
    }
  }
  return "";
}

std::string checkIpPort(std::string_view s) {
  const char* msg = "must be an IP address, \"<IPv4>:<port>\" or \"[<IPv6>]:<port>\"";
  if (parseIp(s)) {
    return "";
  }
  std::string_view host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find("]:");
    if (close == std::string_view::npos) {
      return msg;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    auto ip = parseIp(host);
    if (!ip || ip->family != 6) {
      return msg;
    }
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      return msg;
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    auto ip = parseIp(host);
    if (!ip || ip->family != 4) {
      return msg;
    }
  }
  uint64_t p = 0;
  if (!parseUnsigned(port, 65535, &p) || p == 0) {
    return "the port must be between 1 and 65535";
  }
  return "";
}

} // namespace caracal::api
