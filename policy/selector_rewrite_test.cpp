#include "api/selector.h"
#include "policy/rules.h"

#include <gtest/gtest.h>

namespace caracal::policy {
namespace {

Value yaml(const std::string& text) {
  auto v = parseYaml(text);
  EXPECT_TRUE(bool(v)) << text;
  return v ? *v : Value();
}

std::string prefixed(const std::string& sel, bool ns = false) {
  auto r = prefixSelectorLabels(sel, "pcns.", ns);
  EXPECT_TRUE(bool(r)) << sel << ": " << (r ? "" : r.error().message());
  return r ? *r : "";
}

bool matches(const std::string& sel, const api::Labels& labels) {
  auto s = api::Selector::parse(sel);
  EXPECT_TRUE(bool(s)) << sel;
  return s && s->matches(labels);
}

TEST(PrefixSelectorLabels, EveryKindOfTerm) {
  EXPECT_EQ(prefixed("team == 'a'"), "pcns.team == \"a\"");
  EXPECT_EQ(prefixed("team != 'a'"), "pcns.team != \"a\"");
  EXPECT_EQ(prefixed("has(team)"), "has(pcns.team)");
  EXPECT_EQ(prefixed("!has(team)"), "!has(pcns.team)");
  EXPECT_EQ(prefixed("env in {'b', 'a'}"), "pcns.env in {\"a\", \"b\"}");
  EXPECT_EQ(prefixed("env not in {'a'}"), "pcns.env not in {\"a\"}");
  EXPECT_EQ(prefixed("name starts with 'in'"), "pcns.name starts with \"in\"");
  EXPECT_EQ(prefixed("name ends with 'x'"), "pcns.name ends with \"x\"");
  EXPECT_EQ(prefixed("name contains 'has(a)'"), "pcns.name contains \"has(a)\"");
  EXPECT_EQ(prefixed("a == 'x' || (b == 'y' && !has(c))"),
            "pcns.a == \"x\" || pcns.b == \"y\" && !has(pcns.c)");
  EXPECT_EQ(prefixed("all()"), "all()");
  EXPECT_EQ(prefixed("projectcalico.org/name == 'prod'"),
            "pcns.projectcalico.org/name == \"prod\"");
}

TEST(PrefixSelectorLabels, NamespaceSelectorMeaningOfAllAndGlobal) {
  EXPECT_EQ(prefixed("all()", true), "has(projectcalico.org/namespace)");
  EXPECT_EQ(prefixed("", true), "has(projectcalico.org/namespace)");
  EXPECT_EQ(prefixed("global()", true), "!has(projectcalico.org/namespace)");
  EXPECT_EQ(prefixed("team == 'a'", true), "pcns.team == \"a\"");
}

TEST(PrefixSelectorLabels, EvaluatesLikeTheOriginalOnPrefixedLabels) {
  const char* sels[] = {"a == 'x'",
                        "a != 'x'",
                        "has(a)",
                        "!has(b)",
                        "a in {'x', 'y'}",
                        "a not in {'x'}",
                        "a starts with 'x' || b ends with 'z'",
                        "!(a == 'x' && b == 'y')"};
  const api::Labels cases[] = {{}, {{"a", "x"}}, {{"a", "y"}, {"b", "y"}}, {{"b", "zz"}}};
  for (const char* sel : sels) {
    for (const api::Labels& l : cases) {
      api::Labels p;
      for (const auto& [k, v] : l) {
        p["pcns." + k] = v;
      }
      p["unrelated"] = "x";
      EXPECT_EQ(matches(prefixed(sel), p), matches(sel, l)) << sel;
    }
  }
}

TEST(PrefixSelectorLabels, BadSelectorIsAnError) {
  auto r = prefixSelectorLabels("app == web", "pcns.", false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("column"), std::string::npos) << r.error().message();
}

TEST(PolicyEndpointSelector, NamespacedAndGlobal) {
  auto np = policyEndpointSelector("NetworkPolicy", yaml("metadata: {name: p, namespace: prod}\n"
                                                         "spec: {selector: app == 'web'}"));
  ASSERT_TRUE(bool(np));
  EXPECT_EQ(*np, "app == \"web\" && projectcalico.org/namespace == \"prod\"");
  auto all = policyEndpointSelector("NetworkPolicy",
                                    yaml("metadata: {name: p, namespace: prod}\nspec: {}"));
  EXPECT_EQ(*all, "projectcalico.org/namespace == \"prod\"");
  auto gnp = policyEndpointSelector("GlobalNetworkPolicy",
                                    yaml("metadata: {name: g}\nspec: {selector: role == 'db', "
                                         "namespaceSelector: team == 'a', serviceAccountSelector: "
                                         "admin == 'true'}"));
  ASSERT_TRUE(bool(gnp));
  EXPECT_EQ(*gnp, "role == \"db\" && pcns.team == \"a\" && pcsa.admin == \"true\"");
  auto bad = policyEndpointSelector("GlobalNetworkPolicy",
                                    yaml("metadata: {name: g}\nspec: {namespaceSelector: 'a =='}"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("spec.namespaceSelector"), std::string::npos);
}

} // namespace
} // namespace caracal::policy
