#pragma once
// Errors as values.
//
// Every fallible call returns `Status` (no value) or `Result<T>`; nothing throws across components.
// An error carries a `Code` (what kind of failure, mapped one-to-one onto Kubernetes Status reasons
// by the apiserver), a human message, and, for validation failures, the list of field causes so
// that the apiserver and caracalctl print the same text. The API mirrors std::expected so a later
// swap is a rename.

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace caracal {

enum class Code {
  Ok,
  Invalid,       // bad input: a field, a value, a document (HTTP 422 / 400)
  BadRequest,    // malformed request or body (HTTP 400)
  NotFound,      // (404)
  AlreadyExists, // (409)
  Conflict,      // stale revision, compare-and-swap lost (409)
  Gone,          // watch/list revision compacted away (410)
  Unauthorized,  // (401)
  Forbidden,     // (403)
  TooLarge,      // body or object too large (413)
  Timeout,       // (504)
  Unavailable,   // server or store not ready, connection failed (503)
  Internal,      // broken invariant or I/O failure (500)
};

const char* codeName(Code c);

// One invalid field, as Kubernetes reports it in status.details.causes.
struct FieldCause {
  std::string field;   // path such as "spec.ipipMode" or "spec.ingress[0].action"
  std::string message; // e.g. unknown value "sometimes" (allowed: Always, CrossSubnet, Never)
  std::string reason = "FieldValueInvalid";

  // "spec.ipipMode: unknown value ..." (or just the message when there is no field).
  std::string str() const { return field.empty() ? message : field + ": " + message; }
  bool operator==(const FieldCause&) const = default;
};

class [[nodiscard]] Status {
public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  // A validation error built from field causes; the message lists them all, "; "-separated.
  static Status invalid(std::vector<FieldCause> causes);
  static Status invalidField(std::string field, std::string message,
                             std::string reason = "FieldValueInvalid");

  bool isOk() const { return code_ == Code::Ok; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::vector<FieldCause>& causes() const { return causes_; }
  std::vector<FieldCause>& mutableCauses() { return causes_; }

  // Prepends context: "decoding ippool foo: <message>".
  Status withContext(const std::string& context) const;
  std::string str() const; // "Invalid: message"

private:
  Code code_ = Code::Ok;
  std::string message_;
  std::vector<FieldCause> causes_;
};

template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).isOk()); }
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}

  bool hasValue() const { return v_.index() == 0; }
  explicit operator bool() const { return hasValue(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Status& error() const { return std::get<Status>(v_); }
  Status status() const { return hasValue() ? Status() : error(); }
  Code code() const { return hasValue() ? Code::Ok : error().code(); }

private:
  std::variant<T, Status> v_;
};

#define CARACAL_CONCAT_INNER(a, b) a##b
#define CARACAL_CONCAT(a, b) CARACAL_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                                                                      \
  do {                                                                                             \
    ::caracal::Status _st = (expr);                                                                \
    if (!_st.isOk())                                                                               \
      return _st;                                                                                  \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                                                      \
  auto tmp = (expr);                                                                               \
  if (!tmp.hasValue())                                                                             \
    return tmp.error();                                                                            \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr)                                                                \
  ASSIGN_OR_RETURN_IMPL(CARACAL_CONCAT(_res_, __LINE__), lhs, expr)

} // namespace caracal
