#pragma once
// Private to the resource model: how a kind is defined, and the schema pieces kinds share
// (metadata, selectors, CIDRs, ports, policy rules, label selectors). Not a public interface.

#include "api/registry.h"
#include "api/schema.h"

#include <functional>
#include <string>
#include <vector>

namespace caracal::api::detail {

// Which names metadata.name accepts.
enum class NameRule {
  Subdomain,    // RFC 1123 subdomain (most kinds)
  Label,        // RFC 1123 label (Namespace)
  Tier,         // label, at most 63 characters
  CalicoPolicy, // label, "<label>.<label>", or "knp.default.<subdomain>"
  GlobalPolicy, // label or "<label>.<label>"
};

struct KindDef {
  KindInfo info;
  schema::NodePtr schema; // the whole object
  // Rules between the object and the other stored objects of its kind.
  std::function<void(const Value& obj, const std::vector<Value>& others, schema::Ctx&)> against;
  // Update rules beyond the fields marked immutable in the schema.
  std::function<void(const Value& oldObj, const Value& newObj, schema::Ctx&)> update;
};

std::vector<KindDef> coreKinds();   // v1 and networking.k8s.io/v1
std::vector<KindDef> calicoKinds(); // projectcalico.org/v3

// The whole-object schema: apiVersion, kind, metadata (with the name rule and the namespace rule
// for `namespaced`), then `fields` (spec, status, ...), then `checks` on the whole object.
schema::N objectSchema(NameRule rule, bool namespaced, std::vector<schema::F> fields,
                       std::vector<schema::Check> checks = {});

// ---- shared value formats ----
struct CidrOpts {
  int family = 0;             // 0: either; 4 or 6
  bool allowBareIp = true;    // "10.0.0.1" means 10.0.0.1/32
  bool allowHostBits = false; // "10.0.0.1/24" accepted as written
  bool canonicalize = false;  // rewrite to the canonical text
};
schema::N cidr(CidrOpts opts = {});
schema::N ipAddress(int family = 0);
schema::N selector();     // Calico selector expression (validated by the selector parser)
schema::N duration();     // Go duration ("90s")
schema::N asNumber();     // integer or "64512" / "1.10"; stored as an integer
schema::N port();         // Calico rule port: 1-65535, "min:max" or a named port
schema::N protocol();     // Calico protocol: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255
schema::N resourceName(); // RFC 1123 subdomain
schema::N labelName();    // RFC 1123 label
schema::N portName();     // IANA service name
schema::N interfaceName(bool allowWildcard);
schema::N macAddress();
schema::N timestamp();     // RFC 3339
schema::N labelMap();      // label keys and values
schema::N annotationMap(); // annotation keys, 256 KiB in total
schema::N secretKeyRef();
schema::N k8sLabelSelector(); // metav1.LabelSelector
schema::N calicoRule();       // projectcalico.org/v3 Rule

// ---- helpers for checks ----
// True when the protocol value (as stored after canonicalisation) supports ports.
bool protocolHasPorts(const Value* proto);
// Calico policy specs: the `types` default from the rules present.
void defaultPolicyTypes(Value& spec);
// Reports selectors that use global(), which only rule namespaceSelectors may use.
void forbidGlobal(const Value& spec, const std::string& path, const char* field, schema::Ctx& ctx);

// ---- printed columns ----
// The text of the value at a dotted path: strings as they are, numbers and booleans printed,
// lists joined with ","; `def` when absent.
std::string fieldText(const Value& obj, std::string_view dotted, std::string_view def = "");
Column column(std::string name, int priority, std::function<std::string(const Value&)> cell,
              std::string type = "string");
Column nameColumn();
Column pathColumn(std::string name, int priority, std::string dotted, std::string def = "",
                  std::string type = "string");

} // namespace caracal::api::detail
