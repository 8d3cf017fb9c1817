// Every manifest under examples/ loads without a single error and round-trips through YAML and
// JSON.
#include "api/model_test_util.h"
#include "api/registry.h"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

#ifndef CARACAL_EXAMPLES_DIR
#error "CARACAL_EXAMPLES_DIR must name the examples directory"
#endif

namespace caracal::api {
namespace {

using testutil::isOk;

std::vector<std::filesystem::path> exampleFiles() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(CARACAL_EXAMPLES_DIR)) {
    auto ext = e.path().extension();
    if (ext == ".yaml" || ext == ".yml" || ext == ".json") {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Examples, ExpectedFilesExist) {
  for (const char* name :
       {"10-calico-ippools.yaml", "11-calico-bgp.yaml", "12-calico-felix.yaml",
        "13-calico-policy.yaml", "00-k8s-namespace.yaml", "20-k8s-networkpolicy.yaml"}) {
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(CARACAL_EXAMPLES_DIR) / name))
        << name;
  }
}

TEST(Examples, LoadWithoutErrorsAndRoundTrip) {
  auto files = exampleFiles();
  ASSERT_GE(files.size(), 6u);
  size_t objects = 0;
  for (const auto& f : files) {
    SCOPED_TRACE(f.filename().string());
    auto docs = parseDocuments(readFile(f));
    ASSERT_TRUE(docs) << docs.error().str();
    ASSERT_FALSE(docs->empty());
    for (Value& doc : *docs) {
      const KindInfo* k = findByKind(doc.getString("apiVersion"), doc.getString("kind"));
      ASSERT_NE(k, nullptr) << doc.getString("kind");
      SCOPED_TRACE(k->kind + " " + doc.getString("metadata.name"));
      Value obj = doc;
      ASSERT_TRUE(isOk(normalize(*k, obj)));
      ++objects;

      // YAML: encode, decode, normalize again: the same object.
      auto y = parseYaml(toYaml(obj));
      ASSERT_TRUE(y) << y.error().str() << "\n" << toYaml(obj);
      Value fromYaml = *y;
      ASSERT_TRUE(isOk(normalize(*k, fromYaml)));
      EXPECT_EQ(fromYaml, obj) << toYaml(obj);
      EXPECT_EQ(toYaml(fromYaml), toYaml(obj));

      // JSON likewise.
      auto j = parseJson(toJson(obj));
      ASSERT_TRUE(j) << j.error().str();
      Value fromJson = *j;
      ASSERT_TRUE(isOk(normalize(*k, fromJson)));
      EXPECT_EQ(fromJson, obj) << toJson(obj, true);
      EXPECT_EQ(toJson(fromJson), toJson(obj));

      // Printing every column works on a real object.
      for (const auto& c : k->columns) {
        (void)c.cell(obj);
      }
    }
  }
  EXPECT_GE(objects, 15u);
}

TEST(Examples, ReferenceValuesSurviveNormalisation) {
  auto docs = parseDocuments(
      readFile(std::filesystem::path(CARACAL_EXAMPLES_DIR) / "10-calico-ippools.yaml"));
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 2u);
  Value pool = (*docs)[0];
  ASSERT_TRUE(isOk(normalize(*findByName("ippool"), pool)));
  EXPECT_EQ(pool.getString("spec.cidr"), "192.168.0.0/16");
  EXPECT_EQ(pool.getString("spec.ipipMode"), "CrossSubnet");
  EXPECT_TRUE(pool.path("spec.natOutgoing")->asBool());
  // The two example pools do not overlap one another.
  Value pool6 = (*docs)[1];
  ASSERT_TRUE(isOk(normalize(*findByName("ippool"), pool6)));
  EXPECT_TRUE(isOk(validateAgainst(*findByName("ippool"), pool, {pool6})));
}

} // namespace
} // namespace caracal::api
