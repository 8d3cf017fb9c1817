#include "api/schema.h"

#include "common/strings.h"

#include <algorithm>

namespace caracal::api::schema {

namespace {

const char* typePhrase(Type t) {
  switch (t) {
  case Type::String:
    return "a string";
  case Type::Integer:
    return "an integer";
  case Type::Number:
    return "a number";
  case Type::Boolean:
    return "a boolean";
  case Type::Object:
    return "an object";
  case Type::Array:
    return "a list";
  case Type::Map:
    return "a map of keys to values";
  case Type::IntOrString:
    return "an integer or a string";
  case Type::Any:
    return "a value";
  }
  return "a value";
}

bool typeMatches(Type t, const Value& v) {
  switch (t) {
  case Type::String:
    return v.isString();
  case Type::Integer:
    return v.isInt();
  case Type::Number:
    return v.isNumber();
  case Type::Boolean:
    return v.isBool();
  case Type::Object:
  case Type::Map:
    return v.isObject();
  case Type::Array:
    return v.isArray();
  case Type::IntOrString:
    return v.isInt() || v.isString();
  case Type::Any:
    return true;
  }
  return false;
}

bool isUnset(const Field& f, const Value& v) {
  if (v.isNull()) {
    return !f.node->nullable;
  }
  if (v.isString() && v.asString().empty() && !f.keepEmpty &&
      (f.node->type == Type::String || f.node->type == Type::IntOrString)) {
    return true;
  }
  return f.zeroIsUnset && v.isInt() && v.asInt() == 0;
}

std::string shortValue(const Value& v) {
  if (v.isString()) {
    return quoted(v.asString());
  }
  std::string j = toJson(v);
  if (j.size() > 80) {
    j = j.substr(0, 77) + "...";
  }
  return j;
}

void walkObject(const Node& node, Value& v, const std::string& path, Ctx& ctx) {
  if (!node.preserveUnknown) {
    std::vector<std::string> unknown;
    for (const auto& m : v.asObject()) {
      if (!node.field(m.first)) {
        unknown.push_back(m.first);
      }
    }
    if (!unknown.empty()) {
      std::vector<std::string> names;
      for (const auto& f : node.fields) {
        names.push_back(f.name);
      }
      for (const auto& u : unknown) {
        if (ctx.options().dropUnknown) {
          v.erase(u);
          if (ctx.options().dropped) {
            ctx.options().dropped->push_back(child(path, u));
          }
          continue;
        }
        std::string msg = "unknown field " + quoted(u);
        std::string hint = closestMatch(u, names);
        if (!hint.empty()) {
          msg += " (did you mean " + quoted(hint) + "?)";
        }
        ctx.add(path, msg, kNotSupported);
      }
    }
  }
  for (const Field& f : node.fields) {
    std::string fpath = child(path, f.name);
    Value* fv = v.find(f.name);
    if (fv && isUnset(f, *fv)) {
      v.erase(f.name);
      fv = nullptr;
    }
    if (!fv) {
      if (f.node->def && ctx.applyDefaults()) {
        v.set(f.name, *f.node->def);
        fv = v.find(f.name);
      } else {
        if (f.required) {
          ctx.add(fpath, "required value", kRequired);
        }
        continue;
      }
    }
    walk(*f.node, *fv, fpath, ctx);
  }
}

void walkArray(const Node& node, Value& v, const std::string& path, Ctx& ctx) {
  Value::Array& items = v.mutableArray();
  if (node.maxItems && items.size() > *node.maxItems) {
    ctx.add(path,
            "must have at most " + std::to_string(*node.maxItems) + " items, got " +
                std::to_string(items.size()),
            kTooMany);
  }
  if (node.minItems && items.size() < *node.minItems) {
    ctx.add(path,
            "must have at least " + std::to_string(*node.minItems) + " item" +
                (*node.minItems == 1 ? "" : "s"),
            items.empty() ? kRequired : kInvalid);
  }
  if (node.items) {
    for (size_t i = 0; i < items.size(); ++i) {
      walk(*node.items, items[i], index(path, i), ctx);
    }
  }
  if (node.setItems) {
    for (size_t j = 1; j < items.size(); ++j) {
      for (size_t i = 0; i < j; ++i) {
        if (items[i] == items[j]) {
          ctx.add(index(path, j), "duplicate value " + shortValue(items[j]), kDuplicate);
          break;
        }
      }
    }
  }
}

// Known fields in schema order (as Go marshals a struct); anything else after them, in its order.
void orderBySchema(const Node& node, Value& v) {
  auto rank = [&](const std::string& name) {
    for (size_t i = 0; i < node.fields.size(); ++i) {
      if (node.fields[i].name == name) {
        return i;
      }
    }
    return node.fields.size();
  };
  Value::Object& m = v.mutableObject();
  std::stable_sort(m.begin(), m.end(), [&](const Value::Member& a, const Value::Member& b) {
    return rank(a.first) < rank(b.first);
  });
}

void walkMap(const Node& node, Value& v, const std::string& path, Ctx& ctx) {
  if (!node.values) {
    return;
  }
  for (auto& m : v.mutableObject()) {
    walk(*node.values, m.second, key(path, m.first), ctx);
  }
}

void walkScalar(const Node& node, Value& v, const std::string& path, Ctx& ctx, bool* ok) {
  if (!node.enumValues.empty() && v.isString()) {
    const std::string& s = v.asString();
    const std::string* match = nullptr;
    for (const auto& e : node.enumValues) {
      if (e == s || (node.enumIgnoreCase && toLower(e) == toLower(s))) {
        match = &e;
        break;
      }
    }
    if (!match) {
      ctx.add(path,
              "unknown value " + quoted(s) + " (allowed: " + join(node.enumValues, ", ") + ")",
              kNotSupported);
      *ok = false;
      return;
    }
    if (node.enumCanonicalize && *match != s) {
      v = Value(*match);
    }
  }
  if (v.isInt() && (node.minimum || node.maximum)) {
    int64_t x = v.asInt();
    if ((node.minimum && x < *node.minimum) || (node.maximum && x > *node.maximum)) {
      std::string msg;
      if (node.minimum && node.maximum) {
        msg = "must be between " + std::to_string(*node.minimum) + " and " +
              std::to_string(*node.maximum);
      } else if (node.minimum) {
        msg = "must be at least " + std::to_string(*node.minimum);
      } else {
        msg = "must be at most " + std::to_string(*node.maximum);
      }
      ctx.add(path, msg + ", got " + std::to_string(x));
      *ok = false;
      return;
    }
  }
  if (v.isString() && node.maxLength && v.asString().size() > *node.maxLength) {
    ctx.add(path,
            "must be at most " + std::to_string(*node.maxLength) + " characters, got " +
                std::to_string(v.asString().size()),
            kTooLong);
    *ok = false;
  }
}

} // namespace

std::string child(std::string_view path, std::string_view field) {
  if (path.empty()) {
    return std::string(field);
  }
  std::string out(path);
  out += '.';
  out += field;
  return out;
}

std::string index(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string key(std::string_view path, std::string_view k) {
  return std::string(path) + "[" + std::string(k) + "]";
}

std::string quoted(std::string_view s) {
  if (s.size() > 200) {
    return jsonQuote(s.substr(0, 197)) + "...";
  }
  return jsonQuote(s);
}

std::string describe(const Value& v) {
  switch (v.type()) {
  case Value::Type::Null:
    return "null";
  case Value::Type::Bool:
    return std::string("boolean ") + (v.asBool() ? "true" : "false");
  case Value::Type::Int:
    return "integer " + std::to_string(v.asInt());
  case Value::Type::Double:
    return "number " + toJson(v);
  case Value::Type::String:
    return "string " + quoted(v.asString());
  case Value::Type::Array:
    return "a list";
  case Value::Type::Object:
    return "an object";
  }
  return "a value";
}

void Ctx::add(std::string path, std::string message, const char* reason) {
  causes_.push_back(FieldCause{std::move(path), std::move(message), reason});
}

const Field* Node::field(std::string_view name) const {
  for (const auto& f : fields) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

N::N(Type t) : node_(std::make_shared<Node>()) { node_->type = t; }
N& N::desc(std::string d) {
  node_->description = std::move(d);
  return *this;
}
N& N::format(std::string f) {
  node_->format = std::move(f);
  return *this;
}
N& N::enums(std::vector<std::string> values) {
  node_->enumValues = std::move(values);
  return *this;
}
N& N::ignoreCase(bool canonicalize) {
  node_->enumIgnoreCase = true;
  node_->enumCanonicalize = canonicalize;
  return *this;
}
N& N::min(int64_t v) {
  node_->minimum = v;
  return *this;
}
N& N::max(int64_t v) {
  node_->maximum = v;
  return *this;
}
N& N::range(int64_t lo, int64_t hi) {
  node_->minimum = lo;
  node_->maximum = hi;
  return *this;
}
N& N::maxLen(size_t n) {
  node_->maxLength = n;
  return *this;
}
N& N::minItems(size_t n) {
  node_->minItems = n;
  return *this;
}
N& N::maxItems(size_t n) {
  node_->maxItems = n;
  return *this;
}
N& N::unique() {
  node_->setItems = true;
  return *this;
}
N& N::nullable() {
  node_->nullable = true;
  return *this;
}
N& N::preserveUnknown() {
  node_->preserveUnknown = true;
  return *this;
}
N& N::def(Value v) {
  node_->def = std::move(v);
  return *this;
}
N& N::check(Check c) {
  node_->checks.push_back(std::move(c));
  return *this;
}
N& N::with(std::vector<F> fields) {
  for (auto& f : fields) {
    node_->fields.push_back(std::move(f.field));
  }
  return *this;
}

F::F(std::string name, const N& node) {
  field.name = std::move(name);
  field.node = node.ptr();
}
F& F::required() {
  field.required = true;
  return *this;
}
F& F::immutable() {
  field.mutability = Mutability::Immutable;
  return *this;
}
F& F::immutableOnceSet() {
  field.mutability = Mutability::ImmutableOnceSet;
  return *this;
}
F& F::zeroIsUnset() {
  field.zeroIsUnset = true;
  return *this;
}
F& F::keepEmpty() {
  field.keepEmpty = true;
  return *this;
}

N str() { return N(Type::String); }
N integer() { return N(Type::Integer); }
N number() { return N(Type::Number); }
N boolean() { return N(Type::Boolean); }
N intOrString() { return N(Type::IntOrString); }
N any() { return N(Type::Any); }
N object(std::vector<F> fields) {
  N n(Type::Object);
  n.with(std::move(fields));
  return n;
}
N array(const N& items) {
  N n(Type::Array);
  n.node().items = items.ptr();
  return n;
}
N mapOf(const N& values) {
  N n(Type::Map);
  n.node().values = values.ptr();
  return n;
}

void walk(const Node& node, Value& v, const std::string& path, Ctx& ctx) {
  if (v.isNull()) {
    if (!node.nullable) {
      ctx.add(path, std::string("must be ") + typePhrase(node.type) + ", got null", kTypeInvalid);
    }
    return;
  }
  if (!typeMatches(node.type, v)) {
    ctx.add(path, std::string("must be ") + typePhrase(node.type) + ", got " + describe(v),
            kTypeInvalid);
    return;
  }
  bool ok = true;
  switch (node.type) {
  case Type::Object:
    walkObject(node, v, path, ctx);
    break;
  case Type::Array:
    walkArray(node, v, path, ctx);
    break;
  case Type::Map:
    walkMap(node, v, path, ctx);
    break;
  default:
    walkScalar(node, v, path, ctx, &ok);
    break;
  }
  if (!ok) {
    return;
  }
  for (const auto& c : node.checks) {
    c(v, path, ctx);
  }
  if (node.type == Type::Object && !node.preserveUnknown && v.isObject()) {
    orderBySchema(node, v);
  }
}

void compareImmutable(const Node& node, const Value& oldV, const Value& newV,
                      const std::string& path, Ctx& ctx) {
  if (node.type != Type::Object || !oldV.isObject() || !newV.isObject()) {
    return;
  }
  for (const Field& f : node.fields) {
    const Value* o = oldV.find(f.name);
    const Value* n = newV.find(f.name);
    bool oldSet = o && !o->isNull();
    bool newSet = n && !n->isNull();
    std::string fpath = child(path, f.name);
    bool changed = oldSet != newSet || (oldSet && newSet && *o != *n);
    if (f.mutability == Mutability::Immutable ||
        (f.mutability == Mutability::ImmutableOnceSet && oldSet)) {
      if (changed) {
        std::string msg = "field is immutable (was " + (oldSet ? shortValue(*o) : "unset") +
                          ", now " + (newSet ? shortValue(*n) : "unset") + ")";
        ctx.add(fpath, msg, kInvalid);
      }
      continue;
    }
    if (oldSet && newSet) {
      compareImmutable(*f.node, *o, *n, fpath, ctx);
    }
  }
}

Value toOpenApi(const Node& node) {
  Value s = Value::object();
  switch (node.type) {
  case Type::String:
    s.set("type", "string");
    break;
  case Type::Integer:
    s.set("type", "integer");
    break;
  case Type::Number:
    s.set("type", "number");
    break;
  case Type::Boolean:
    s.set("type", "boolean");
    break;
  case Type::Object:
  case Type::Map:
    s.set("type", "object");
    break;
  case Type::Array:
    s.set("type", "array");
    break;
  case Type::IntOrString: {
    Value anyOf = Value::array();
    anyOf.push(Value(Value::Object{{"type", "integer"}}));
    anyOf.push(Value(Value::Object{{"type", "string"}}));
    s.set("anyOf", std::move(anyOf));
    s.set("x-kubernetes-int-or-string", true);
    break;
  }
  case Type::Any:
    s.set("x-kubernetes-preserve-unknown-fields", true);
    break;
  }
  if (!node.description.empty()) {
    s.set("description", node.description);
  }
  if (!node.format.empty()) {
    s.set("format", node.format);
  }
  if (!node.enumValues.empty() && !node.enumIgnoreCase) {
    Value e = Value::array();
    for (const auto& x : node.enumValues) {
      e.push(Value(x));
    }
    s.set("enum", std::move(e));
  } else if (!node.enumValues.empty()) {
    // Any letter case is accepted: a case-insensitive pattern instead of an enum.
    s.set("pattern", "^(?i)(" + join(node.enumValues, "|") + ")?$");
  }
  if (node.minimum) {
    s.set("minimum", Value(*node.minimum));
  }
  if (node.maximum) {
    s.set("maximum", Value(*node.maximum));
  }
  if (node.maxLength) {
    s.set("maxLength", Value(int64_t(*node.maxLength)));
  }
  if (node.minItems) {
    s.set("minItems", Value(int64_t(*node.minItems)));
  }
  if (node.maxItems) {
    s.set("maxItems", Value(int64_t(*node.maxItems)));
  }
  if (node.def) {
    s.set("default", *node.def);
  }
  if (node.nullable) {
    s.set("nullable", true);
  }
  if (node.type == Type::Object) {
    Value props = Value::object();
    Value required = Value::array();
    for (const auto& f : node.fields) {
      props.set(f.name, toOpenApi(*f.node));
      if (f.required) {
        required.push(Value(f.name));
      }
    }
    if (props.size() > 0) {
      s.set("properties", std::move(props));
    }
    if (required.size() > 0) {
      s.set("required", std::move(required));
    }
    if (node.preserveUnknown) {
      s.set("x-kubernetes-preserve-unknown-fields", true);
    }
  }
  if (node.type == Type::Array) {
    if (node.items) {
      s.set("items", toOpenApi(*node.items));
      bool scalar = node.items->type != Type::Object && node.items->type != Type::Array &&
                    node.items->type != Type::Map;
      if (node.setItems && scalar) {
        s.set("x-kubernetes-list-type", "set");
      }
    }
  }
  if (node.type == Type::Map && node.values) {
    s.set("additionalProperties", toOpenApi(*node.values));
  }
  return s;
}

} // namespace caracal::api::schema
