#pragma once
// Helpers shared by the resource-model tests.

#include "api/registry.h"
#include "common/value.h"

#include <gtest/gtest.h>
#include <string>
#include <string_view>

namespace caracal::api::testutil {

inline Value yaml(std::string_view text) {
  auto r = parseYaml(text);
  EXPECT_TRUE(r.hasValue()) << (r ? "" : r.error().str()) << "\n" << text;
  return r ? *r : Value();
}

// Normalizes the object of the YAML text (its kind taken from apiVersion/kind); *out receives the
// result.
inline Status normalizeYaml(std::string_view text, Value* out = nullptr,
                            const NormalizeOptions& opts = {}) {
  Value obj = yaml(text);
  const KindInfo* info = findByKind(obj.getString("apiVersion"), obj.getString("kind"));
  EXPECT_NE(info, nullptr) << "no kind for " << obj.getString("apiVersion") << " "
                           << obj.getString("kind");
  if (!info) {
    return Status(Code::NotFound, "no kind");
  }
  Status st = normalize(*info, obj, opts);
  if (out) {
    *out = std::move(obj);
  }
  return st;
}

// Passes when `st` has a cause at exactly `field` whose message contains `fragment` (and whose
// reason is `reason`, when given).
inline ::testing::AssertionResult hasCause(const Status& st, std::string_view field,
                                           std::string_view fragment,
                                           std::string_view reason = "") {
  if (st.isOk()) {
    return ::testing::AssertionFailure() << "status is OK, expected a cause at " << field;
  }
  for (const auto& c : st.causes()) {
    if (c.field == field && c.message.find(fragment) != std::string::npos &&
        (reason.empty() || c.reason == reason)) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure()
         << "no cause at \"" << field << "\" containing \"" << fragment << "\""
         << (reason.empty() ? "" : " with reason " + std::string(reason))
         << "; got: " << st.message();
}

inline ::testing::AssertionResult isOk(const Status& st) {
  if (st.isOk()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << st.str();
}

} // namespace caracal::api::testutil
