// The only translation unit that instantiates RapidJSON for generic documents.
#include "common/value.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace caracal {

namespace {

// SAX handler building a Value tree; avoids RapidJSON's DOM and a second copy.
class Builder {
public:
  bool Null() { return add(Value()); }
  bool Bool(bool b) { return add(Value(b)); }
  bool Int(int i) { return add(Value(int64_t(i))); }
  bool Uint(unsigned u) { return add(Value(int64_t(u))); }
  bool Int64(int64_t i) { return add(Value(i)); }
  bool Uint64(uint64_t u) {
    if (u > uint64_t(INT64_MAX)) {
      return add(Value(double(u)));
    }
    return add(Value(int64_t(u)));
  }
  bool Double(double d) { return add(Value(d)); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return false; }
  bool String(const char* s, rapidjson::SizeType n, bool) { return add(Value(std::string(s, n))); }
  bool StartObject() {
    stack_.push_back(Value::object());
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    keys_.emplace_back(s, n);
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return end(); }
  bool StartArray() {
    stack_.push_back(Value::array());
    return true;
  }
  bool EndArray(rapidjson::SizeType) { return end(); }

  Value take() { return std::move(root_); }

private:
  bool add(Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Value& top = stack_.back();
    if (top.isArray()) {
      top.mutableArray().push_back(std::move(v));
    } else {
      // Duplicate keys: the last one wins, as in Go's encoding/json.
      top[keys_.back()] = std::move(v);
      keys_.pop_back();
    }
    return true;
  }
  bool end() {
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return add(std::move(v));
  }

  std::vector<Value> stack_;
  std::vector<std::string> keys_;
  Value root_;
};

void appendString(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
  }
  out.push_back('"');
}

void appendDouble(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[32];
  // Shortest representation that round-trips.
  for (int prec = 15; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) {
      break;
    }
  }
  out += buf;
}

void indent(std::string& out, int level) {
  out.push_back('\n');
  out.append(static_cast<size_t>(level) * 2, ' ');
}

void write(std::string& out, const Value& v, bool pretty, int level) {
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
    appendDouble(out, v.asDouble());
    break;
  case Value::Type::String:
    appendString(out, v.asString());
    break;
  case Value::Type::Array: {
    const auto& a = v.asArray();
    out.push_back('[');
    for (size_t i = 0; i < a.size(); ++i) {
      if (i) {
        out.push_back(',');
      }
      if (pretty) {
        indent(out, level + 1);
      }
      write(out, a[i], pretty, level + 1);
    }
    if (pretty && !a.empty()) {
      indent(out, level);
    }
    out.push_back(']');
    break;
  }
  case Value::Type::Object: {
    const auto& o = v.asObject();
    out.push_back('{');
    for (size_t i = 0; i < o.size(); ++i) {
      if (i) {
        out.push_back(',');
      }
      if (pretty) {
        indent(out, level + 1);
      }
      appendString(out, o[i].first);
      out += pretty ? ": " : ":";
      write(out, o[i].second, pretty, level + 1);
    }
    if (pretty && !o.empty()) {
      indent(out, level);
    }
    out.push_back('}');
    break;
  }
  }
}

} // namespace

Result<Value> parseJson(std::string_view text) {
  Builder b;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::ParseResult r =
      reader.Parse<rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseFullPrecisionFlag>(ms, b);
  if (r.IsError()) {
    return Status(Code::BadRequest, std::string("invalid JSON at offset ") +
                                        std::to_string(r.Offset()) + ": " +
                                        rapidjson::GetParseError_En(r.Code()));
  }
  // Only whitespace may follow the document.
  for (size_t i = ms.Tell(); i < text.size(); ++i) {
    char c = text[i];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      return Status(Code::BadRequest, "invalid JSON at offset " + std::to_string(i) +
                                          ": unexpected data after the document");
    }
  }
  return b.take();
}

std::string toJson(const Value& v, bool pretty) {
  std::string out;
  write(out, v, pretty, 0);
  return out;
}

void appendJson(std::string& out, const Value& v) { write(out, v, false, 0); }

std::string jsonQuote(std::string_view s) {
  std::string out;
  appendString(out, s);
  return out;
}

} // namespace caracal
