// The only translation unit that includes yaml-cpp.
#include "common/value.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <yaml-cpp/yaml.h>

namespace caracal {

namespace {

bool isNullWord(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool isTrueWord(const std::string& s) { return s == "true" || s == "True" || s == "TRUE"; }
bool isFalseWord(const std::string& s) { return s == "false" || s == "False" || s == "FALSE"; }

const std::regex& intRe() {
  static const std::regex re("[-+]?[0-9]+");
  return re;
}
const std::regex& floatRe() {
  static const std::regex re("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  return re;
}

// YAML 1.2 core schema for plain scalars.
Value plainScalar(const std::string& s) {
  if (isNullWord(s)) {
    return Value();
  }
  if (isTrueWord(s)) {
    return Value(true);
  }
  if (isFalseWord(s)) {
    return Value(false);
  }
  if (std::regex_match(s, intRe())) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end && *end == '\0') {
      return Value(int64_t(v));
    }
    return Value(std::strtod(s.c_str(), nullptr));
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str() + 2, &end, s[1] == 'x' ? 16 : 8);
    if (end && *end == '\0') {
      return Value(int64_t(v));
    }
  }
  if (std::regex_match(s, floatRe())) {
    return Value(std::strtod(s.c_str(), nullptr));
  }
  if (s == ".inf" || s == ".Inf" || s == "+.inf") {
    return Value(HUGE_VAL);
  }
  if (s == "-.inf" || s == "-.Inf") {
    return Value(-HUGE_VAL);
  }
  return Value(s);
}

std::string where(const YAML::Mark& m) {
  if (m.is_null()) {
    return "";
  }
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1) + ": ";
}

Result<Value> convert(const YAML::Node& n, int depth) {
  if (depth > 200) {
    return Status(Code::BadRequest, "invalid YAML: nesting deeper than 200 levels");
  }
  switch (n.Type()) {
  case YAML::NodeType::Undefined:
  case YAML::NodeType::Null:
    return Value();
  case YAML::NodeType::Scalar: {
    // A quoted scalar carries the non-specific tag "!"; a plain one "?".
    if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str" || n.Tag() == "!!str") {
      return Value(n.Scalar());
    }
    return plainScalar(n.Scalar());
  }
  case YAML::NodeType::Sequence: {
    Value out = Value::array();
    for (const auto& item : n) {
      auto v = convert(item, depth + 1);
      if (!v) {
        return v;
      }
      out.push(std::move(v).value());
    }
    return out;
  }
  case YAML::NodeType::Map: {
    Value out = Value::object();
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        return Status(Code::BadRequest,
                      "invalid YAML: " + where(kv.first.Mark()) + "mapping keys must be scalars");
      }
      const std::string& key = kv.first.Scalar();
      if (out.has(key)) {
        return Status(Code::BadRequest, "invalid YAML: " + where(kv.first.Mark()) +
                                            "mapping key \"" + key + "\" already defined");
      }
      auto v = convert(kv.second, depth + 1);
      if (!v) {
        return v;
      }
      out.mutableObject().emplace_back(key, std::move(v).value());
    }
    return out;
  }
  }
  return Value();
}

bool needsQuotes(const std::string& s) {
  if (s.empty()) {
    return true;
  }
  // Anything that would read back as another type, or that YAML gives meaning to.
  if (!plainScalar(s).isString()) {
    return true;
  }
  static const std::string kWords[] = {"yes", "no",  "on",  "off", "y",  "n",   "Yes", "No",
                                       "On",  "Off", "YES", "NO",  "ON", "OFF", "Y",   "N"};
  for (const auto& w : kWords) {
    if (s == w) {
      return true;
    }
  }
  static const std::string kFirstBad = "-?:,[]{}#&*!|>'\"%@` \t";
  if (kFirstBad.find(s[0]) != std::string::npos) {
    // A leading dash followed by a non-space is fine ("-foo"), except a lone "-".
    if (!(s[0] == '-' && s.size() > 1 && s[1] != ' ')) {
      return true;
    }
  }
  // YAML 1.1 readers take "9000:9010" (digits and colons) for a base-60 number.
  if (std::isdigit(static_cast<unsigned char>(s[0])) &&
      s.find_first_not_of("0123456789:._") == std::string::npos &&
      s.find(':') != std::string::npos) {
    return true;
  }
  if (s.back() == ' ' || s.back() == ':') {
    return true;
  }
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) {
    return true;
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      return true;
    }
  }
  return false;
}

