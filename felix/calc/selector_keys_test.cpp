#include "felix/calc/selector_gen_test_util.h"
#include "felix/calc/selector_keys.h"

#include <gtest/gtest.h>

namespace caracal::felix::calc {
namespace {

using Keys = std::vector<std::string>;

Keys keysOf(std::string_view text) {
  auto sel = api::Selector::parse(text);
  EXPECT_TRUE(sel.hasValue()) << text;
  auto keys = referencedKeys(*sel);
  EXPECT_TRUE(keys.has_value()) << text << " -> " << sel->str();
  return keys.value_or(Keys{"<unknown>"});
}

TEST(SelectorKeys, EveryTermKind) {
  EXPECT_EQ(keysOf(""), Keys{});
  EXPECT_EQ(keysOf("all()"), Keys{});
  EXPECT_EQ(keysOf("global()"), Keys{});
  EXPECT_EQ(keysOf("!all()"), Keys{});
  EXPECT_EQ(keysOf("has(env)"), Keys{"env"});
  EXPECT_EQ(keysOf("!has(env)"), Keys{"env"});
  EXPECT_EQ(keysOf("app == 'web'"), Keys{"app"});
  EXPECT_EQ(keysOf("app != 'web'"), Keys{"app"});
  EXPECT_EQ(keysOf("tier in {'fe', 'be'}"), Keys{"tier"});
  EXPECT_EQ(keysOf("tier not in {'fe'}"), Keys{"tier"});
  EXPECT_EQ(keysOf("tier in {}"), Keys{"tier"});
  EXPECT_EQ(keysOf("name contains 'eb'"), Keys{"name"});
  EXPECT_EQ(keysOf("name starts with 'web-'"), Keys{"name"});
  EXPECT_EQ(keysOf("name ends with '-canary'"), Keys{"name"});
  EXPECT_EQ(keysOf("projectcalico.org/namespace == 'prod'"), Keys{"projectcalico.org/namespace"});
}

TEST(SelectorKeys, CompoundsAreSortedAndUnique) {
  EXPECT_EQ(keysOf("env == 'prod' && (tier == 'fe' || tier == 'be')"), (Keys{"env", "tier"}));
  EXPECT_EQ(keysOf("!(b == 'x' || a == 'y') && has(c) && !has(a)"), (Keys{"a", "b", "c"}));
}

TEST(SelectorKeys, OperatorWordsAndQuotedTextAreNotKeys) {
  // Labels named like operators or functions; values that look like syntax.
  EXPECT_EQ(keysOf("in == 'x'"), Keys{"in"});
  EXPECT_EQ(keysOf("has == 'has(b)'"), Keys{"has"});
  EXPECT_EQ(keysOf("not in {'a'}"), Keys{"not"});
  EXPECT_EQ(keysOf("all == \"all() && c == 'd'\""), Keys{"all"});
  EXPECT_EQ(keysOf("a == 'x \" || b == \"y'"), Keys{"a"});
  EXPECT_EQ(keysOf("a in {'}', '{', ','}"), Keys{"a"});
}

TEST(SelectorKeys, LooserSpellingsOfTheParserAreAccepted) {
  EXPECT_EQ(referencedKeys("a notin {'x',} && b startswith 'y' || c endswith 'z'"),
            (Keys{"a", "b", "c"}));
  EXPECT_EQ(referencedKeys("!!  ( has( a ) )"), Keys{"a"});
}

TEST(SelectorKeys, TextOutsideTheGrammarIsUnknown) {
  for (const char* bad : {"a ==", "a == x", "(a == 'x'", "a == 'x')", "has(a", "foo()",
                          "a == 'x' &&", "a ~ 'x'", "a in {'x'", "&& a == 'x'"}) {
    EXPECT_FALSE(referencedKeys(bad).has_value()) << bad;
  }
}

// A selector's value does not depend on keys outside referencedKeys(), and the canonical form of
// every generated selector is understood.
TEST(SelectorKeys, ResultDependsOnlyOnReferencedKeys) {
  std::mt19937 rng(1234);
  int checked = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string text = testing::randomSelectorText(rng);
    auto sel = api::Selector::parse(text);
    ASSERT_TRUE(sel.hasValue()) << text;
    const auto keys = referencedKeys(*sel);
    ASSERT_TRUE(keys.has_value()) << sel->str();
    const auto original = referencedKeys(text);
    ASSERT_EQ(original, keys) << text;
    for (int j = 0; j < 5; ++j) {
      api::Labels labels = testing::randomLabels(rng, 4);
      const bool before = sel->matches(labels);
      // Change or remove every key the selector does not read.
      api::Labels other;
      for (const auto& [k, v] : labels) {
        if (std::binary_search(keys->begin(), keys->end(), k)) {
          other[k] = v;
        }
      }
      other["unrelated"] = "x";
      for (const std::string& k : testing::kKeys) {
        if (!std::binary_search(keys->begin(), keys->end(), k) && (j % 2) == 0) {
          other[k] = testing::pick(rng, testing::kValues);
        }
      }
      ASSERT_EQ(sel->matches(other), before) << sel->str();
      ++checked;
    }
  }
  EXPECT_EQ(checked, 10000);
}

} // namespace
} // namespace caracal::felix::calc
