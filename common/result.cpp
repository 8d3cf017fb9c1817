#include "common/result.h"

namespace caracal {

const char* codeName(Code c) {
  switch (c) {
  case Code::Ok:
    return "Ok";
  case Code::Invalid:
    return "Invalid";
  case Code::BadRequest:
    return "BadRequest";
  case Code::NotFound:
    return "NotFound";
  case Code::AlreadyExists:
    return "AlreadyExists";
  case Code::Conflict:
    return "Conflict";
  case Code::Gone:
    return "Gone";
  case Code::Unauthorized:
    return "Unauthorized";
  case Code::Forbidden:
    return "Forbidden";
  case Code::TooLarge:
    return "TooLarge";
  case Code::Timeout:
    return "Timeout";
  case Code::Unavailable:
    return "Unavailable";
  case Code::Internal:
    return "Internal";
  }
  return "Unknown";
}

Status Status::invalid(std::vector<FieldCause> causes) {
  std::string msg;
  for (const auto& c : causes) {
    if (!msg.empty()) {
      msg += "; ";
    }
    msg += c.str();
  }
  Status s(Code::Invalid, msg.empty() ? "invalid" : msg);
  s.causes_ = std::move(causes);
  return s;
}

Status Status::invalidField(std::string field, std::string message, std::string reason) {
  return invalid({FieldCause{std::move(field), std::move(message), std::move(reason)}});
}

Status Status::withContext(const std::string& context) const {
  if (isOk()) {
    return *this;
  }
  Status s = *this;
  s.message_ = context + ": " + message_;
  return s;
}

std::string Status::str() const {
  if (isOk()) {
    return "OK";
  }
  return std::string(codeName(code_)) + ": " + message_;
}

} // namespace caracal
