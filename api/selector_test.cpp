#include "api/selector.h"

#include <atomic>
#include <cstdlib>
#include <gtest/gtest.h>
#include <new>
#include <string>
#include <vector>

// Counts heap allocations so that the evaluation test can prove matches() allocates nothing.
namespace {
std::atomic<long> gAllocations{0};
} // namespace

// Not inlined, so that the compiler never pairs an inlined malloc with an inlined free and warns.
[[gnu::noinline]] void* operator new(std::size_t size) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t size) { return operator new(size); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace caracal::api {
namespace {

// ---------------------------------------------------------------------------------------------
// Evaluation: selector, labels, expected match.

struct MatchCase {
  std::string selector;
  Labels labels;
  bool match;
};

std::ostream& operator<<(std::ostream& os, const MatchCase& c) {
  os << "[" << c.selector << "] {";
  for (const auto& [k, v] : c.labels) {
    os << k << ": " << v << ", ";
  }
  return os << "} => " << (c.match ? "match" : "no match");
}

const std::vector<MatchCase>& matchCases() {
  static const std::vector<MatchCase> cases = {
      // The reference table.
      {"app == 'web'", {{"app", "web"}}, true},
      {"app == 'web'", {}, false},
      {"app != 'web'", {}, true},
      {"app != 'web'", {{"app", "web"}}, false},
      {"tier in {'fe', 'be'}", {{"tier", "be"}}, true},
      {"tier not in {'fe'}", {}, true},
      {"has(env)", {{"env", ""}}, true},
      {"!has(env)", {{"env", "prod"}}, false},
      {"env == 'prod' && (tier == 'fe' || tier == 'be')", {{"env", "prod"}, {"tier", "db"}}, false},
      {"a == 'x' || b == 'y' && c == 'z'", {{"a", "x"}}, true},
      {"!(a == 'x')", {}, true},
      {"name starts with 'web-'", {{"name", "web-1"}}, true},
      {"name ends with '-canary'", {{"name", "web-1"}}, false},
      {"name contains \"eb\"", {{"name", "web-1"}}, true},
      {"all()", {{"any", "thing"}}, true},
      {"", {{"any", "thing"}}, true},
      {"projectcalico.org/namespace == 'prod'",
       {{"projectcalico.org/namespace", "prod"}, {"app", "web"}},
       true},
      // ==, != and absent / empty values.
      {"app == 'web'", {{"app", "db"}}, false},
      {"app == 'web'", {{"App", "web"}}, false},
      {"app == 'Web'", {{"app", "web"}}, false},
      {"app != 'web'", {{"app", "db"}}, true},
      {"a == ''", {{"a", ""}}, true},
      {"a == ''", {}, false},
      {"a != ''", {{"a", ""}}, false},
      {"a != ''", {}, true},
      {"a == 'hello world'", {{"a", "hello world"}}, true},
      {"a == '&& || ! ( ) { }'", {{"a", "&& || ! ( ) { }"}}, true},
      {"a == 'say \"hi\"'", {{"a", "say \"hi\""}}, true},
      {"a == \"it's\"", {{"a", "it's"}}, true},
      {"a == '\xC3\xA9t\xC3\xA9'", {{"a", "\xC3\xA9t\xC3\xA9"}}, true},
      // in / not in.
      {"tier in {'fe', 'be'}", {{"tier", "fe"}}, true},
      {"tier in {'fe', 'be'}", {{"tier", "db"}}, false},
      {"tier in {'fe', 'be'}", {}, false},
      {"tier not in {'fe'}", {{"tier", "fe"}}, false},
      {"tier not in {'fe'}", {{"tier", "be"}}, true},
      {"tier notin {'fe'}", {{"tier", "fe"}}, false},
      {"tier notin {'fe'}", {}, true},
      {"tier not \t in {'fe'}", {{"tier", "be"}}, true},
      {"a in {}", {{"a", ""}}, false},
      {"a in {}", {}, false},
      {"a not in {}", {{"a", "x"}}, true},
      {"a not in {}", {}, true},
      {"a in {'x',}", {{"a", "x"}}, true},
      {"a in {''}", {{"a", ""}}, true},
      {"a in {'c', 'a', 'b', 'a'}", {{"a", "a"}}, true},
      {"a in {'c', 'a', 'b', 'a'}", {{"a", "d"}}, false},
      {"a in{'x'}", {{"a", "x"}}, true},
      // has().
      {"has(env)", {}, false},
      {"has(env)", {{"env", "prod"}}, true},
      {"has( env )", {{"env", "prod"}}, true},
      {"!has(env)", {}, true},
      {"has(env)", {{"environment", "prod"}}, false},
      // contains / starts with / ends with.
      {"name starts with 'web-'", {{"name", "db-1"}}, false},
      {"name starts with 'web-'", {}, false},
      {"name startswith 'web-'", {{"name", "web-2"}}, true},
      {"name ends with '-canary'", {{"name", "web-canary"}}, true},
      {"name ends with '-canary'", {}, false},
      {"name endswith '-canary'", {{"name", "web-canary"}}, true},
      {"name contains \"eb\"", {{"name", "db"}}, false},
      {"name contains \"eb\"", {}, false},
      {"name contains ''", {{"name", ""}}, true},
      {"name contains ''", {}, false},
      {"name starts with ''", {{"name", "x"}}, true},
      {"a contains 'x' && a starts with 'x' && a ends with 'z'", {{"a", "xyz"}}, true},
      {"a contains 'y' && a starts with 'y'", {{"a", "xyz"}}, false},
      // all() and global().
      {"all()", {}, true},
      {"all( )", {}, true},
      {"   ", {}, true},
      {"\t", {{"a", "b"}}, true},
      {"global()", {}, true},
      {"global()", {{"a", "b"}}, true},
      {"!global()", {}, false},
      {"!all()", {}, false},
      // Precedence: && binds tighter than ||.
      {"a == 'x' || b == 'y' && c == 'z'", {{"b", "y"}}, false},
      {"a == 'x' || b == 'y' && c == 'z'", {{"b", "y"}, {"c", "z"}}, true},
      {"(a == 'x' || b == 'y') && c == 'z'", {{"a", "x"}}, false},
      {"(a == 'x' || b == 'y') && c == 'z'", {{"a", "x"}, {"c", "z"}}, true},
      {"a == 'x' && b == 'y' || c == 'z'", {{"c", "z"}}, true},
      {"a == 'x' && (b == 'y' || c == 'z')", {{"c", "z"}}, false},
      {"env == 'prod' && (tier == 'fe' || tier == 'be')", {{"env", "prod"}, {"tier", "fe"}}, true},
      {"(((a == 'x')))", {{"a", "x"}}, true},
      {"!has(a) || a == 'x'", {{"a", "x"}}, true},
      {"!has(a) || a == 'x'", {{"a", "y"}}, false},
      {"!has(a) || a == 'x'", {}, true},
      // Negation, including runs of '!'.
      {"!(a == 'x')", {{"a", "x"}}, false},
      {"!a == 'x'", {{"a", "y"}}, true},
      {"!a == 'x'", {{"a", "x"}}, false},
      {"!!has(a)", {{"a", ""}}, true},
      {"!!has(a)", {}, false},
      {"!!!has(a)", {}, true},
      {"! ! has(a)", {{"a", ""}}, true},
      {"!(!has(a))", {{"a", "1"}}, true},
      {"!(a in {'x'})", {}, true},
      {"!(a not in {'x'})", {}, false},
      {"!(a != 'x')", {}, false},
      {"!(a == 'x' || b == 'y')", {{"b", "y"}}, false},
      {"!(a == 'x' && b == 'y')", {{"b", "y"}}, true},
      // Blanks and label characters.
      {"\tapp\t==\t'web'\t", {{"app", "web"}}, true},
      {"app=='web'&&env!='prod'", {{"app", "web"}, {"env", "dev"}}, true},
      {"app=='web'||env=='prod'", {{"env", "prod"}}, true},
      {"A-z_0.9/x == 'v'", {{"A-z_0.9/x", "v"}}, true},
      {"1 == '2'", {{"1", "2"}}, true},
      {"-.-/_ == 'x'", {{"-.-/_", "x"}}, true},
      // Words that are operators or functions elsewhere are ordinary labels here.
      {"in == 'x'", {{"in", "x"}}, true},
      {"has == 'x'", {{"has", "x"}}, true},
      {"all == 'x'", {{"all", "x"}}, true},
      {"global != 'x'", {}, true},
      {"not in {'a'}", {{"not", "a"}}, true},
      {"contains contains 'x'", {{"contains", "xx"}}, true},
      {"has(in) && has(not)", {{"in", ""}, {"not", ""}}, true},
  };
  return cases;
}

class SelectorMatchTest : public testing::TestWithParam<MatchCase> {};

TEST_P(SelectorMatchTest, Matches) {
  const MatchCase& c = GetParam();
  auto sel = Selector::parse(c.selector);
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_EQ(sel->matches(c.labels), c.match) << "canonical: " << sel->str();
  // The canonical form must select exactly the same.
  auto again = Selector::parse(sel->str());
  ASSERT_TRUE(again) << sel->str() << ": " << again.error().message();
  EXPECT_EQ(again->matches(c.labels), c.match) << "canonical: " << sel->str();
}

INSTANTIATE_TEST_SUITE_P(Table, SelectorMatchTest, testing::ValuesIn(matchCases()));

// ---------------------------------------------------------------------------------------------
// Canonical form: input, expected str().

struct CanonicalCase {
  std::string input;
  std::string canonical;
};

std::ostream& operator<<(std::ostream& os, const CanonicalCase& c) {
  return os << "[" << c.input << "] => [" << c.canonical << "]";
}

const std::vector<CanonicalCase>& canonicalCases() {
  static const std::vector<CanonicalCase> cases = {
      {"", "all()"},
      {" \t ", "all()"},
      {"all()", "all()"},
      {"all(  )", "all()"},
      {"(all())", "all()"},
      {"global()", "global()"},
      {"global(\t)", "global()"},
      {"app=='web'", "app == \"web\""},
      {"app == \"web\"", "app == \"web\""},
      {"  app   ==   'web'  ", "app == \"web\""},
      {"a != 'x'", "a != \"x\""},
      {"a == ''", "a == \"\""},
      {"a == 'say \"hi\"'", "a == 'say \"hi\"'"},
      {"a == \"it's\"", "a == \"it's\""},
      {"has( env )", "has(env)"},
      {"!has(env)", "!has(env)"},
      {"! has(env)", "!has(env)"},
      {"!!has(env)", "has(env)"},
      {"!!!has(env)", "!has(env)"},
      {"!(!has(env))", "has(env)"},
      {"!(has(env))", "!has(env)"},
      {"!all()", "!all()"},
      {"!global()", "!global()"},
      {"!a == 'b'", "!(a == \"b\")"},
      {"!(a == 'b')", "!(a == \"b\")"},
      {"!(a in {'x'})", "!(a in {\"x\"})"},
      {"tier in {'fe','be'}", "tier in {\"be\", \"fe\"}"},
      {"tier in {'fe', 'be', 'fe'}", "tier in {\"be\", \"fe\"}"},
      {"tier in { }", "tier in {}"},
      {"tier in {'a',}", "tier in {\"a\"}"},
      {"tier notin {\"b\",\"a\"}", "tier not in {\"a\", \"b\"}"},
      {"tier not   in {\"a\"}", "tier not in {\"a\"}"},
      {"a in {'\"', \"'\"}", "a in {'\"', \"'\"}"},
      {"name startswith \"x\"", "name starts with \"x\""},
      {"name starts \t with \"x\"", "name starts with \"x\""},
      {"name endswith 'x'", "name ends with \"x\""},
      {"name contains 'x'", "name contains \"x\""},
      {"a == 'x' || b == 'y' && c == 'z'", "a == \"x\" || b == \"y\" && c == \"z\""},
      {"a == 'x' || (b == 'y' && c == 'z')", "a == \"x\" || b == \"y\" && c == \"z\""},
      {"(a == 'x' || b == 'y') && c == 'z'", "(a == \"x\" || b == \"y\") && c == \"z\""},
      {"c == 'z' && (a == 'x' || b == 'y')", "c == \"z\" && (a == \"x\" || b == \"y\")"},
      {"(a == 'x' && b == 'y') && c == 'z'", "a == \"x\" && b == \"y\" && c == \"z\""},
      {"a == 'x' && (b == 'y' && c == 'z')", "a == \"x\" && b == \"y\" && c == \"z\""},
      {"(a == 'x' || b == 'y') || c == 'z'", "a == \"x\" || b == \"y\" || c == \"z\""},
      {"((a == 'x'))", "a == \"x\""},
      {"!(a == 'x' || b == 'y')", "!(a == \"x\" || b == \"y\")"},
      {"!(a == 'x' && b == 'y')", "!(a == \"x\" && b == \"y\")"},
      {"!!(a == 'x' && b == 'y') && c == 'z'", "a == \"x\" && b == \"y\" && c == \"z\""},
      {"!(!(a == 'x' || b == 'y')) && c == 'z'", "(a == \"x\" || b == \"y\") && c == \"z\""},
      {"!(a == 'x' || b == 'y') && c == 'z'", "!(a == \"x\" || b == \"y\") && c == \"z\""},
      {"(a == 'x' && (b == 'y' || (c == 'z' && d == 'w')))",
       "a == \"x\" && (b == \"y\" || c == \"z\" && d == \"w\")"},
      {"env == 'prod' && (tier == 'fe' || tier == 'be')",
       "env == \"prod\" && (tier == \"fe\" || tier == \"be\")"},
  };
  return cases;
}

class SelectorCanonicalTest : public testing::TestWithParam<CanonicalCase> {};

TEST_P(SelectorCanonicalTest, PrintsCanonicalForm) {
  const CanonicalCase& c = GetParam();
  auto sel = Selector::parse(c.input);
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_EQ(sel->str(), c.canonical);
  // The canonical form is a fixed point.
  auto again = Selector::parse(sel->str());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->str(), c.canonical);
  EXPECT_EQ(*again, *sel);
}

INSTANTIATE_TEST_SUITE_P(Table, SelectorCanonicalTest, testing::ValuesIn(canonicalCases()));

// ---------------------------------------------------------------------------------------------
// Errors: input, exact message (every message starts with the 1-based column).

struct ErrorCase {
  std::string input;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const ErrorCase& c) {
  return os << "[" << c.input << "] => " << c.message;
}

const std::string kTerm = "a label, has(), all(), global(), '!' or '('";
const std::string kOps = "an operator (==, !=, in, not in, contains, starts with, ends with)";

const std::vector<ErrorCase>& errorCases() {
  static const std::vector<ErrorCase> cases = {
      // Values must be quoted strings.
      {"app == web", "column 8: expected a quoted string, found 'web' (values must be quoted, e.g. "
                     "\"web\")"},
      {"app ==", "column 7: unexpected end of selector, expected a quoted string"},
      {"app == ", "column 8: unexpected end of selector, expected a quoted string"},
      {"a contains", "column 11: unexpected end of selector, expected a quoted string"},
      {"a starts with (", "column 15: expected a quoted string, found '('"},
      {"app == 'web",
       "column 8: unterminated string, expected a closing ' before the end of the selector"},
      {"app == \"web'",
       "column 8: unterminated string, expected a closing \" before the end of the selector"},
      {"a == 'x' && b == \"y",
       "column 18: unterminated string, expected a closing \" before the end of the selector"},
      // Parentheses and trailing garbage.
      {"(app == 'web'",
       "column 14: unexpected end of selector, expected '&&', '||' or ')' to close the '(' at "
       "column 1"},
      {"(app == 'web' x",
       "column 15: expected '&&', '||' or ')' to close the '(' at column 1, found 'x'"},
      {"a == 'x' && (b == 'y' || (c == 'z')",
       "column 36: unexpected end of selector, expected '&&', '||' or ')' to close the '(' at "
       "column 13"},
      {"app == 'web' x", "column 14: expected '&&', '||' or the end of the selector, found 'x'"},
      {"app == 'web' )", "column 14: expected '&&', '||' or the end of the selector, found ')'"},
      {"a == 'x' b == 'y'", "column 10: expected '&&', '||' or the end of the selector, found 'b'"},
      {"a == 'x' 'y'",
       "column 10: expected '&&', '||' or the end of the selector, found a quoted string"},
      {"all() all()", "column 7: expected '&&', '||' or the end of the selector, found 'all'"},
      {"a == 'x' & b == 'y'", "column 10: expected '&&', '||' or the end of the selector, found "
                              "'&' (did you mean '&&'?)"},
      {"a == 'x' | b == 'y'", "column 10: expected '&&', '||' or the end of the selector, found "
                              "'|' (did you mean '||'?)"},
      {"(a == 'x' | b == 'y')", "column 11: expected '&&', '||' or ')' to close the '(' at column "
                                "1, found '|' (did you mean '||'?)"},
      {"a == 'x'\n", "column 9: expected '&&', '||' or the end of the selector, found a newline "
                     "(only spaces and tabs may separate tokens)"},
      {"a == 'x'\r\n", "column 9: expected '&&', '||' or the end of the selector, found a "
                       "carriage return (only spaces and tabs may separate tokens)"},
      // Missing or misplaced terms.
      {"== 'web'", "column 1: expected " + kTerm + ", found '=='"},
      {"!= 'web'", "column 2: expected " + kTerm + ", found '='"},
      {"a == 'x' &&", "column 12: unexpected end of selector, expected " + kTerm},
      {"a == 'x' || ", "column 13: unexpected end of selector, expected " + kTerm},
      {"a == 'x' && !", "column 14: unexpected end of selector, expected " + kTerm},
      {"|| a == 'x'", "column 1: expected " + kTerm + ", found '||'"},
      {"a == 'x' && && b == 'y'", "column 13: expected " + kTerm + ", found '&&'"},
      {"()", "column 2: expected " + kTerm + ", found ')'"},
      {"(", "column 2: unexpected end of selector, expected " + kTerm},
      {")", "column 1: expected " + kTerm + ", found ')'"},
      {"{'a'}", "column 1: expected " + kTerm + ", found '{'"},
      {"'a' == 'b'", "column 1: expected " + kTerm + ", found a quoted string"},
      {"\n", "column 1: expected " + kTerm +
                 ", found a newline (only spaces and tabs may separate tokens)"},
      {"\xC3\xA9 == 'x'", "column 1: expected " + kTerm + ", found byte 0xC3"},
      // Operators.
      {"app", "column 4: unexpected end of selector, expected " + kOps + " after label 'app'"},
      {"app ", "column 5: unexpected end of selector, expected " + kOps + " after label 'app'"},
      {"app = 'web'",
       "column 5: expected " + kOps + " after label 'app', found '=' (did you mean '=='?)"},
      {"app === 'web'", "column 7: expected a quoted string, found '='"},
      {"a like 'x'", "column 3: expected " + kOps + " after label 'a', found 'like'"},
      {"a 'x'", "column 3: expected " + kOps + " after label 'a', found a quoted string"},
      {"a innie {'x'}", "column 3: expected " + kOps + " after label 'a', found 'innie'"},
      {"a\x01", "column 2: expected " + kOps + " after label 'a', found byte 0x01"},
      {"a not 'x'", "column 7: expected 'in' after 'not', found a quoted string"},
      {"a not", "column 6: unexpected end of selector, expected 'in' after 'not'"},
      {"a not inside {}", "column 7: expected 'in' after 'not', found 'inside'"},
      {"a starts 'x'", "column 10: expected 'with' after 'starts', found a quoted string"},
      {"a ends by 'x'", "column 8: expected 'with' after 'ends', found 'by'"},
      // Sets.
      {"a in 'x'", "column 6: expected '{' to start the set of values, found a quoted string"},
      {"a in ", "column 6: unexpected end of selector, expected '{' to start the set of values"},
      {"a in {x}", "column 7: expected a quoted string or '}', found 'x' (values must be quoted, "
                   "e.g. \"x\")"},
      {"a in {'x' 'y'}", "column 11: expected ',' or '}', found a quoted string"},
      {"a in {'x'", "column 10: unexpected end of selector, expected ',' or '}'"},
      {"a in {'x',", "column 11: unexpected end of selector, expected a quoted string or '}'"},
      {"a in {,}", "column 7: expected a quoted string or '}', found ','"},
      {"a in {'x',,}", "column 11: expected a quoted string or '}', found ','"},
      {"a in {'x')", "column 10: expected ',' or '}', found ')'"},
      {"a in {'x}", "column 7: unterminated string, expected a closing ' before the end of the "
                    "selector"},
      // Functions.
      {"has(", "column 5: unexpected end of selector, expected a label inside has()"},
      {"has()", "column 5: expected a label inside has(), found ')'"},
      {"has('a')", "column 5: expected a label inside has(), found a quoted string"},
      {"has(a", "column 6: unexpected end of selector, expected ')' to close has("},
      {"has(a b)", "column 7: expected ')' to close has(, found 'b'"},
      {"has (a)", "column 5: expected " + kOps +
                      " after label 'has', found '(' (write has( with no space before the '(')"},
      {"all ()", "column 5: expected " + kOps +
                     " after label 'all', found '(' (write all( with no space before the '(')"},
      {"all(x)", "column 5: expected ')' after all(, found 'x'"},
      {"global(", "column 8: unexpected end of selector, expected ')' after global("},
      {"hax(a)", "column 4: expected " + kOps + " after label 'hax', found '('"},
      // Columns count characters, not bytes.
      {"a == '\xC3\xA9' b", "column 10: expected '&&', '||' or the end of the selector, found 'b'"},
      {"a == '\xE2\x82\xAC\xE2\x82\xAC' )",
       "column 11: expected '&&', '||' or the end of the selector, found ')'"},
      {"\ta\t==\t'x'\t)", "column 11: expected '&&', '||' or the end of the selector, found ')'"},
  };
  return cases;
}

class SelectorErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(SelectorErrorTest, ReportsColumn) {
  const ErrorCase& c = GetParam();
  auto sel = Selector::parse(c.input);
  ASSERT_FALSE(sel) << "parsed as " << sel->str();
  EXPECT_EQ(sel.code(), Code::Invalid);
  EXPECT_EQ(sel.error().message(), c.message);
  const Status st = validateSelector(c.input);
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_EQ(st.message(), c.message);
}

INSTANTIATE_TEST_SUITE_P(Table, SelectorErrorTest, testing::ValuesIn(errorCases()));

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(SelectorLimits, LabelOf512CharactersIsAccepted) {
  const std::string label(512, 'k');
  auto sel = Selector::parse(label + " == 'v'");
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_TRUE(sel->matches({{label, "v"}}));
  auto has = Selector::parse("has(" + label + ")");
  ASSERT_TRUE(has) << has.error().message();
  EXPECT_EQ(has->str(), "has(" + label + ")");
}

TEST(SelectorLimits, LabelOver512CharactersIsRejected) {
  const std::string label(513, 'k');
  EXPECT_EQ(validateSelector(label + " == 'v'").message(),
            "column 1: label is 513 characters long, the maximum is 512");
  EXPECT_EQ(validateSelector("has(" + label + ")").message(),
            "column 5: label is 513 characters long, the maximum is 512");
  EXPECT_EQ(validateSelector("a == 'x' && " + label + " in {}").message(),
            "column 13: label is 513 characters long, the maximum is 512");
  EXPECT_EQ(validateSelector("has( " + std::string(10000, 'k') + " )").message(),
            "column 6: label is 10000 characters long, the maximum is 512");
}

TEST(SelectorLimits, ValuesHaveNoLengthLimit) {
  const std::string value(100000, 'v');
  auto sel = Selector::parse("a == '" + value + "'");
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_TRUE(sel->matches({{"a", value}}));
}

std::string nested(int depth, const std::string& inner) {
  return std::string(static_cast<size_t>(depth), '(') + inner +
         std::string(static_cast<size_t>(depth), ')');
}

TEST(SelectorLimits, NestingUpTo256IsAccepted) {
  auto sel = Selector::parse(nested(Selector::kMaxNesting, "a == 'x'"));
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_EQ(sel->str(), "a == \"x\"");
  auto negated = Selector::parse(nested(Selector::kMaxNesting, "!(a == 'x' || b == 'y')"));
  EXPECT_FALSE(negated) << "257 levels counting the inner group";
}

TEST(SelectorLimits, NestingBeyond256IsAnError) {
  EXPECT_EQ(validateSelector(nested(257, "a == 'x'")).message(),
            "column 257: parentheses nested more than 256 deep");
}

TEST(SelectorLimits, HundredThousandOpenParenthesesAreAnErrorNotACrash) {
  const std::string text(100000, '(');
  EXPECT_EQ(validateSelector(text).message(), "column 257: parentheses nested more than 256 deep");
  std::string alternating;
  for (int i = 0; i < 50000; ++i) {
    alternating += "!(";
  }
  EXPECT_EQ(validateSelector(alternating).message(),
            "column 514: parentheses nested more than 256 deep");
}

TEST(SelectorLimits, LongFlatExpressionsAndNegationRunsAreFine) {
  std::string text = "a == 'x'";
  for (int i = 0; i < 20000; ++i) {
    text += i % 2 == 0 ? " && has(b)" : " || has(c)";
  }
  auto sel = Selector::parse(text);
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_TRUE(sel->matches({{"c", ""}}));
  auto negations = Selector::parse(std::string(100001, '!') + "has(a)");
  ASSERT_TRUE(negations) << negations.error().message();
  EXPECT_EQ(negations->str(), "!has(a)");
}

// ---------------------------------------------------------------------------------------------
// Canonical form as a cache key.

TEST(SelectorCanonical, EquivalentSpellingsShareTheKey) {
  const std::vector<std::vector<std::string>> groups = {
      {"app == \"web\"", "app=='web'", "(app == 'web')", "  ((app==\"web\"))  ",
       "\tapp\t==\t\"web\""},
      {"a in {\"x\", \"y\"}", "a in {'y','x'}", "a in {\"x\",\"y\",\"x\",}", "(a in{'x','y'})"},
      {"!has(a)", "!!!has(a)", "! (has(a))", "!(!(!has(a)))", "!( has( a ) )"},
      {"a == 'x' && b == 'y' && c == 'z'", "(a == 'x' && b == 'y') && c == 'z'",
       "a == 'x' && (b == 'y' && c == 'z')", "((a == 'x') && (b == 'y')) && (c == 'z')"},
      {"", " ", "all()", "(all())", "all( )"},
      {"tier not in {'b', 'a'}", "tier notin {\"a\", \"b\"}", "tier not\tin {'a','b','a'}"},
  };
  for (const auto& group : groups) {
    auto first = Selector::parse(group.front());
    ASSERT_TRUE(first) << group.front() << ": " << first.error().message();
    for (const auto& text : group) {
      auto other = Selector::parse(text);
      ASSERT_TRUE(other) << text << ": " << other.error().message();
      EXPECT_EQ(other->str(), first->str()) << text;
      EXPECT_EQ(*other, *first) << text;
    }
  }
}

TEST(SelectorCanonical, DifferentSelectorsHaveDifferentKeys) {
  const std::vector<std::string> distinct = {
      "a == 'x'",
      "a != 'x'",
      "a in {'x'}",
      "a not in {'x'}",
      "a contains 'x'",
      "a starts with 'x'",
      "a ends with 'x'",
      "has(a)",
      "!has(a)",
      "all()",
      "global()",
      "!(a == 'x')",
      "a == 'x' && b == 'y'",
      "a == 'x' || b == 'y'",
      "b == 'y' && a == 'x'",
      "a == 'x' || b == 'y' && c == 'z'",
      "(a == 'x' || b == 'y') && c == 'z'",
      "a == 'x\"'",
      "a == \"x'\"",
  };
  for (size_t i = 0; i < distinct.size(); ++i) {
    auto a = Selector::parse(distinct[i]);
    ASSERT_TRUE(a) << distinct[i];
    for (size_t j = i + 1; j < distinct.size(); ++j) {
      auto b = Selector::parse(distinct[j]);
      ASSERT_TRUE(b) << distinct[j];
      EXPECT_NE(a->str(), b->str()) << distinct[i] << " vs " << distinct[j];
    }
  }
}

TEST(SelectorCanonical, EveryTableSelectorRoundTrips) {
  int checked = 0;
  for (const MatchCase& c : matchCases()) {
    auto sel = Selector::parse(c.selector);
    ASSERT_TRUE(sel) << c.selector;
    auto again = Selector::parse(sel->str());
    ASSERT_TRUE(again) << sel->str() << ": " << again.error().message();
    EXPECT_EQ(again->str(), sel->str());
    ++checked;
  }
  EXPECT_GE(checked, 100);
}

// ---------------------------------------------------------------------------------------------
// API details.

TEST(SelectorApi, DefaultConstructedIsAll) {
  const Selector sel;
  EXPECT_EQ(sel.str(), "all()");
  EXPECT_TRUE(sel.matches({}));
  EXPECT_TRUE(sel.matches({{"a", "b"}}));
  auto parsed = Selector::parse("");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, sel);
}

TEST(SelectorApi, ValidateSelector) {
  EXPECT_TRUE(validateSelector("app == 'web' && has(env)").isOk());
  EXPECT_TRUE(validateSelector("").isOk());
  const Status bad = validateSelector("app == web");
  EXPECT_FALSE(bad.isOk());
  EXPECT_EQ(bad.code(), Code::Invalid);
  EXPECT_TRUE(bad.message().starts_with("column 8: expected a quoted string")) << bad.message();
}

TEST(SelectorApi, CopiesShareTheParsedTree) {
  auto sel = Selector::parse("a in {'x', 'y'} && !has(b)");
  ASSERT_TRUE(sel);
  const Selector copy = *sel;
  EXPECT_EQ(copy, *sel);
  EXPECT_TRUE(copy.matches({{"a", "y"}}));
  EXPECT_FALSE(copy.matches({{"a", "y"}, {"b", ""}}));
}

TEST(SelectorApi, MatchesDoesNotAllocate) {
  const long beforeParse = gAllocations.load();
  auto sel = Selector::parse("(env == 'prod' || env starts with 'stage') && tier in {'fe', 'be', "
                             "'db'} && !has(quarantine) && name contains 'web' && x != 'y' && "
                             "z not in {'q'} && name ends with '1' && global()");
  ASSERT_TRUE(sel) << sel.error().message();
  EXPECT_GT(gAllocations.load() - beforeParse, 0) << "the allocation counter is not working";
  const Labels labels = {{"env", "stage-2"}, {"tier", "db"}, {"name", "web-1"}};
  const Labels other = {{"env", "prod"}, {"tier", "fe"}, {"name", "web-2"}, {"quarantine", ""}};
  bool results[2] = {false, true};
  const long before = gAllocations.load();
  for (int i = 0; i < 1000; ++i) {
    results[0] = sel->matches(labels);
    results[1] = sel->matches(other);
  }
  const long after = gAllocations.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_TRUE(results[0]);
  EXPECT_FALSE(results[1]);
}

} // namespace
} // namespace caracal::api