void emitString(std::string& out, const std::string& s) {
  if (!needsQuotes(s)) {
    out += s;
    return;
  }
  bool control = false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      control = true;
    }
  }
  if (!control) {
    out.push_back('\'');
    for (char c : s) {
      if (c == '\'') {
        out += "''";
      } else {
        out.push_back(c);
      }
    }
    out.push_back('\'');
    return;
  }
  // Double-quoted with JSON-compatible escapes.
  out += jsonQuote(s);
}

void emitScalar(std::string& out, const Value& v) {
  switch (v.type()) {
  case Value::Type::Null:
    out += "null";
    break;
  case Value::Type::Bool:
    out += v.asBool() ? "true" : "false";
    break;
  case Value::Type::Int:
    out += std::to_string(v.asInt());
    break;
  case Value::Type::Double:
    out += toJson(v);
    break;
  case Value::Type::String:
    emitString(out, v.asString());
    break;
  case Value::Type::Array:
    out += "[]";
    break;
  case Value::Type::Object:
    out += "{}";
    break;
  }
}

bool isCollection(const Value& v) { return (v.isArray() || v.isObject()) && v.size() > 0; }

void emit(std::string& out, const Value& v, int level);

void emitMapBody(std::string& out, const Value& v, int level) {
  bool first = true;
  for (const auto& m : v.asObject()) {
    if (!first) {
      out.append(size_t(level) * 2, ' ');
    }
    first = false;
    emitString(out, m.first);
    out.push_back(':');
    if (isCollection(m.second)) {
      out.push_back('\n');
      if (m.second.isArray()) {
        // Sequences under a key sit at the key's indentation, as kubectl prints them.
        out.append(size_t(level) * 2, ' ');
        emit(out, m.second, level);
      } else {
        out.append(size_t(level + 1) * 2, ' ');
        emit(out, m.second, level + 1);
      }
    } else {
      out.push_back(' ');
      emitScalar(out, m.second);
      out.push_back('\n');
    }
  }
}

// Writes `v` assuming the cursor sits at column level*2 of a fresh line.
void emit(std::string& out, const Value& v, int level) {
  if (!isCollection(v)) {
    emitScalar(out, v);
    out.push_back('\n');
    return;
  }
  if (v.isObject()) {
    emitMapBody(out, v, level);
    return;
  }
  bool first = true;
  for (const auto& item : v.asArray()) {
    if (!first) {
      out.append(size_t(level) * 2, ' ');
    }
    first = false;
    out += "- ";
    if (item.isObject() && item.size() > 0) {
      emitMapBody(out, item, level + 1);
    } else if (item.isArray() && item.size() > 0) {
      out.push_back('\n');
      out.append(size_t(level + 1) * 2, ' ');
      emit(out, item, level + 1);
    } else {
      emitScalar(out, item);
      out.push_back('\n');
    }
  }
}

} // namespace

Result<std::vector<Value>> parseYamlDocuments(std::string_view text) {
  std::vector<Value> docs;
  try {
    std::vector<YAML::Node> nodes = YAML::LoadAll(std::string(text));
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto v = convert(nodes[i], 0);
      if (!v) {
        return v.error().withContext("document " + std::to_string(i));
      }
      // Empty documents (a stray "---") are skipped, as kubectl does.
      if (v->isNull()) {
        continue;
      }
      docs.push_back(std::move(v).value());
    }
  } catch (const YAML::Exception& e) {
    return Status(Code::BadRequest, "invalid YAML: " + where(e.mark) + e.msg);
  }
  return docs;
}

Result<Value> parseYaml(std::string_view text) {
  auto docs = parseYamlDocuments(text);
  if (!docs) {
    return docs.error();
  }
  if (docs->size() != 1) {
    return Status(Code::BadRequest,
                  "expected one YAML document, found " + std::to_string(docs->size()));
  }
  return std::move(docs->front());
}

std::string toYaml(const Value& v) {
  std::string out;
  emit(out, v, 0);
  return out;
}

} // namespace caracal
