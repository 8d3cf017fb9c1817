#include "policy/rules.h"

#include "api/selector.h"
#include "common/base64.h"
#include "common/strings.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <openssl/sha.h>

namespace caracal::policy {

namespace {

constexpr std::string_view kNamespacePrefix = kNamespaceLabelPrefix;
constexpr std::string_view kServiceAccountPrefix = kServiceAccountLabelPrefix;

std::string quoted(std::string_view s) { return jsonQuote(s); }

std::string child(const std::string& path, std::string_view field) {
  return path.empty() ? std::string(field) : path + "." + std::string(field);
}

std::string indexed(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

Status fieldError(const std::string& path, std::string message) {
  return Status::invalidField(path, std::move(message));
}

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '/' || c == '-';
}

// Rewrites a canonical selector: label keys get `prefix`; with `namespaceFunctions`, all() and
// global() become the namespace-membership tests Calico substitutes for a namespaceSelector.
// The canonical printer guarantees the shape this scanner expects: labels start a term, operator
// words follow a label, values are quoted strings without escapes.
std::string rewriteCanonical(std::string_view s, std::string_view prefix, bool namespaceFunctions) {
  std::string out;
  out.reserve(s.size() + 16);
  bool expectTerm = true;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '"' || c == '\'') {
      size_t end = s.find(c, i + 1);
      end = end == std::string_view::npos ? s.size() : end + 1;
      out.append(s.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') {
      out += "!=";
      i += 2;
      continue;
    }
    if (c == '&' || c == '|' || c == '(' || c == '!') {
      out += c;
      expectTerm = true;
      ++i;
      continue;
    }
    if (!isLabelChar(c)) {
      out += c;
      ++i;
      continue;
    }
    size_t end = i;
    while (end < s.size() && isLabelChar(s[end])) {
      ++end;
    }
    std::string_view word = s.substr(i, end - i);
    i = end;
    if (!expectTerm) {
      out.append(word); // operator word: in, not, contains, starts, ends, with
      continue;
    }
    expectTerm = false;
    if (i < s.size() && s[i] == '(') {
      if (word == "has") {
        size_t close = s.find(')', i);
        std::string label = trim(s.substr(i + 1, close - i - 1));
        out += "has(" + std::string(prefix) + label + ")";
        i = close + 1;
      } else if (namespaceFunctions && word == "all" && s.substr(i, 2) == "()") {
        out += "has(" + std::string(kNamespaceLabel) + ")";
        i += 2;
      } else if (namespaceFunctions && word == "global" && s.substr(i, 2) == "()") {
        out += "!has(" + std::string(kNamespaceLabel) + ")";
        i += 2;
      } else {
        out.append(word);
      }
      continue;
    }
    out += std::string(prefix) + std::string(word);
  }
  return out;
}

Result<std::string> canonical(std::string_view text, const std::string& path) {
  auto sel = api::Selector::parse(text);
  if (!sel) {
    return fieldError(path, "invalid selector " + quoted(text) + ": " + sel.error().message());
  }
  return sel->str();
}

// A string member, or an error when present with another type.
Result<std::string> optString(const Value& obj, std::string_view key, const std::string& path) {
  const Value* v = obj.find(key);
  if (!v || v->isNull()) {
    return std::string();
  }
  if (!v->isString()) {
    return fieldError(child(path, key), std::string("must be a string, not ") + v->typeName());
  }
  return v->asString();
}

Status checkKnownFields(const Value& obj, const std::string& path,
                        std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : obj.asObject()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::vector<std::string> names(known.begin(), known.end());
      std::string hint = closestMatch(key, names);
      return fieldError(child(path, key),
                        "unknown field" + (hint.empty() ? "" : " (did you mean " + hint + "?)"));
    }
  }
  return Status::ok();
}

