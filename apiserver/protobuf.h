#pragma once
// Kubernetes protobuf request bodies ("application/vnd.kubernetes.protobuf").
//
// client-go's typed clients, and so kubectl's generators (`kubectl create namespace`, `kubectl
// create serviceaccount`) and `kubectl drain`'s pod deletions, send bodies in this encoding: the
// four bytes "k8s\0", then a runtime.Unknown message {1: TypeMeta{1: apiVersion, 2: kind},
// 2: raw, 3: contentEncoding, 4: contentType} whose `raw` is the protobuf of the typed object.
//
// This file decodes such bodies into the JSON-shaped Value that the JSON decoder produces for the
// same object, so that validation, defaulting and storage run unchanged. Replies stay JSON: clients
// decode by the reply's Content-Type, and kubectl always accepts application/json.
//
// Only the kinds kubectl sends in protobuf to this server are known (v1 Namespace, v1
// ServiceAccount, DeleteOptions); canDecodeProtobuf() tells the others apart so that the server can
// answer 415. Field numbers follow k8s.io/api core/v1 and k8s.io/apimachinery meta/v1
// generated.proto. Unknown field numbers are skipped, as protobuf readers do. Fields follow the
// JSON rules of the Go types: zero scalars whose Go field is a plain value are omitted (proto2 has
// no presence for them: gogo writes them always), fields that are pointers in Go keep their zero
// value, and an empty Time (Go's zero time) is omitted.
//
// Pure: no I/O, no state; thread-safe.

#include "common/result.h"
#include "common/value.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace caracal::apiserver {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";
// The four bytes that open every Kubernetes protobuf body.
inline constexpr std::string_view kProtobufMagic{"k8s\0", 4};

// True when the Content-Type's media type (before any ';' parameters) is kProtobufMediaType,
// compared case-insensitively.
bool isProtobufMediaType(std::string_view contentType);

// ---- Wire format -------------------------------------------------------------------------------

enum class WireType : uint8_t {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2, // length-delimited: strings, bytes, embedded messages, packed repeated
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
};

// One field as read from the wire, payload included.
struct WireField {
  uint32_t number = 0;
  WireType type = WireType::Varint;
  uint64_t scalar = 0;    // Varint, Fixed64 and Fixed32 payloads
  std::string_view bytes; // Bytes payload (a view into the reader's data)
};

// Reads the fields of one message in order. Skipping an unknown field is reading it and ignoring
// the result. Errors (Code::BadRequest, naming the byte offset): a truncated key, varint or
// payload, a varint longer than 10 bytes, field number 0 or above 2^29-1, and the deprecated group
// wire types (3, 4) and the undefined ones (6, 7).
class WireReader {
public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool atEnd() const { return pos_ >= data_.size(); }
  size_t offset() const { return pos_; }
  Result<WireField> next();

private:
  Result<uint64_t> varint();

  std::string_view data_;
  size_t pos_ = 0;
};

// ---- Kubernetes envelope and objects -----------------------------------------------------------

// The runtime.Unknown that wraps every object. `raw` views into the body passed to
// parseProtobufEnvelope and lives as long as it.
struct ProtobufEnvelope {
  std::string apiVersion;
  std::string kind;
  std::string_view raw;
  std::string contentEncoding;
  std::string contentType;
};

// Checks the magic and reads the envelope. Errors are Code::BadRequest.
Result<ProtobufEnvelope> parseProtobufEnvelope(std::string_view body);

// True when decodeProtobufObject knows the message of apiVersion/kind: "v1" Namespace and
// ServiceAccount; DeleteOptions as "v1" or "meta.k8s.io/v1".
bool canDecodeProtobuf(std::string_view apiVersion, std::string_view kind);

// The envelope's object as the JSON decoder would give it: apiVersion and kind from the envelope,
// then the object's fields. Errors (Code::BadRequest): an unknown kind, a content encoding, a
// malformed message, a field whose wire type does not fit its declared type, a string that is not
// UTF-8, managedFields whose fieldsV1 is not JSON.
Result<Value> decodeProtobufObject(const ProtobufEnvelope& env);

// parseProtobufEnvelope, then decodeProtobufObject.
Result<Value> decodeProtobuf(std::string_view body);

} // namespace caracal::apiserver
