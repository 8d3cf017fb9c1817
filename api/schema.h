#pragma once
// The schema language the resource model is written in.
//
// A schema is a tree of `Node`s, one per value position in an object: its JSON type, its enum
// values, its range, its format checks, its default, and, for objects, its fields. Each kind is
// described once with the builders below (`str()`, `integer()`, `object({...})`, `F(...)`), and
// that one description drives:
//   * walk()             strict decoding: unknown fields (with "did you mean"), wrong types, enum
//                        values, ranges, formats, required fields, cross-field checks; defaults
//   * compareImmutable() update rules for fields marked immutable
//   * toOpenApi()        the OpenAPI v3 schema served to kubectl
//
// Conventions the walker applies to every object field (mirroring how Go's `omitempty` fields
// behave in Calico and Kubernetes):
//   * null means "not set": the field is removed, then defaulted or reported as required;
//   * an empty string in an optional string field also means "not set", unless the field is
//     declared keepEmpty();
//   * an integer field declared zeroIsUnset() treats 0 the same way;
//   * after a walk, the known fields of a strict object are in schema order (as Go marshals a
//     struct); objects that preserve unknown fields keep the order they came in.
// Errors name the full field path ("spec.ingress[0].source.selector") and are collected, never
// thrown: one walk reports every problem it finds.

#include "common/result.h"
#include "common/value.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::api::schema {

// Kubernetes StatusCause reasons.
inline constexpr const char* kInvalid = "FieldValueInvalid";
inline constexpr const char* kNotSupported = "FieldValueNotSupported";
inline constexpr const char* kRequired = "FieldValueRequired";
inline constexpr const char* kDuplicate = "FieldValueDuplicate";
inline constexpr const char* kTypeInvalid = "FieldValueTypeInvalid";
inline constexpr const char* kForbidden = "FieldValueForbidden";
inline constexpr const char* kTooLong = "FieldValueTooLong";
inline constexpr const char* kTooMany = "FieldValueTooMany";

// Path building: child("spec", "cidr") == "spec.cidr", child("", "spec") == "spec",
// index("spec.ingress", 0) == "spec.ingress[0]", key("metadata.labels", "app") ==
// "metadata.labels[app]".
std::string child(std::string_view path, std::string_view field);
std::string index(std::string_view path, size_t i);
std::string key(std::string_view path, std::string_view k);

// `string "big"`, `integer 5`, `boolean true`, `list`, `object`, `null` (for messages).
std::string describe(const Value& v);
// A JSON-quoted string for messages.
std::string quoted(std::string_view s);

struct WalkOptions {
  bool dropUnknown = false;                    // drop unknown fields instead of reporting them
  bool applyDefaults = true;                   // fill defaults
  std::vector<std::string>* dropped = nullptr; // receives the paths of dropped fields
};

// Collects field causes during a walk; checks receive it too.
class Ctx {
public:
  explicit Ctx(WalkOptions opts = {}) : opts_(opts) {}
  void add(std::string path, std::string message, const char* reason = kInvalid);
  const WalkOptions& options() const { return opts_; }
  bool applyDefaults() const { return opts_.applyDefaults; }
  const std::vector<FieldCause>& causes() const { return causes_; }
  std::vector<FieldCause> takeCauses() { return std::move(causes_); }
  bool ok() const { return causes_.empty(); }
  size_t size() const { return causes_.size(); }

private:
  WalkOptions opts_;
  std::vector<FieldCause> causes_;
};

enum class Type { String, Integer, Number, Boolean, Object, Array, Map, IntOrString, Any };

// A check runs after the node's own type, enum and range checks passed (and, for objects and
// arrays, after every child was walked). It may report causes and may rewrite the value into its
// canonical form. Object checks are the place for cross-field rules and computed defaults.
using Check = std::function<void(Value& v, const std::string& path, Ctx& ctx)>;

struct Node;
using NodePtr = std::shared_ptr<const Node>;

enum class Mutability { Mutable, Immutable, ImmutableOnceSet };

struct Field {
  std::string name;
  NodePtr node;
  bool required = false;
  Mutability mutability = Mutability::Mutable;
  bool zeroIsUnset = false;
  bool keepEmpty = false;
};

struct Node {
  Type type = Type::Any;
  std::string description;
  std::string format;                  // OpenAPI "format"
  std::vector<std::string> enumValues; // strings (integers are written as their decimal text)
  bool enumIgnoreCase = false;         // accept any letter case
  bool enumCanonicalize = false;       // ... and rewrite to the declared spelling
  std::optional<int64_t> minimum;
  std::optional<int64_t> maximum;
  std::optional<size_t> maxLength;
  std::optional<size_t> minItems;
  std::optional<size_t> maxItems;
  bool setItems = false;        // array items must be unique
  bool nullable = false;        // null is a value here (used for array items)
  bool preserveUnknown = false; // object: keep fields the schema does not name
  std::vector<Field> fields;    // object
  NodePtr items;                // array
  NodePtr values;               // map (an object with arbitrary keys)
  std::optional<Value> def;     // default when the field is absent
  std::vector<Check> checks;

  const Field* field(std::string_view name) const;
};

struct F;

// Builder for a Node. Methods mutate and return *this so calls chain on temporaries:
//   str().enums({"Always", "CrossSubnet", "Never"}).def("Never")
class N {
public:
  explicit N(Type t);
  N& desc(std::string d);
  N& format(std::string f);
  N& enums(std::vector<std::string> values);
  N& ignoreCase(bool canonicalize);
  N& min(int64_t v);
  N& max(int64_t v);
  N& range(int64_t lo, int64_t hi);
  N& maxLen(size_t n);
  N& minItems(size_t n);
  N& maxItems(size_t n);
  N& unique();
  N& nullable();
  N& preserveUnknown();
  N& def(Value v);
  N& check(Check c);
  // Appends fields to an object node.
  N& with(std::vector<F> fields);

  NodePtr ptr() const { return node_; }
  Node& node() { return *node_; }

private:
  std::shared_ptr<Node> node_;
};

// Builder for a Field.
struct F {
  F(std::string name, const N& node);
  F& required();
  F& immutable();
  F& immutableOnceSet();
  F& zeroIsUnset();
  F& keepEmpty();
  Field field;
};

N str();
N integer();
N number();
N boolean();
N intOrString();
N any();
N object(std::vector<F> fields);
N array(const N& items);
N mapOf(const N& values);

// Strict decode, validation and defaulting of `v` against `node`; problems go to ctx.
void walk(const Node& node, Value& v, const std::string& path, Ctx& ctx);

// Reports "field is immutable" for every field marked immutable whose value differs between the two
// objects (ImmutableOnceSet: only when the old value was set). Recurses through objects only.
void compareImmutable(const Node& node, const Value& oldV, const Value& newV,
                      const std::string& path, Ctx& ctx);

// The OpenAPI v3 schema of `node`.
Value toOpenApi(const Node& node);

} // namespace caracal::api::schema