Result<std::optional<int>> parseProtocol(const Value* v, const std::string& path) {
  if (!v || v->isNull()) {
    return std::optional<int>();
  }
  static const std::array<std::pair<std::string_view, int>, 6> kNames = {{
      {"tcp", kProtoTcp},
      {"udp", kProtoUdp},
      {"icmp", kProtoIcmp},
      {"icmpv6", kProtoIcmpv6},
      {"sctp", kProtoSctp},
      {"udplite", kProtoUdpLite},
  }};
  int64_t num = -1;
  if (v->isInt()) {
    num = v->asInt();
  } else if (v->isString()) {
    const std::string& s = v->asString();
    bool numeric =
        !s.empty() && s.size() <= 3 && s.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) {
      num = std::stoi(s);
    } else {
      std::string lower = toLower(s);
      for (const auto& [name, n] : kNames) {
        if (name == lower) {
          return std::optional<int>(n);
        }
      }
      return fieldError(path, "unknown protocol " + quoted(s) +
                                  " (allowed: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)");
    }
  } else {
    return fieldError(path, std::string("must be a protocol name or number, not ") + v->typeName());
  }
  if (num < 1 || num > 255) {
    return fieldError(path, "invalid protocol number " + std::to_string(num) +
                                ": must be between 1 and 255");
  }
  return std::optional<int>(int(num));
}

struct IcmpMatch {
  std::optional<int> type;
  std::optional<int> code;
};

Result<IcmpMatch> parseIcmp(const Value* v, const std::string& path) {
  IcmpMatch m;
  if (!v || v->isNull()) {
    return m;
  }
  if (!v->isObject()) {
    return fieldError(path, std::string("must be an object, not ") + v->typeName());
  }
  RETURN_IF_ERROR(checkKnownFields(*v, path, {"type", "code"}));
  for (const char* f : {"type", "code"}) {
    const Value* x = v->find(f);
    if (!x || x->isNull()) {
      continue;
    }
    int max = std::string_view(f) == "type" ? 254 : 255;
    if (!x->isInt() || x->asInt() < 0 || x->asInt() > max) {
      return fieldError(child(path, f), "must be an integer between 0 and " + std::to_string(max));
    }
    (std::string_view(f) == "type" ? m.type : m.code) = int(x->asInt());
  }
  if (m.code && !m.type) {
    return fieldError(child(path, "code"), "an ICMP code needs an ICMP type");
  }
  return m;
}

