#include "common/value.h"

#include <algorithm>

namespace caracal {

namespace {
const std::string kEmptyString;
const Value::Array kEmptyArray;
const Value::Object kEmptyObject;
} // namespace

const char* Value::typeName(Type t) {
  switch (t) {
  case Type::Null:
    return "null";
  case Type::Bool:
    return "boolean";
  case Type::Int:
    return "integer";
  case Type::Double:
    return "number";
  case Type::String:
    return "string";
  case Type::Array:
    return "array";
  case Type::Object:
    return "object";
  }
  return "unknown";
}

bool Value::asBool() const {
  const bool* b = std::get_if<bool>(&v_);
  return b ? *b : false;
}

int64_t Value::asInt() const {
  if (const int64_t* i = std::get_if<int64_t>(&v_)) {
    return *i;
  }
  if (const double* d = std::get_if<double>(&v_)) {
    return static_cast<int64_t>(*d);
  }
  return 0;
}

double Value::asDouble() const {
  if (const double* d = std::get_if<double>(&v_)) {
    return *d;
  }
  if (const int64_t* i = std::get_if<int64_t>(&v_)) {
    return static_cast<double>(*i);
  }
  return 0;
}

const std::string& Value::asString() const {
  const std::string* s = std::get_if<std::string>(&v_);
  return s ? *s : kEmptyString;
}

const Value::Array& Value::asArray() const {
  const Array* a = std::get_if<Array>(&v_);
  return a ? *a : kEmptyArray;
}

const Value::Object& Value::asObject() const {
  const Object* o = std::get_if<Object>(&v_);
  return o ? *o : kEmptyObject;
}

std::string& Value::mutableString() {
  if (!isString()) {
    v_ = std::string();
  }
  return std::get<std::string>(v_);
}

Value::Array& Value::mutableArray() {
  if (!isArray()) {
    v_ = Array{};
  }
  return std::get<Array>(v_);
}

Value::Object& Value::mutableObject() {
  if (!isObject()) {
    v_ = Object{};
  }
  return std::get<Object>(v_);
}

const Value* Value::find(std::string_view key) const {
  const Object* o = std::get_if<Object>(&v_);
  if (!o) {
    return nullptr;
  }
  for (const auto& m : *o) {
    if (m.first == key) {
      return &m.second;
    }
  }
  return nullptr;
}

Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}

Value& Value::operator[](std::string_view key) {
  Object& o = mutableObject();
  for (auto& m : o) {
    if (m.first == key) {
      return m.second;
    }
  }
  o.emplace_back(std::string(key), Value());
  return o.back().second;
}

bool Value::erase(std::string_view key) {
  Object* o = std::get_if<Object>(&v_);
  if (!o) {
    return false;
  }
  auto it = std::find_if(o->begin(), o->end(), [&](const Member& m) { return m.first == key; });
  if (it == o->end()) {
    return false;
  }
  o->erase(it);
  return true;
}

const Value* Value::path(std::string_view dotted) const {
  const Value* cur = this;
  while (cur && !dotted.empty()) {
    size_t dot = dotted.find('.');
    std::string_view part = dotted.substr(0, dot);
    cur = cur->find(part);
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  return cur;
}

std::string Value::getString(std::string_view dotted, std::string_view def) const {
  const Value* v = path(dotted);
  if (v && v->isString()) {
    return v->asString();
  }
  return std::string(def);
}

void Value::push(Value v) { mutableArray().push_back(std::move(v)); }

size_t Value::size() const {
  if (const Array* a = std::get_if<Array>(&v_)) {
    return a->size();
  }
  if (const Object* o = std::get_if<Object>(&v_)) {
    return o->size();
  }
  return 0;
}

bool Value::operator==(const Value& other) const {
  if (isNumber() && other.isNumber()) {
    if (isInt() && other.isInt()) {
      return asInt() == other.asInt();
    }
    return asDouble() == other.asDouble();
  }
  if (type() != other.type()) {
    return false;
  }
  switch (type()) {
  case Type::Null:
    return true;
  case Type::Bool:
    return asBool() == other.asBool();
  case Type::String:
    return asString() == other.asString();
  case Type::Array:
    return asArray() == other.asArray();
  case Type::Object: {
    const Object& a = asObject();
    const Object& b = other.asObject();
    if (a.size() != b.size()) {
      return false;
    }
    for (const auto& m : a) {
      const Value* ov = other.find(m.first);
      if (!ov || !(*ov == m.second)) {
        return false;
      }
    }
    return true;
  }
  default:
    return false;
  }
}

Result<std::vector<Value>> parseDocuments(std::string_view text) {
  size_t i = 0;
  while (i < text.size() &&
         (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
    ++i;
  }
  if (i < text.size() && (text[i] == '{' || text[i] == '[')) {
    auto v = parseJson(text);
    if (!v) {
      return v.error();
    }
    return std::vector<Value>{std::move(v).value()};
  }
  return parseYamlDocuments(text);
}

} // namespace caracal
