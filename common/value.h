#pragma once
// A JSON-shaped document value: the in-memory form of every API object.
//
// Objects keep their keys in insertion order (so that printed output follows the order a schema or
// a user wrote) but compare equal regardless of order. Integers and doubles are kept apart so that
// `order: 100` round-trips as 100 and not 100.0. The JSON codec (RapidJSON) and the YAML codec
// (yaml-cpp) live in single translation units; this header pulls in neither.

#include "common/result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace caracal {

class Value {
public:
  enum class Type { Null, Bool, Int, Double, String, Array, Object };
  using Array = std::vector<Value>;
  using Member = std::pair<std::string, Value>;
  using Object = std::vector<Member>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(uint32_t i) : v_(int64_t(i)) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Type type() const { return static_cast<Type>(v_.index()); }
  static const char*
  typeName(Type t); // "null", "boolean", "integer", "number", "string", "array", "object"
  const char* typeName() const { return typeName(type()); }
  bool isNull() const { return type() == Type::Null; }
  bool isBool() const { return type() == Type::Bool; }
  bool isInt() const { return type() == Type::Int; }
  bool isDouble() const { return type() == Type::Double; }
  bool isNumber() const { return isInt() || isDouble(); }
  bool isString() const { return type() == Type::String; }
  bool isArray() const { return type() == Type::Array; }
  bool isObject() const { return type() == Type::Object; }

  // Typed reads; a read of the wrong type gives false / 0 / an empty string, array or object.
  bool asBool() const;
  int64_t asInt() const;
  double asDouble() const;
  const std::string& asString() const;
  const Array& asArray() const;
  const Object& asObject() const;
  // Mutable access converts the value to that type first when it is not already of it.
  std::string& mutableString();
  Array& mutableArray();
  Object& mutableObject();

  // Object access. find() returns nullptr when absent or when this is not an object.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Inserts a null member when absent; turns a null value into an empty object first.
  Value& operator[](std::string_view key);
  void set(std::string_view key, Value v) { (*this)[key] = std::move(v); }
  bool erase(std::string_view key);
  // Follows a dotted path of object keys ("metadata.name"); nullptr if any step is missing.
  const Value* path(std::string_view dotted) const;
  // String at a dotted path, or `def` when missing or not a string.
  std::string getString(std::string_view dotted, std::string_view def = "") const;

  // Array helpers.
  void push(Value v);
  size_t size() const;

  bool operator==(const Value& other) const;
  bool operator!=(const Value& other) const { return !(*this == other); }

private:
  // Index order matches Type.
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

// JSON (RapidJSON). Parse errors say the byte offset and what was expected.
Result<Value> parseJson(std::string_view text);
std::string toJson(const Value& v, bool pretty = false);
// Appends the JSON of `v` to `out` (for building large responses without copies).
void appendJson(std::string& out, const Value& v);
// A JSON string literal with quotes and escapes.
std::string jsonQuote(std::string_view s);

// YAML (yaml-cpp for parsing, an own emitter for stable output). Plain scalars follow the YAML 1.2
// core schema (null, true/false, integers, floats); quoted scalars are always strings.
Result<std::vector<Value>> parseYamlDocuments(std::string_view text);
Result<Value> parseYaml(std::string_view text);
std::string toYaml(const Value& v);

// Parses JSON when the text starts with '{' or '[' (after whitespace), otherwise YAML; returns
// every document (a JSON text is one document).
Result<std::vector<Value>> parseDocuments(std::string_view text);

} // namespace caracal
