#include "common/value.h"

#include <gtest/gtest.h>

namespace caracal {
namespace {

TEST(Value, JsonRoundTripKeepsIntsAndOrder) {
  auto v = parseJson(R"({"b":1,"a":[true,null,2.5,"x\n"],"c":{"order":100}})");
  ASSERT_TRUE(v) << v.error().str();
  EXPECT_TRUE(v->path("c.order")->isInt());
  EXPECT_EQ(toJson(*v), R"({"b":1,"a":[true,null,2.5,"x\n"],"c":{"order":100}})");
  auto again = parseJson(toJson(*v, true));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *v);
}

TEST(Value, ObjectEqualityIgnoresKeyOrder) {
  EXPECT_EQ(*parseJson(R"({"a":1,"b":2})"), *parseJson(R"({"b":2,"a":1})"));
  EXPECT_NE(*parseJson(R"({"a":1})"), *parseJson(R"({"a":"1"})"));
  EXPECT_EQ(Value(int64_t(3)), Value(3.0));
}

TEST(Value, JsonErrorsSayWhere) {
  auto v = parseJson(R"({"a": })");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("offset 6"), std::string::npos) << v.error().message();
  EXPECT_FALSE(parseJson(R"({"a":1} x)"));
}

TEST(Value, YamlScalarsFollowCoreSchema) {
  auto v =
      parseYaml("a: 1\nb: '1'\nc: true\nd: \"true\"\ne: 1.5\nf: ~\ng: all()\nh: 192.168.0.0/16\n");
  ASSERT_TRUE(v) << v.error().str();
  EXPECT_TRUE(v->find("a")->isInt());
  EXPECT_TRUE(v->find("b")->isString());
  EXPECT_TRUE(v->find("c")->isBool());
  EXPECT_TRUE(v->find("d")->isString());
  EXPECT_TRUE(v->find("e")->isDouble());
  EXPECT_TRUE(v->find("f")->isNull());
  EXPECT_EQ(v->find("g")->asString(), "all()");
  EXPECT_EQ(v->find("h")->asString(), "192.168.0.0/16");
}

TEST(Value, YamlMultiDocumentAndErrors) {
  auto docs = parseYamlDocuments("a: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(docs);
  EXPECT_EQ(docs->size(), 2u);
  auto bad = parseYamlDocuments("a: [1, 2\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("line"), std::string::npos) << bad.error().message();
  auto dup = parseYaml("a: 1\na: 2\n");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("already defined"), std::string::npos);
}

TEST(Value, YamlEmitterQuotesPortRanges) {
  Value v = Value::object();
  v["ports"] = Value(Value::Array{Value("9000:9010"), Value(80)});
  std::string y = toYaml(v);
  EXPECT_NE(y.find("'9000:9010'"), std::string::npos) << y;
  EXPECT_EQ(*parseYaml(y), v);
}

TEST(Value, YamlEmitterRoundTrips) {
  const char* json = R"J({"apiVersion":"projectcalico.org/v3","kind":"IPPool",
    "metadata":{"name":"p","labels":{"a":"true","b":"123","c":"","d":"x: y","e":"it's"}},
    "spec":{"cidr":"10.0.0.0/16","order":100.5,"n":7,"empty":[],"eo":{},"nested":[[1,2],{"k":[{"x":1}]}],
    "selector":"app == 'web' && !has(x)","multi":"line1\nline2","dash":"-x","lone":"-"}})J";
  auto v = parseJson(json);
  ASSERT_TRUE(v);
  std::string y = toYaml(*v);
  auto back = parseYaml(y);
  ASSERT_TRUE(back) << back.error().str() << "\n" << y;
  EXPECT_EQ(*back, *v) << y;
}

} // namespace
} // namespace caracal
