#include "apiserver/protobuf.h"

#include "common/strings.h"

#include <array>
#include <cstdio>
#include <span>

namespace caracal::apiserver {

namespace {

constexpr uint32_t kMaxFieldNumber = (1u << 29) - 1;

Status malformed(const std::string& what) {
  return Status(Code::BadRequest, "invalid protobuf body: " + what);
}

std::string joinPath(std::string_view path, std::string_view name) {
  return path.empty() ? std::string(name) : std::string(path) + "." + std::string(name);
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += len;
  }
  return true;
}

// Seconds since the Unix epoch as metav1.Time writes them in JSON: RFC 3339, UTC, whole seconds.
// The calendar arithmetic is the proleptic Gregorian days-to-civil conversion.
Result<std::string> rfc3339(int64_t seconds) {
  constexpr int64_t kMin = -62135596800; // 0001-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799; // 9999-12-31T23:59:59Z
  if (seconds < kMin || seconds > kMax) {
    return malformed("time " + std::to_string(seconds) + " is outside years 1 to 9999");
  }
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  std::array<char, 80> buf{}; // room for any int, to keep -Wformat-truncation quiet
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02dZ", static_cast<int>(year),
                static_cast<int>(month), static_cast<int>(day), static_cast<int>(rem / 3600),
                static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  return std::string(buf.data());
}

// ---- Message descriptions ----------------------------------------------------------------------

enum class FieldKind : uint8_t {
  String,
  Bool,
  Int64,
  Message,
  StringMap, // map<string, string>: repeated entries {1: key, 2: value}
  Time,      // meta/v1 Time: {1: seconds, 2: nanos}; empty is Go's zero time
  FieldsV1,  // meta/v1 FieldsV1: {1: raw JSON}
};

struct MessageSpec;

struct FieldSpec {
  uint32_t number;
  std::string_view json;
  FieldKind kind;
  bool repeated = false;
  // The Go field is a pointer (or has no omitempty): a zero value sent on the wire is kept.
  bool keepZero = false;
  const MessageSpec* message = nullptr;
};

struct MessageSpec {
  std::span<const FieldSpec> fields;
};

// A plain Go value: zero is omitted, as encoding/json does with omitempty.
constexpr FieldSpec plain(uint32_t n, std::string_view json, FieldKind k) { return {n, json, k}; }
// A Go pointer (or a field JSON always writes): zero is kept.
constexpr FieldSpec kept(uint32_t n, std::string_view json, FieldKind k) {
  return {n, json, k, false, true};
}
constexpr FieldSpec list(uint32_t n, std::string_view json, FieldKind k,
                         const MessageSpec* m = nullptr) {
  return {n, json, k, true, false, m};
}
constexpr FieldSpec sub(uint32_t n, std::string_view json, const MessageSpec* m) {
  return {n, json, FieldKind::Message, false, true, m};
}

using K = FieldKind;

// k8s.io/apimachinery/pkg/apis/meta/v1
constexpr FieldSpec kOwnerReferenceFields[] = {
    kept(5, "apiVersion", K::String), kept(1, "kind", K::String),
    kept(3, "name", K::String),       kept(4, "uid", K::String),
    kept(6, "controller", K::Bool),   kept(7, "blockOwnerDeletion", K::Bool),
};
constexpr MessageSpec kOwnerReference{kOwnerReferenceFields};

constexpr FieldSpec kManagedFieldsEntryFields[] = {
    plain(1, "manager", K::String),     plain(2, "operation", K::String),
    plain(3, "apiVersion", K::String),  plain(4, "time", K::Time),
    plain(6, "fieldsType", K::String),  plain(7, "fieldsV1", K::FieldsV1),
    plain(8, "subresource", K::String),
};
constexpr MessageSpec kManagedFieldsEntry{kManagedFieldsEntryFields};

constexpr FieldSpec kObjectMetaFields[] = {
    plain(1, "name", K::String),
    plain(2, "generateName", K::String),
    plain(3, "namespace", K::String),
    plain(4, "selfLink", K::String),
    plain(5, "uid", K::String),
    plain(6, "resourceVersion", K::String),
    plain(7, "generation", K::Int64),
    plain(8, "creationTimestamp", K::Time),
    plain(9, "deletionTimestamp", K::Time),
    kept(10, "deletionGracePeriodSeconds", K::Int64),
    plain(11, "labels", K::StringMap),
    plain(12, "annotations", K::StringMap),
    list(13, "ownerReferences", K::Message, &kOwnerReference),
    list(14, "finalizers", K::String),
    list(17, "managedFields", K::Message, &kManagedFieldsEntry),
};
constexpr MessageSpec kObjectMeta{kObjectMetaFields};

constexpr FieldSpec kPreconditionsFields[] = {
    kept(1, "uid", K::String),
    kept(2, "resourceVersion", K::String),
};
constexpr MessageSpec kPreconditions{kPreconditionsFields};

constexpr FieldSpec kDeleteOptionsFields[] = {
    kept(1, "gracePeriodSeconds", K::Int64),
    sub(2, "preconditions", &kPreconditions),
    kept(3, "orphanDependents", K::Bool),
    kept(4, "propagationPolicy", K::String),
    list(5, "dryRun", K::String),
};
constexpr MessageSpec kDeleteOptions{kDeleteOptionsFields};

// k8s.io/api/core/v1
constexpr FieldSpec kNamespaceSpecFields[] = {list(1, "finalizers", K::String)};
constexpr MessageSpec kNamespaceSpec{kNamespaceSpecFields};

constexpr FieldSpec kNamespaceConditionFields[] = {
    kept(1, "type", K::String),
    kept(2, "status", K::String),
    plain(4, "lastTransitionTime", K::Time),
    plain(5, "reason", K::String),
    plain(6, "message", K::String),
};
constexpr MessageSpec kNamespaceCondition{kNamespaceConditionFields};

constexpr FieldSpec kNamespaceStatusFields[] = {
    plain(1, "phase", K::String),
    list(2, "conditions", K::Message, &kNamespaceCondition),
};
constexpr MessageSpec kNamespaceStatus{kNamespaceStatusFields};

constexpr FieldSpec kNamespaceFields[] = {
    sub(1, "metadata", &kObjectMeta),
    sub(2, "spec", &kNamespaceSpec),
    sub(3, "status", &kNamespaceStatus),
};
constexpr MessageSpec kNamespace{kNamespaceFields};

constexpr FieldSpec kObjectReferenceFields[] = {
    plain(1, "kind", K::String),       plain(2, "namespace", K::String),
    plain(3, "name", K::String),       plain(4, "uid", K::String),
    plain(5, "apiVersion", K::String), plain(6, "resourceVersion", K::String),
    plain(7, "fieldPath", K::String),
};
constexpr MessageSpec kObjectReference{kObjectReferenceFields};

constexpr FieldSpec kLocalObjectReferenceFields[] = {plain(1, "name", K::String)};
constexpr MessageSpec kLocalObjectReference{kLocalObjectReferenceFields};

constexpr FieldSpec kServiceAccountFields[] = {
    sub(1, "metadata", &kObjectMeta),
    list(2, "secrets", K::Message, &kObjectReference),
    list(3, "imagePullSecrets", K::Message, &kLocalObjectReference),
    kept(4, "automountServiceAccountToken", K::Bool),
};
constexpr MessageSpec kServiceAccount{kServiceAccountFields};

struct TopLevel {
  std::string_view apiVersion;
  std::string_view kind;
  const MessageSpec* spec;
};

constexpr TopLevel kTopLevel[] = {
    {"v1", "Namespace", &kNamespace},
    {"v1", "ServiceAccount", &kServiceAccount},
    {"v1", "DeleteOptions", &kDeleteOptions},
    {"meta.k8s.io/v1", "DeleteOptions", &kDeleteOptions},
};

const MessageSpec* findTopLevel(std::string_view apiVersion, std::string_view kind) {
  for (const auto& t : kTopLevel) {
    if (t.apiVersion == apiVersion && t.kind == kind) {
      return t.spec;
    }
  }
  return nullptr;
}

// ---- Decoding ----------------------------------------------------------------------------------

WireType wireTypeOf(FieldKind k) {
  return k == FieldKind::Bool || k == FieldKind::Int64 ? WireType::Varint : WireType::Bytes;
}

Result<std::string> readString(std::string_view bytes, const std::string& path) {
  if (!isUtf8(bytes)) {
    return malformed(path + ": string is not valid UTF-8");
  }
  return std::string(bytes);
}

// Reads a message of only string fields 1 and 2 (a map entry, TypeMeta).
Status readStringPair(std::string_view data, const std::string& path, std::string& first,
                      std::string& second) {
  WireReader r(data);
  while (!r.atEnd()) {
    ASSIGN_OR_RETURN(WireField f, r.next());
    if (f.number != 1 && f.number != 2) {
      continue;
    }
    if (f.type != WireType::Bytes) {
      return malformed(path + ": field " + std::to_string(f.number) + " is not a string");
    }
    ASSIGN_OR_RETURN((f.number == 1 ? first : second), readString(f.bytes, path));
  }
  return Status::ok();
}

// Time as JSON; a null Value for the zero time (an empty message).
Result<Value> readTime(std::string_view data, const std::string& path) {
  if (data.empty()) {
    return Value();
  }
  int64_t seconds = 0;
  WireReader r(data);
  while (!r.atEnd()) {
    ASSIGN_OR_RETURN(WireField f, r.next());
    if (f.number == 1) {
      if (f.type != WireType::Varint) {
        return malformed(path + ": seconds is not a varint");
      }
      seconds = static_cast<int64_t>(f.scalar);
    }
    // Field 2 (nanos) is dropped: metav1.Time is written in JSON with whole seconds.
  }
  auto s = rfc3339(seconds);
  if (!s) {
    return s.error().withContext(path);
  }
  return Value(std::move(s).value());
}

Result<Value> readFieldsV1(std::string_view data, const std::string& path) {
  std::string_view raw;
  WireReader r(data);
  while (!r.atEnd()) {
    ASSIGN_OR_RETURN(WireField f, r.next());
    if (f.number == 1) {
      if (f.type != WireType::Bytes) {
        return malformed(path + ": raw is not length-delimited");
      }
      raw = f.bytes;
    }
  }
  if (raw.empty()) {
    return Value();
  }
  auto v = parseJson(raw);
  if (!v) {
    return malformed(path + ": " + v.error().message());
  }
  return std::move(v).value();
}

bool isZero(const Value& v) {
  return (v.isString() && v.asString().empty()) || (v.isBool() && !v.asBool()) ||
         (v.isInt() && v.asInt() == 0);
}

Status decodeMessage(const MessageSpec& spec, std::string_view data, Value& out,
                     const std::string& path) {
  WireReader r(data);
  while (!r.atEnd()) {
    ASSIGN_OR_RETURN(WireField w, r.next());
    const FieldSpec* f = nullptr;
    for (const auto& candidate : spec.fields) {
      if (candidate.number == w.number) {
        f = &candidate;
        break;
      }
    }
    if (!f) {
      continue; // a field this server does not model: skipped, as protobuf readers do
    }
    std::string fpath = joinPath(path, f->json);
    if (w.type != wireTypeOf(f->kind)) {
      return malformed(fpath + ": wire type " + std::to_string(static_cast<int>(w.type)) +
                       " does not fit the field");
    }
    if (f->kind == FieldKind::StringMap) {
      std::string key;
      std::string val;
      RETURN_IF_ERROR(readStringPair(w.bytes, fpath, key, val));
      Value& m = out[f->json];
      if (!m.isObject()) {
        m = Value::object();
      }
      m.set(key, std::move(val));
      continue;
    }
    if (f->kind == FieldKind::Message && !f->repeated) {
      // A repeated occurrence of an embedded message merges into the first, as in protobuf.
      Value& m = out[f->json];
      if (!m.isObject()) {
        m = Value::object();
      }
      RETURN_IF_ERROR(decodeMessage(*f->message, w.bytes, m, fpath));
      continue;
    }
    Value v;
    switch (f->kind) {
    case FieldKind::String: {
      ASSIGN_OR_RETURN(std::string s, readString(w.bytes, fpath));
      v = std::move(s);
      break;
    }
    case FieldKind::Bool:
      v = w.scalar != 0;
      break;
    case FieldKind::Int64:
      v = static_cast<int64_t>(w.scalar);
      break;
    case FieldKind::Message:
      v = Value::object();
      RETURN_IF_ERROR(decodeMessage(*f->message, w.bytes, v, fpath));
      break;
    case FieldKind::Time: {
      ASSIGN_OR_RETURN(v, readTime(w.bytes, fpath));
      break;
    }
    case FieldKind::FieldsV1: {
      ASSIGN_OR_RETURN(v, readFieldsV1(w.bytes, fpath));
      break;
    }
    case FieldKind::StringMap:
      break; // handled above
    }
    if (f->repeated) {
      out[f->json].push(std::move(v));
    } else if (v.isNull() || (isZero(v) && !f->keepZero)) {
      out.erase(f->json);
    } else {
      out[f->json] = std::move(v);
    }
  }
  return Status::ok();
}

} // namespace

