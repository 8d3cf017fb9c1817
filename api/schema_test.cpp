// The schema language on a small made-up schema, independent of the real kinds.
#include "api/model_test_util.h"
#include "api/schema.h"

#include <gtest/gtest.h>

namespace caracal::api::schema {
namespace {

using testutil::hasCause;
using testutil::yaml;

NodePtr toySchema() {
  static NodePtr s = [] {
    N spec = object({
        F("cidr", str()).required().immutable(),
        F("blockSize", integer().range(20, 32).def(Value(int64_t(26)))).zeroIsUnset(),
        F("mode", str().enums({"Always", "CrossSubnet", "Never"}).def("Never")),
        F("level", str().enums({"Debug", "Info"}).ignoreCase(true)),
        F("note", str()).keepEmpty(),
        F("enabled", boolean()),
        F("order", number()),
        F("port", intOrString()),
        F("tags", array(str()).unique().maxItems(3)),
        F("labels", mapOf(str())),
        F("rules", array(object({F("action", str().enums({"Allow", "Deny"})).required(),
                                 F("ports", array(integer().range(1, 65535)))}))),
        F("extra", object({F("known", str())}).preserveUnknown()),
        F("upper", str().check([](Value& v, const std::string&, Ctx&) {
          v = Value(std::string(v.asString()) + "!");
        })),
    });
    spec.check([](Value& v, const std::string& path, Ctx& ctx) {
      if (v.getString("mode") == "Always" && v.has("enabled") && !v.find("enabled")->asBool()) {
        ctx.add(child(path, "enabled"), "must be true with mode Always", kForbidden);
      }
    });
    return object({F("spec", spec).required()}).ptr();
  }();
  return s;
}

Status run(Value& v, WalkOptions opts = {}) {
  Ctx ctx(opts);
  walk(*toySchema(), v, "", ctx);
  return ctx.ok() ? Status::ok() : Status::invalid(ctx.takeCauses());
}

TEST(Schema, PathHelpers) {
  EXPECT_EQ(child("", "spec"), "spec");
  EXPECT_EQ(child("spec", "cidr"), "spec.cidr");
  EXPECT_EQ(index("spec.ingress", 2), "spec.ingress[2]");
  EXPECT_EQ(key("metadata.labels", "app"), "metadata.labels[app]");
  EXPECT_EQ(describe(Value("big")), "string \"big\"");
  EXPECT_EQ(describe(Value(5)), "integer 5");
  EXPECT_EQ(describe(Value(true)), "boolean true");
}

TEST(Schema, AcceptsAndDefaults) {
  Value v = yaml("spec: {cidr: x}");
  ASSERT_TRUE(run(v).isOk());
  EXPECT_EQ(v.path("spec.blockSize")->asInt(), 26);
  EXPECT_EQ(v.getString("spec.mode"), "Never");
  EXPECT_FALSE(v.path("spec.level"));
}

TEST(Schema, KnownFieldsEndInSchemaOrder) {
  Value v = yaml("spec: {tags: [a], enabled: true, cidr: x}");
  ASSERT_TRUE(run(v).isOk());
  std::vector<std::string> keys;
  for (const auto& m : v.path("spec")->asObject()) {
    keys.push_back(m.first);
  }
  EXPECT_EQ(keys, std::vector<std::string>({"cidr", "blockSize", "mode", "enabled", "tags"}));
  Value w = yaml("spec: {cidr: x, extra: {zeta: 1, known: k, alpha: 2}}");
  ASSERT_TRUE(run(w).isOk());
  EXPECT_EQ(w.path("spec.extra")->asObject()[0].first, "zeta"); // preserved objects keep order
}

TEST(Schema, NoDefaultsWhenDisabled) {
  Value v = yaml("spec: {cidr: x}");
  WalkOptions o;
  o.applyDefaults = false;
  ASSERT_TRUE(run(v, o).isOk());
  EXPECT_FALSE(v.path("spec.blockSize"));
  EXPECT_FALSE(v.path("spec.mode"));
}

TEST(Schema, UnknownFieldWithSuggestionAtParentPath) {
  Value v = yaml("spec: {cidr: x, blocksize: 24}");
  Status st = run(v);
  EXPECT_TRUE(hasCause(st, "spec", "unknown field \"blocksize\" (did you mean \"blockSize\"?)",
                       kNotSupported));
}

TEST(Schema, UnknownFieldWithoutSuggestion) {
  Value v = yaml("spec: {cidr: x, zzzzzzzz: 1}");
  Status st = run(v);
  ASSERT_EQ(st.causes().size(), 1u);
  EXPECT_EQ(st.causes()[0].field, "spec");
  EXPECT_EQ(st.causes()[0].message, "unknown field \"zzzzzzzz\"");
}

TEST(Schema, UnknownTopLevelFieldHasEmptyPath) {
  Value v = yaml("spec: {cidr: x}\nspecc: {}");
  Status st = run(v);
  EXPECT_TRUE(hasCause(st, "", "unknown field \"specc\" (did you mean \"spec\"?)"));
}

TEST(Schema, DropModeRemovesAndReportsPaths) {
  Value v = yaml("spec: {cidr: x, blocksize: 24, rules: [{action: Allow, bogus: 1}]}");
  std::vector<std::string> dropped;
  WalkOptions o;
  o.dropUnknown = true;
  o.dropped = &dropped;
  ASSERT_TRUE(run(v, o).isOk());
  EXPECT_FALSE(v.path("spec.blocksize"));
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_EQ(dropped[0], "spec.blocksize");
  EXPECT_EQ(dropped[1], "spec.rules[0].bogus");
}

TEST(Schema, PreserveUnknownKeepsFields) {
  Value v = yaml("spec: {cidr: x, extra: {known: a, other: {deep: [1, 2]}}}");
  ASSERT_TRUE(run(v).isOk());
  EXPECT_EQ(v.path("spec.extra.other.deep")->size(), 2u);
}

TEST(Schema, WrongTypesNameTheValue) {
  Value v = yaml("spec: {cidr: x, blockSize: big, enabled: 'yes', order: '1', port: [1]}");
  Status st = run(v);
  EXPECT_TRUE(
      hasCause(st, "spec.blockSize", "must be an integer, got string \"big\"", kTypeInvalid));
  EXPECT_TRUE(hasCause(st, "spec.enabled", "must be a boolean, got string \"yes\""));
  EXPECT_TRUE(hasCause(st, "spec.order", "must be a number, got string \"1\""));
  EXPECT_TRUE(hasCause(st, "spec.port", "must be an integer or a string, got a list"));
  EXPECT_EQ(st.causes().size(), 4u);
}

TEST(Schema, DoublesAreNotIntegers) {
  Value v = yaml("spec: {cidr: x, blockSize: 26.5}");
  EXPECT_TRUE(hasCause(run(v), "spec.blockSize", "must be an integer, got number 26.5"));
}

TEST(Schema, EnumListsAllowedValues) {
  Value v = yaml("spec: {cidr: x, mode: sometimes}");
  EXPECT_TRUE(hasCause(run(v), "spec.mode",
                       "unknown value \"sometimes\" (allowed: Always, CrossSubnet, Never)",
                       kNotSupported));
}

TEST(Schema, CaseInsensitiveEnumCanonicalises) {
  Value v = yaml("spec: {cidr: x, level: debug}");
  ASSERT_TRUE(run(v).isOk());
  EXPECT_EQ(v.getString("spec.level"), "Debug");
}

TEST(Schema, RangeMessageShowsBoundsAndValue) {
  Value v = yaml("spec: {cidr: x, blockSize: 40}");
  EXPECT_TRUE(hasCause(run(v), "spec.blockSize", "must be between 20 and 32, got 40"));
}

TEST(Schema, RequiredFields) {
  Value v = yaml("spec: {mode: Never}");
  EXPECT_TRUE(hasCause(run(v), "spec.cidr", "required value", kRequired));
  Value w = yaml("{}");
  EXPECT_TRUE(hasCause(run(w), "spec", "required value", kRequired));
}

TEST(Schema, NullAndEmptyMeanUnset) {
  Value v = yaml("spec: {cidr: x, mode: null, level: '', blockSize: 0, note: ''}");
  ASSERT_TRUE(run(v).isOk());
  EXPECT_EQ(v.getString("spec.mode"), "Never");     // null removed, then defaulted
  EXPECT_FALSE(v.path("spec.level"));               // "" removed
  EXPECT_EQ(v.path("spec.blockSize")->asInt(), 26); // 0 is unset here
  ASSERT_TRUE(v.path("spec.note"));                 // keepEmpty
  EXPECT_EQ(v.getString("spec.note"), "");
  Value w = yaml("spec: {cidr: ''}");
  EXPECT_TRUE(hasCause(run(w), "spec.cidr", "required value"));
}

TEST(Schema, ArrayPathsUniqueAndMaxItems) {
  Value v = yaml("spec: {cidr: x, tags: [a, b, a, c], rules: [{action: Allow}, {action: Drop, "
                 "ports: [80, 0]}]}");
  Status st = run(v);
  EXPECT_TRUE(hasCause(st, "spec.tags[2]", "duplicate value \"a\"", kDuplicate));
  EXPECT_TRUE(hasCause(st, "spec.tags", "must have at most 3 items, got 4", kTooMany));
  EXPECT_TRUE(hasCause(st, "spec.rules[1].action", "unknown value \"Drop\""));
  EXPECT_TRUE(hasCause(st, "spec.rules[1].ports[1]", "must be between 1 and 65535, got 0"));
}

TEST(Schema, MapValuesUseKeyPaths) {
  Value v = yaml("spec: {cidr: x, labels: {app: 5}}");
  EXPECT_TRUE(hasCause(run(v), "spec.labels[app]", "must be a string, got integer 5"));
}

TEST(Schema, ChecksMayRewriteAndCrossCheck) {
  Value v = yaml("spec: {cidr: x, upper: hi, mode: Always, enabled: false}");
  Status st = run(v);
  EXPECT_EQ(v.getString("spec.upper"), "hi!");
  EXPECT_TRUE(hasCause(st, "spec.enabled", "must be true with mode Always", kForbidden));
}

TEST(Schema, CollectsEveryError) {
  Value v = yaml("spec: {blockSize: 99, mode: x, tags: [a, a], bogus: 1}");
  Status st = run(v);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_EQ(st.causes().size(), 5u) << st.message();
  EXPECT_NE(st.message().find("; "), std::string::npos);
}

TEST(Schema, ImmutableFields) {
  Value a = yaml("spec: {cidr: x, blockSize: 26}");
  Value b = yaml("spec: {cidr: y, blockSize: 24}");
  Ctx ctx;
  compareImmutable(*toySchema(), a, b, "", ctx);
  ASSERT_EQ(ctx.size(), 1u);
  EXPECT_EQ(ctx.causes()[0].field, "spec.cidr");
  EXPECT_EQ(ctx.causes()[0].message, "field is immutable (was \"x\", now \"y\")");
}

TEST(Schema, OpenApiShape) {
  Value s = toOpenApi(*toySchema());
  EXPECT_EQ(s.getString("type"), "object");
  const Value* spec = s.path("properties.spec");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->path("required")->asArray()[0].asString(), "cidr");
  EXPECT_EQ(spec->path("properties.mode.enum")->size(), 3u);
  EXPECT_EQ(spec->path("properties.mode.default")->asString(), "Never");
  EXPECT_EQ(spec->path("properties.blockSize.minimum")->asInt(), 20);
  EXPECT_EQ(spec->path("properties.blockSize.maximum")->asInt(), 32);
  EXPECT_EQ(spec->path("properties.level.pattern")->asString(), "^(?i)(Debug|Info)?$");
  EXPECT_TRUE(spec->path("properties.port.x-kubernetes-int-or-string")->asBool());
  EXPECT_EQ(spec->path("properties.tags.x-kubernetes-list-type")->asString(), "set");
  EXPECT_EQ(spec->path("properties.labels.additionalProperties.type")->asString(), "string");
  EXPECT_TRUE(spec->path("properties.extra.x-kubernetes-preserve-unknown-fields")->asBool());
  EXPECT_EQ(spec->path("properties.rules.items.properties.action.enum")->size(), 2u);
}

} // namespace
} // namespace caracal::api::schema
