#pragma once
// The resource model: every kind the apiserver serves, how it is named, how it is validated and
// defaulted, how it prints, and its OpenAPI schema.
//
// Objects are plain `Value` trees in their wire form (apiVersion, kind, metadata, spec, ...). Each
// kind is described once, by a schema table, and that one description drives strict decoding
// (unknown fields with "did you mean", wrong types, enum values, formats such as CIDRs and
// selectors), defaulting, immutability checks, table columns and the OpenAPI v3 document kubectl
// validates with. Error messages name the field path (an unknown field is reported at its parent's
// path):
//   spec.ipipMode: unknown value "sometimes" (allowed: Always, CrossSubnet, Never)
//   spec: unknown field "blocksize" (did you mean "blockSize"?)
//   spec.blockSize: must be an integer, got string "big"
//   spec.ingress[0].source.selector: column 5: expected ...
// The schema language is described in api/schema.h and docs/design/api.md.

#include "common/result.h"
#include "common/value.h"

#include <functional>
#include <string>
#include <vector>

namespace caracal::api {

// One printed column. `cell` renders it from the whole object.
struct Column {
  std::string name;            // header as caracalctl prints it: "CIDR", "IPIPMODE"
  int priority = 0;            // 0: always shown; 1: only with -o wide
  std::string type = "string"; // OpenAPI type for kubectl Table columnDefinitions
  std::function<std::string(const Value& obj)> cell;
};

struct KindInfo {
  std::string group;    // "projectcalico.org", "networking.k8s.io", "" for the core group
  std::string version;  // "v3", "v1"
  std::string kind;     // "IPPool"
  std::string plural;   // "ippools"
  std::string singular; // "ippool"
  bool namespaced = false;
  std::vector<std::string> shortNames; // kubectl short names ("netpol", "gnp", "ns", ...)
  std::vector<std::string> aliases;    // extra caracalctl names (calicoctl's: "ipp", "pool", ...)
  std::vector<std::string> categories; // e.g. {"calico"}
  // Printed columns in order, including an explicit "NAME" column where calicoctl prints one
  // (WorkloadEndpoint's default output has none: it leads with WORKLOAD).
  std::vector<Column> columns;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string groupVersion() const { return apiVersion(); }
};

// Every served kind, in a stable order (core kinds first, then networking.k8s.io, then Calico's).
const std::vector<const KindInfo*>& allKinds();
// Lookup by URL parts: ("projectcalico.org", "v3", "ippools"); group "" for /api/v1.
const KindInfo* findByResource(std::string_view group, std::string_view version,
                               std::string_view plural);
// Lookup by apiVersion + kind, as written in a manifest.
const KindInfo* findByKind(std::string_view apiVersion, std::string_view kind);
// Lookup by any name a user may type, case-insensitively: kind, plural, singular, short names,
// aliases ("IPPool", "ippools", "ippool", "ipp", "pool", "gnp", "netpol"). When a name is ambiguous
// (Calico's NetworkPolicy vs networking.k8s.io's, Calico's Node vs v1 Node) the Calico kind wins,
// as in calicoctl; "networkpolicies.networking.k8s.io" style (plural.group) selects explicitly.
const KindInfo* findByName(std::string_view name);

enum class UnknownFields { Reject, Drop };

struct NormalizeOptions {
  UnknownFields unknownFields = UnknownFields::Reject;
  bool applyDefaults = true;
  // With UnknownFields::Drop: receives the path of every dropped field ("spec.blocksize"), e.g. for
  // the warnings of fieldValidation=Warn. May be null.
  std::vector<std::string>* droppedFields = nullptr;
};

// True for the causes normalize() reports for unknown fields (reason FieldValueNotSupported,
// message starting with `unknown field "`), so that callers can treat them apart
// (fieldValidation=Warn).
bool isUnknownFieldCause(const FieldCause& cause);

// Strictly checks a whole object of kind `info` and brings it to its stored form: verifies
// apiVersion/kind, metadata (name required and well-formed; namespace only and always for
// namespaced kinds — a missing namespace is an error here, the caller fills the default first),
// every spec field, cross-field rules within the object (e.g. IPIP and VXLAN not both on; BGPPeer
// node XOR nodeSelector), and fills defaults (IPPool blockSize 26/122, ipipMode/vxlanMode Never,
// nodeSelector all(), ...; Namespace label kubernetes.io/metadata.name). Server-owned metadata
// (uid, resourceVersion, creationTimestamp, generation, managedFields) is accepted and kept. On
// error the object may be partly modified; callers work on a copy. Code::Invalid with one
// FieldCause per problem.
Status normalize(const KindInfo& info, Value& obj, const NormalizeOptions& opts = {});

// Rules between the stored object and its replacement: immutable fields (IPPool cidr and blockSize,
// ...). Both objects are normalized.
Status validateUpdate(const KindInfo& info, const Value& oldObj, const Value& newObj);

// Rules between an object and the other stored objects of the same kind: enabled IPPools must not
// overlap. `others` excludes the object itself (same name).
Status validateAgainst(const KindInfo& info, const Value& obj, const std::vector<Value>& others);

// The OpenAPI v3 schema of a whole object of this kind (type object, properties, required, enums,
// x-kubernetes-group-version-kind), suitable under components.schemas.
Value openapiSchema(const KindInfo& info);

} // namespace caracal::api