bool isProtobufMediaType(std::string_view contentType) {
  size_t semi = contentType.find(';');
  return toLower(trim(contentType.substr(0, semi))) == kProtobufMediaType;
}

Result<uint64_t> WireReader::varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos_ >= data_.size()) {
      return malformed("truncated varint at offset " + std::to_string(pos_));
    }
    auto b = static_cast<unsigned char>(data_[pos_++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      return v;
    }
  }
  return malformed("varint longer than 10 bytes before offset " + std::to_string(pos_));
}

Result<WireField> WireReader::next() {
  size_t start = pos_;
  ASSIGN_OR_RETURN(uint64_t key, varint());
  uint64_t number = key >> 3;
  if (number == 0 || number > kMaxFieldNumber) {
    return malformed("field number " + std::to_string(number) + " at offset " +
                     std::to_string(start));
  }
  WireField f;
  f.number = static_cast<uint32_t>(number);
  f.type = static_cast<WireType>(key & 7);
  switch (f.type) {
  case WireType::Varint: {
    ASSIGN_OR_RETURN(f.scalar, varint());
    return f;
  }
  case WireType::Fixed64:
  case WireType::Fixed32: {
    size_t n = f.type == WireType::Fixed64 ? 8 : 4;
    if (data_.size() - pos_ < n) {
      return malformed("truncated fixed-width field at offset " + std::to_string(start));
    }
    for (size_t i = 0; i < n; ++i) {
      f.scalar |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    return f;
  }
  case WireType::Bytes: {
    ASSIGN_OR_RETURN(uint64_t len, varint());
    if (len > data_.size() - pos_) {
      return malformed("length " + std::to_string(len) + " at offset " + std::to_string(start) +
                       " runs past the end of the data");
    }
    f.bytes = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return f;
  }
  default:
    return malformed("unsupported wire type " + std::to_string(key & 7) + " at offset " +
                     std::to_string(start));
  }
}

Result<ProtobufEnvelope> parseProtobufEnvelope(std::string_view body) {
  if (body.size() < kProtobufMagic.size() ||
      body.substr(0, kProtobufMagic.size()) != kProtobufMagic) {
    return malformed("it does not start with the Kubernetes protobuf prefix \"k8s\\x00\"");
  }
  ProtobufEnvelope env;
  WireReader r(body.substr(kProtobufMagic.size()));
  while (!r.atEnd()) {
    ASSIGN_OR_RETURN(WireField f, r.next());
    if (f.number < 1 || f.number > 4) {
      continue;
    }
    if (f.type != WireType::Bytes) {
      return malformed("envelope field " + std::to_string(f.number) + " is not length-delimited");
    }
    switch (f.number) {
    case 1:
      RETURN_IF_ERROR(readStringPair(f.bytes, "typeMeta", env.apiVersion, env.kind));
      break;
    case 2:
      env.raw = f.bytes;
      break;
    case 3: {
      ASSIGN_OR_RETURN(env.contentEncoding, readString(f.bytes, "contentEncoding"));
      break;
    }
    default: {
      ASSIGN_OR_RETURN(env.contentType, readString(f.bytes, "contentType"));
      break;
    }
    }
  }
  return env;
}

bool canDecodeProtobuf(std::string_view apiVersion, std::string_view kind) {
  return findTopLevel(apiVersion, kind) != nullptr;
}

Result<Value> decodeProtobufObject(const ProtobufEnvelope& env) {
  const MessageSpec* spec = findTopLevel(env.apiVersion, env.kind);
  if (!spec) {
    return Status(Code::BadRequest, "no protobuf decoder for apiVersion \"" + env.apiVersion +
                                        "\", kind \"" + env.kind + "\"");
  }
  if (!env.contentEncoding.empty()) {
    return Status(Code::BadRequest,
                  "protobuf content encoding \"" + env.contentEncoding + "\" is not supported");
  }
  Value out = Value::object();
  out["apiVersion"] = env.apiVersion;
  out["kind"] = env.kind;
  RETURN_IF_ERROR(decodeMessage(*spec, env.raw, out, ""));
  return out;
}

Result<Value> decodeProtobuf(std::string_view body) {
  ASSIGN_OR_RETURN(ProtobufEnvelope env, parseProtobufEnvelope(body));
  return decodeProtobufObject(env);
}

} // namespace caracal::apiserver
