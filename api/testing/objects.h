#pragma once
// Test support: kinds looked up by name and documents parsed from YAML or JSON text, with a test
// failure (not a crash) when the text does not parse. Extends api/model_test_util.h (yaml()).

#include "api/model_test_util.h"
#include "api/registry.h"
#include "common/value.h"

#include <gtest/gtest.h>
#include <string_view>

namespace caracal::api::testutil {

// A projectcalico.org/v3 kind, e.g. calico("IPPool").
inline const KindInfo& calico(const char* kind) {
  return *findByKind("projectcalico.org/v3", kind);
}

// A core (v1) Kubernetes kind, e.g. core("Namespace").
inline const KindInfo& core(const char* kind) { return *findByKind("v1", kind); }

// The document of the JSON text; null (and a test failure) when it does not parse.
inline Value json(std::string_view text) {
  auto r = parseJson(text);
  EXPECT_TRUE(r.hasValue()) << (r ? "" : r.error().str()) << "\n" << text;
  return r ? *r : Value();
}

} // namespace caracal::api::testutil