// An IANA service name, as Kubernetes checks container port names.
bool isPortName(std::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-' ||
      s.find("--") != std::string_view::npos) {
    return false;
  }
  bool letter = false;
  for (char c : s) {
    bool lower = c >= 'a' && c <= 'z';
    if (!lower && !(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
    letter = letter || lower;
  }
  return letter;
}

std::optional<int> parsePortNumber(std::string_view s) {
  int n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return n;
}

struct PortList {
  std::vector<PortRange> ranges;
  std::vector<std::string> names;
  bool empty() const { return ranges.empty() && names.empty(); }
};

std::vector<PortRange> mergeRanges(std::vector<PortRange> r) {
  std::sort(r.begin(), r.end(), [](const PortRange& a, const PortRange& b) {
    return a.first != b.first ? a.first < b.first : a.last < b.last;
  });
  std::vector<PortRange> out;
  for (const auto& x : r) {
    if (!out.empty() && int(x.first) <= int(out.back().last) + 1) {
      out.back().last = std::max(out.back().last, x.last);
    } else {
      out.push_back(x);
    }
  }
  return out;
}

Result<PortList> parsePorts(const Value* v, const std::string& path) {
  PortList out;
  if (!v || v->isNull()) {
    return out;
  }
  if (!v->isArray()) {
    return fieldError(path, std::string("must be an array, not ") + v->typeName());
  }
  auto checkPort = [](int64_t p) { return p >= 1 && p <= 65535; };
  for (size_t i = 0; i < v->size(); ++i) {
    const Value& p = v->asArray()[i];
    std::string ppath = indexed(path, i);
    if (p.isInt()) {
      if (!checkPort(p.asInt())) {
        return fieldError(ppath, "invalid port " + std::to_string(p.asInt()) +
                                     ": must be between 1 and 65535");
      }
      out.ranges.push_back({uint16_t(p.asInt()), uint16_t(p.asInt())});
      continue;
    }
    if (!p.isString()) {
      return fieldError(ppath,
                        std::string("must be a port number, range or name, not ") + p.typeName());
    }
    const std::string& s = p.asString();
    size_t colon = s.find(':');
    if (colon != std::string::npos) {
      auto lo = parsePortNumber(std::string_view(s).substr(0, colon));
      auto hi = parsePortNumber(std::string_view(s).substr(colon + 1));
      if (!lo || !hi || !checkPort(*lo) || !checkPort(*hi)) {
        return fieldError(ppath, quoted(s) + " is not a range of ports 1-65535 (\"first:last\")");
      }
      if (*lo > *hi) {
        return fieldError(ppath, quoted(s) + " is not a range (" + std::to_string(*lo) + " > " +
                                     std::to_string(*hi) + ")");
      }
      out.ranges.push_back({uint16_t(*lo), uint16_t(*hi)});
      continue;
    }
    if (auto n = parsePortNumber(s)) {
      if (!checkPort(*n)) {
        return fieldError(ppath, "invalid port " + s + ": must be between 1 and 65535");
      }
      out.ranges.push_back({uint16_t(*n), uint16_t(*n)});
      continue;
    }
    if (!isPortName(s)) {
      return fieldError(ppath, quoted(s) +
                                   " is neither a port, a range \"first:last\" nor a port name "
                                   "(lower case letters, digits and '-', at most 15)");
    }
    if (std::find(out.names.begin(), out.names.end(), s) == out.names.end()) {
      out.names.push_back(s);
    }
  }
  out.ranges = mergeRanges(std::move(out.ranges));
  return out;
}

Result<std::vector<api::IpNet>> parseNets(const Value* v, const std::string& path) {
  std::vector<api::IpNet> out;
  if (!v || v->isNull()) {
    return out;
  }
  if (!v->isArray()) {
    return fieldError(path, std::string("must be an array, not ") + v->typeName());
  }
  for (size_t i = 0; i < v->size(); ++i) {
    const Value& n = v->asArray()[i];
    auto net = n.isString() ? api::parseCidrOrIp(n.asString()) : std::nullopt;
    if (!net) {
      return fieldError(indexed(path, i),
                        (n.isString() ? quoted(n.asString()) : std::string(n.typeName())) +
                            " is not a CIDR");
    }
    out.push_back(net->masked());
  }
  return out;
}

// One side of a rule, parsed.
struct Side {
  std::string selector;    // combined, canonical; "" none
  std::string notSelector; // canonical; "" none
  std::vector<api::IpNet> nets;
  std::vector<api::IpNet> notNets;
  PortList ports;
  PortList notPorts;

  bool needsAddresses() const {
    return !selector.empty() || !notSelector.empty() || !nets.empty() || !notNets.empty() ||
           !ports.names.empty() || !notPorts.names.empty();
  }
};

Result<Side> parseSide(const Value* v, std::string_view ns, const std::string& path) {
  Side side;
  if (!v || v->isNull()) {
    return side;
  }
  if (!v->isObject()) {
    return fieldError(path, std::string("must be an object, not ") + v->typeName());
  }
  RETURN_IF_ERROR(
      checkKnownFields(*v, path,
                       {"nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports",
                        "notPorts", "serviceAccounts", "services"}));
  if (v->has("services")) {
    return fieldError(child(path, "services"),
                      "service matches are not supported by this dataplane");
  }
  ASSIGN_OR_RETURN(side.selector, entitySelector(*v, ns, path));
  ASSIGN_OR_RETURN(std::string notSel, optString(*v, "notSelector", path));
  if (!notSel.empty()) {
    ASSIGN_OR_RETURN(side.notSelector, canonical(notSel, child(path, "notSelector")));
  }
  ASSIGN_OR_RETURN(side.nets, parseNets(v->find("nets"), child(path, "nets")));
  ASSIGN_OR_RETURN(side.notNets, parseNets(v->find("notNets"), child(path, "notNets")));
  ASSIGN_OR_RETURN(side.ports, parsePorts(v->find("ports"), child(path, "ports")));
  ASSIGN_OR_RETURN(side.notPorts, parsePorts(v->find("notPorts"), child(path, "notPorts")));
  return side;
}

std::vector<api::IpNet> netsOfFamily(const std::vector<api::IpNet>& nets, int family) {
  std::vector<api::IpNet> out;
  for (const auto& n : nets) {
    if (n.addr.family == family) {
      out.push_back(n);
    }
  }
  std::sort(out.begin(), out.end(), [](const api::IpNet& a, const api::IpNet& b) {
    return a.addr.bytes != b.addr.bytes ? a.addr.bytes < b.addr.bytes : a.prefix < b.prefix;
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// One way of satisfying a side's `ports` list.
struct PortAlternative {
  std::vector<PortRange> ports;
  std::optional<SetRef> namedPort;
  std::vector<PortRange> notPorts;   // earlier alternatives, for disjoint Log rules
  std::vector<SetRef> notNamedPorts; // earlier alternatives, for disjoint Log rules
};

std::vector<PortAlternative> portAlternatives(const Side& side, int protocol, int version,
                                              bool disjoint, SetNamer& namer) {
  std::vector<PortAlternative> alts;
  if (!side.ports.ranges.empty()) {
    alts.push_back({side.ports.ranges, std::nullopt, {}, {}});
  }
  std::vector<SetRef> earlier;
  std::string sel = side.selector.empty() ? "all()" : side.selector;
  for (const auto& name : side.ports.names) {
    PortAlternative alt;
    alt.namedPort = namer.namedPortSet(sel, protocol, name, version);
    if (disjoint) {
      alt.notPorts = side.ports.ranges;
      alt.notNamedPorts = earlier;
    }
    earlier.push_back(*alt.namedPort);
    alts.push_back(std::move(alt));
  }
  if (alts.empty()) {
    alts.emplace_back();
  }
  return alts;
}

// The matches of a side that do not depend on the port alternative; nullopt when the side cannot
// match in `version` (its nets are all of the other family).
std::optional<EntityMatch> baseMatch(const Side& side, int protocol, int version, SetNamer& namer) {
  EntityMatch m;
  if (version != 0) {
    auto nets = netsOfFamily(side.nets, version);
    if (!side.nets.empty() && nets.empty()) {
      return std::nullopt;
    }
    if (!nets.empty()) {
      m.nets = namer.netSet(nets, version);
    }
    auto notNets = netsOfFamily(side.notNets, version);
    if (!notNets.empty()) {
      m.notNets = namer.netSet(notNets, version);
    }
    if (!side.selector.empty()) {
      m.selector = namer.selectorSet(side.selector, version);
    }
    if (!side.notSelector.empty()) {
      m.notSelector = namer.selectorSet(side.notSelector, version);
    }
    std::string sel = side.selector.empty() ? "all()" : side.selector;
    for (const auto& name : side.notPorts.names) {
      m.notNamedPorts.push_back(namer.namedPortSet(sel, protocol, name, version));
    }
  }
  m.notPorts = side.notPorts.ranges;
  return m;
}

void applyAlternative(EntityMatch& m, const PortAlternative& alt) {
  m.ports = alt.ports;
  m.namedPort = alt.namedPort;
  if (!alt.notPorts.empty()) {
    std::vector<PortRange> all = m.notPorts;
    all.insert(all.end(), alt.notPorts.begin(), alt.notPorts.end());
    m.notPorts = mergeRanges(std::move(all));
  }
  m.notNamedPorts.insert(m.notNamedPorts.end(), alt.notNamedPorts.begin(), alt.notNamedPorts.end());
}

bool hasPorts(int protocol) {
  return protocol == kProtoTcp || protocol == kProtoUdp || protocol == kProtoSctp;
}

} // namespace

const char* directionName(Direction d) { return d == Direction::Ingress ? "ingress" : "egress"; }

const char* actionName(Action a) {
  switch (a) {
  case Action::Allow:
    return "Allow";
  case Action::Deny:
    return "Deny";
  case Action::Log:
    return "Log";
  case Action::Pass:
    return "Pass";
  }
  return "?";
}

const char* setKindName(SetKind k) {
  switch (k) {
  case SetKind::Addr:
    return "addr";
  case SetKind::Interval:
    return "interval";
  case SetKind::AddrPort:
    return "addr-port";
  }
  return "?";
}

bool EntityMatch::hasAddressMatch() const {
  return selector || notSelector || nets || notNets || namedPort || !notNamedPorts.empty();
}

std::string sha256Base64Url(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// --- HashSetNamer ---

SetRef HashSetNamer::remember(SetDecl decl) {
  for (const auto& d : sets_) {
    if (d.ref.name == decl.ref.name) {
      return d.ref;
    }
  }
  sets_.push_back(std::move(decl));
  return sets_.back().ref;
}

SetRef HashSetNamer::selectorSet(const std::string& sel, int v) {
  bool interval = std::find(intervalSelectors_.begin(), intervalSelectors_.end(), sel) !=
                  intervalSelectors_.end();
  SetDecl d;
  d.ref = {"sel" + std::to_string(v) + "-" + sha256Base64Url("s:" + sel).substr(0, 20),
           interval ? SetKind::Interval : SetKind::Addr, v};
  d.selector = sel;
  return remember(std::move(d));
}

SetRef HashSetNamer::netSet(const std::vector<api::IpNet>& nets, int v) {
  std::vector<std::string> parts;
  for (const auto& n : nets) {
    parts.push_back(n.str());
  }
  SetDecl d;
  d.ref = {"net" + std::to_string(v) + "-" + sha256Base64Url("n:" + join(parts, ",")).substr(0, 20),
           SetKind::Interval, v};
  d.nets = nets;
  return remember(std::move(d));
}

SetRef HashSetNamer::namedPortSet(const std::string& sel, int protocol, const std::string& port,
                                  int v) {
  SetDecl d;
  std::string key = "p:" + std::to_string(protocol) + ":" + port + ":" + sel;
  d.ref = {"np" + std::to_string(v) + "-" + sha256Base64Url(key).substr(0, 20), SetKind::AddrPort,
           v};
  d.selector = sel;
  d.protocol = protocol;
  d.portName = port;
  return remember(std::move(d));
}

void HashSetNamer::markIntervalSelector(const std::string& sel) {
  intervalSelectors_.push_back(sel);
}

// --- selectors ---

Result<std::string> prefixSelectorLabels(std::string_view selector, std::string_view prefix,
                                         bool namespaceSelector) {
  ASSIGN_OR_RETURN(std::string canon, canonical(selector, ""));
  return canonical(rewriteCanonical(canon, prefix, namespaceSelector), "");
}

Result<std::string> policyEndpointSelector(const std::string& kind, const Value& policy) {
  std::vector<std::string> parts;
  ASSIGN_OR_RETURN(std::string sel,
                   canonical(policy.getString("spec.selector", "all()"), "spec.selector"));
  parts.push_back(sel);
  if (kind == "NetworkPolicy") {
    parts.push_back(std::string(kNamespaceLabel) +
                    " == " + quoted(policy.getString("metadata.namespace")));
  } else if (std::string nsSel = policy.getString("spec.namespaceSelector"); !nsSel.empty()) {
    ASSIGN_OR_RETURN(std::string canon, canonical(nsSel, "spec.namespaceSelector"));
    parts.push_back(rewriteCanonical(canon, kNamespacePrefix, true));
  }
  if (std::string saSel = policy.getString("spec.serviceAccountSelector"); !saSel.empty()) {
    ASSIGN_OR_RETURN(std::string canon, canonical(saSel, "spec.serviceAccountSelector"));
    parts.push_back(rewriteCanonical(canon, kServiceAccountPrefix, false));
  }
  std::string joined;
  for (const std::string& p : parts) {
    if (p == "all()") {
      continue;
    }
    joined += (joined.empty() ? "(" : " && (") + p + ")";
  }
  return canonical(joined.empty() ? "all()" : joined, "spec.selector");
}

Result<std::string> entitySelector(const Value& entity, std::string_view ns,
                                   const std::string& path) {
  ASSIGN_OR_RETURN(std::string nsSelText, optString(entity, "namespaceSelector", path));
  ASSIGN_OR_RETURN(std::string selText, optString(entity, "selector", path));
  ASSIGN_OR_RETURN(std::string notSelText, optString(entity, "notSelector", path));

  std::string nsSelector;
  if (!nsSelText.empty()) {
    ASSIGN_OR_RETURN(std::string canon, canonical(nsSelText, child(path, "namespaceSelector")));
    nsSelector = rewriteCanonical(canon, kNamespacePrefix, true);
  } else if (!ns.empty()) {
    nsSelector = std::string(kNamespaceLabel) + " == " + quoted(ns);
  }

  std::string saSelector;
  if (const Value* sa = entity.find("serviceAccounts"); sa && !sa->isNull()) {
    std::string saPath = child(path, "serviceAccounts");
    if (!sa->isObject()) {
      return fieldError(saPath, std::string("must be an object, not ") + sa->typeName());
    }
    RETURN_IF_ERROR(checkKnownFields(*sa, saPath, {"names", "selector"}));
    ASSIGN_OR_RETURN(std::string saSel, optString(*sa, "selector", saPath));
    if (!saSel.empty()) {
      ASSIGN_OR_RETURN(std::string canon, canonical(saSel, child(saPath, "selector")));
      saSelector = rewriteCanonical(canon, kServiceAccountPrefix, false);
    }
    const Value* names = sa->find("names");
    if (names && !names->isNull()) {
      if (!names->isArray()) {
        return fieldError(child(saPath, "names"), "must be an array of names");
      }
      std::vector<std::string> quotedNames;
      for (size_t i = 0; i < names->size(); ++i) {
        const Value& n = names->asArray()[i];
        if (!n.isString() || n.asString().empty() ||
            (n.asString().find('"') != std::string::npos &&
             n.asString().find('\'') != std::string::npos)) {
          return fieldError(indexed(child(saPath, "names"), i), "must be a service account name");
        }
        const std::string& s = n.asString();
        quotedNames.push_back(s.find('\'') == std::string::npos ? "'" + s + "'" : "\"" + s + "\"");
      }
      if (!quotedNames.empty()) {
        std::string namesSel =
            std::string(kServiceAccountLabel) + " in {" + join(quotedNames, ", ") + "}";
        saSelector = saSelector.empty() ? namesSel : "(" + saSelector + ") && (" + namesSel + ")";
      }
    }
  }

  std::vector<std::string> parts;
  if (!saSelector.empty()) {
    parts.push_back(saSelector);
  }
  if (!selText.empty()) {
    ASSIGN_OR_RETURN(std::string canon, canonical(selText, child(path, "selector")));
    parts.push_back(canon);
  }
  std::string selector;
  if (parts.size() == 1) {
    selector = parts[0];
  } else if (parts.size() == 2) {
    selector = "(" + parts[0] + ") && (" + parts[1] + ")";
  }
  if (!nsSelector.empty() && (!selector.empty() || !notSelText.empty() || !nsSelText.empty())) {
    selector = selector.empty() ? nsSelector : "(" + nsSelector + ") && (" + selector + ")";
  }
  if (selector.empty()) {
    return selector;
  }
  return canonical(selector, path);
}

// --- rules ---

Result<std::vector<CompiledRule>> compileRule(const Value& rule, Direction dir, SetNamer& namer,
                                              const RuleContext& ctx) {
  std::string path = directionName(dir);
  if (ctx.index >= 0) {
    path = indexed(path, size_t(ctx.index));
  }
  if (!rule.isObject()) {
    return fieldError(path, std::string("a rule must be an object, not ") + rule.typeName());
  }
  RETURN_IF_ERROR(checkKnownFields(rule, path,
                                   {"action", "ipVersion", "protocol", "notProtocol", "icmp",
                                    "notICMP", "source", "destination", "http", "metadata"}));
  CompiledRule base;
  base.origin = path;

  ASSIGN_OR_RETURN(std::string action, optString(rule, "action", path));
  if (action == "Allow") {
    base.action = Action::Allow;
  } else if (action == "Deny") {
    base.action = Action::Deny;
  } else if (action == "Log") {
    base.action = Action::Log;
  } else if (action == "Pass") {
    base.action = Action::Pass;
  } else if (action.empty()) {
    return fieldError(child(path, "action"), "required value (Allow, Deny, Log or Pass)");
  } else {
    return fieldError(child(path, "action"),
                      "unknown action " + quoted(action) + " (allowed: Allow, Deny, Log, Pass)");
  }
  if (const Value* http = rule.find("http"); http && !http->isNull()) {
    return fieldError(child(path, "http"), "HTTP matches are not supported by this dataplane");
  }

  int ipVersion = 0;
  if (const Value* v = rule.find("ipVersion"); v && !v->isNull()) {
    if (!v->isInt() || (v->asInt() != 4 && v->asInt() != 6)) {
      return fieldError(child(path, "ipVersion"), "must be 4 or 6");
    }
    ipVersion = int(v->asInt());
  }
  ASSIGN_OR_RETURN(base.protocol, parseProtocol(rule.find("protocol"), child(path, "protocol")));
  ASSIGN_OR_RETURN(base.notProtocol,
                   parseProtocol(rule.find("notProtocol"), child(path, "notProtocol")));
  ASSIGN_OR_RETURN(IcmpMatch icmp, parseIcmp(rule.find("icmp"), child(path, "icmp")));
  ASSIGN_OR_RETURN(IcmpMatch notIcmp, parseIcmp(rule.find("notICMP"), child(path, "notICMP")));
  ASSIGN_OR_RETURN(Side src,
                   parseSide(rule.find("source"), ctx.namespaceName, child(path, "source")));
  ASSIGN_OR_RETURN(
      Side dst, parseSide(rule.find("destination"), ctx.namespaceName, child(path, "destination")));

  int proto = base.protocol.value_or(0);
  for (auto [side, name] : {std::pair<const Side*, const char*>{&src, "source"},
                            std::pair<const Side*, const char*>{&dst, "destination"}}) {
    for (auto [list, field] :
         {std::pair<const PortList*, const char*>{&side->ports, "ports"},
          std::pair<const PortList*, const char*>{&side->notPorts, "notPorts"}}) {
      if (!list->empty() && !hasPorts(proto)) {
        return fieldError(child(child(path, name), field),
                          "rules that specify ports must set protocol to TCP, UDP or SCTP");
      }
    }
  }
  bool isIcmp = proto == kProtoIcmp || proto == kProtoIcmpv6;
  if ((icmp.type || notIcmp.type) && !isIcmp) {
    return fieldError(child(path, icmp.type ? "icmp" : "notICMP"),
                      "rules that specify ICMP types must set protocol to ICMP or ICMPv6");
  }
  if ((proto == kProtoIcmp && ipVersion == 6) || (proto == kProtoIcmpv6 && ipVersion == 4)) {
    return fieldError(child(path, "ipVersion"), proto == kProtoIcmp
                                                    ? "must be 4 with protocol ICMP"
                                                    : "must be 6 with protocol ICMPv6");
  }
  base.icmpType = icmp.type;
  base.icmpCode = icmp.code;
  base.notIcmpType = notIcmp.type;
  base.notIcmpCode = notIcmp.code;

  std::vector<CompiledRule> out;
  if (base.protocol && base.notProtocol) {
    if (*base.protocol == *base.notProtocol) {
      return out; // never matches
    }
    base.notProtocol.reset(); // implied by the protocol match
  }

  std::vector<int> versions = {4, 6};
  if (ipVersion != 0) {
    versions = {ipVersion};
  } else if (proto == kProtoIcmp) {
    versions = {4};
  } else if (proto == kProtoIcmpv6) {
    versions = {6};
  }
  bool perFamily = src.needsAddresses() || dst.needsAddresses();
  if (!perFamily) {
    versions = {versions.size() == 1 ? versions[0] : 0};
  }
  bool disjoint = base.action == Action::Log;
  for (int v : versions) {
    auto srcBase = baseMatch(src, proto, perFamily ? v : 0, namer);
    auto dstBase = baseMatch(dst, proto, perFamily ? v : 0, namer);
    if (!srcBase || !dstBase) {
      continue;
    }
    auto srcAlts = portAlternatives(src, proto, v, disjoint, namer);
    auto dstAlts = portAlternatives(dst, proto, v, disjoint, namer);
    for (const auto& sa : srcAlts) {
      for (const auto& da : dstAlts) {
        CompiledRule r = base;
        r.ipVersion = v;
        r.source = *srcBase;
        r.destination = *dstBase;
        applyAlternative(r.source, sa);
        applyAlternative(r.destination, da);
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

Result<CompiledPolicy> compilePolicy(const Value& spec, std::string_view ns, SetNamer& namer) {
  CompiledPolicy out;
  for (Direction dir : {Direction::Ingress, Direction::Egress}) {
    const Value* rules = spec.find(directionName(dir));
    if (!rules || rules->isNull()) {
      continue;
    }
    if (!rules->isArray()) {
      return fieldError(directionName(dir), "must be an array of rules");
    }
    auto& dest = dir == Direction::Ingress ? out.ingress : out.egress;
    for (size_t i = 0; i < rules->size(); ++i) {
      RuleContext ctx{std::string(ns), int(i)};
      ASSIGN_OR_RETURN(auto compiled, compileRule(rules->asArray()[i], dir, namer, ctx));
      dest.insert(dest.end(), compiled.begin(), compiled.end());
    }
  }
  return out;
}

std::string protocolName(int protocol) {
  switch (protocol) {
  case kProtoTcp:
    return "tcp";
  case kProtoUdp:
    return "udp";
  case kProtoIcmp:
    return "icmp";
  case kProtoIcmpv6:
    return "ipv6-icmp";
  case kProtoSctp:
    return "sctp";
  case kProtoUdpLite:
    return "udplite";
  default:
    return std::to_string(protocol);
  }
}

std::string hexValue(uint32_t v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*x", width, v);
  return buf;
}

} // namespace caracal::policy
