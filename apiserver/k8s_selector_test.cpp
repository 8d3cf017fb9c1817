#include "apiserver/k8s_selector.h"

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace caracal::apiserver {
namespace {

Value json(std::string_view text) {
  auto v = parseJson(text);
  EXPECT_TRUE(v) << v.error().str() << " in " << text;
  return v ? *v : Value();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ------------------------------------------------------------------------------------------------
// Label selector

struct MatchCase {
  const char* selector;
  const char* labels;
  bool matches;
};

TEST(LabelSelector, Matching) {
  const MatchCase cases[] = {
      {"", "{}", true},
      {"", "null", true},
      {"  ", R"({"a":"b"})", true},
      {"app=web", R"({"app":"web"})", true},
      {"app=web", R"({"app":"db"})", false},
      {"app=web", "{}", false},
      {"app=web", "null", false},
      {"app==web", R"({"app":"web"})", true},
      {"app!=web", R"({"app":"web"})", false},
      {"app!=web", R"({"app":"db"})", true},
      {"app!=web", "{}", true},
      {"env in (prod, staging)", R"({"env":"prod"})", true},
      {"env in (prod, staging)", R"({"env":"staging"})", true},
      {"env in (prod, staging)", R"({"env":"dev"})", false},
      {"env in (prod, staging)", "{}", false},
      {"env notin (prod)", "{}", true},
      {"env notin (prod)", R"({"env":"prod"})", false},
      {"env notin (prod)", R"({"env":"dev"})", true},
      {"tier", R"({"tier":""})", true},
      {"tier", R"({"app":"x"})", false},
      {"!tier", R"({"app":"x"})", true},
      {"!tier", R"({"tier":"x"})", false},
      {"app=", R"({"app":""})", true},
      {"app=", R"({"app":"x"})", false},
      {"app=,b=c", R"({"app":"","b":"c"})", true},
      {"a=b,c!=d", R"({"a":"b","c":"e"})", true},
      {"a=b,c!=d", R"({"a":"b","c":"d"})", false},
      {"a=b,c!=d", R"({"c":"e"})", false},
      {" app = web , tier in ( fe , be ) ,\t!legacy ", R"({"app":"web","tier":"be"})", true},
      {" app = web , tier in ( fe , be ) ,\t!legacy ",
       R"({"app":"web","tier":"be","legacy":"true"})", false},
      {"example.com/app=web", R"({"example.com/app":"web"})", true},
      {"projectcalico.org/namespace in (default)", R"({"projectcalico.org/namespace":"default"})",
       true},
      {"x>5", R"({"x":"10"})", true},
      {"x>5", R"({"x":"5"})", false},
      {"x<5", R"({"x":"-3"})", true},
      {"x>5", R"({"x":"ten"})", false},
      {"x>5", "{}", false},
      {"a in (b,)", R"({"a":""})", true},
      {"a in (b,)", R"({"a":"b"})", true},
      {"a in (,b)", R"({"a":""})", true},
      {"a=1", R"({"a":1})", true}, // non-string label values compare by their text
  };
  for (const MatchCase& c : cases) {
    auto s = LabelSelector::parse(c.selector);
    ASSERT_TRUE(s) << c.selector << ": " << s.error().str();
    EXPECT_EQ(s->matches(json(c.labels)), c.matches) << c.selector << " on " << c.labels;
  }
}

TEST(LabelSelector, CanonicalString) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"", ""},
      {"app=web", "app=web"},
      {"  app  ==  web ", "app==web"},
      {"b=1, a in (z, y, z), !c", "a in (y,z),b=1,!c"},
      {"tier notin (fe,be),tier", "tier notin (be,fe),tier"},
      {"x>5,x<10", "x>5,x<10"},
      {"a in (b,)", "a in (,b)"},
  };
  for (const Case& c : cases) {
    auto s = LabelSelector::parse(c.in);
    ASSERT_TRUE(s) << c.in << ": " << s.error().str();
    EXPECT_EQ(s->str(), c.out) << c.in;
    EXPECT_EQ(s->empty(), std::string(c.out).empty());
    auto again = LabelSelector::parse(s->str());
    ASSERT_TRUE(again) << s->str();
    EXPECT_EQ(*again, *s) << c.in;
    EXPECT_EQ(again->str(), s->str());
  }
}

TEST(LabelSelector, Requirements) {
  auto s = LabelSelector::parse("tier in (fe,be),!legacy");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->requirements().size(), 2u);
  EXPECT_EQ(s->requirements()[0].key, "legacy");
  EXPECT_EQ(s->requirements()[0].op, LabelSelector::Operator::DoesNotExist);
  EXPECT_EQ(s->requirements()[1].op, LabelSelector::Operator::In);
  EXPECT_EQ(s->requirements()[1].values, (std::vector<std::string>{"be", "fe"}));
}

TEST(LabelSelector, ParseErrors) {
  struct Case {
    const char* selector;
    const char* messagePart;
  };
  const std::string longValue(64, 'v');
  const std::string longName(64, 'k');
  const std::string longKeySelector = longName + "=x";
  const std::string longValueSelector = "a=" + longValue;
  const Case cases[] = {
      {"a in (b c)", "found 'c' at position 8, expected: ',' or ')'"},
      {"a in b", "found 'b' at position 5, expected: '('"},
      {"a in (b", "found end of string at position 7, expected: ',' or ')'"},
      {"a in (", "found end of string at position 6, expected: a label value, ',' or ')'"},
      {"a in ()", "the value set of 'in' and 'notin' must not be empty at position 2"},
      {"a notin ( )", "must not be empty"},
      {"a,", "found end of string at position 2, expected: '!' or a label key after ','"},
      {"a,,b", "found ',' at position 2, expected: '!' or a label key after ','"},
      {",a", "found ',' at position 0, expected: '!', a label key or the end of the selector"},
      {"a=b c", "found 'c' at position 4, expected: ',' or the end of the selector"},
      {"a b", "found 'b' at position 2, expected: one of '=', '==', '!=', 'in', 'notin', '>', '<'"},
      {"!a=b", "found '=' at position 2, expected: ',' or the end of the selector"},
      {"!", "found end of string at position 1, expected: a label key"},
      {"!!a", "found '!' at position 1, expected: a label key"},
      {"(a)", "found '(' at position 0"},
      {"a=(b)", "found '(' at position 2, expected: a label value"},
      {"a==", ""}, // "a==" is a == with the empty value: valid, checked below
      {"-a=b", "invalid label key \"-a\""},
      {"a-=b", "invalid label key \"a-\""},
      {"Example.com/a=b", "the prefix must be a DNS subdomain"},
      {"a/b/c=d", "at most one '/'"},
      {"/a=b", "the prefix before '/' must not be empty"},
      {"a/=b", "the name part must not be empty"},
      {longKeySelector.c_str(), "the name part must be at most 63 characters"},
      {"a=-b", "invalid label value \"-b\" for key \"a\""},
      {"a=b/c", "invalid label value \"b/c\""},
      {longValueSelector.c_str(), "must be at most 63 characters"},
      {"a in (x,-y)", "invalid label value \"-y\" for key \"a\" (must be empty or consist of"},
      {"a>b", "value \"b\" for '>' must be an integer at position 2"},
      {"a<", "value \"\" for '<' must be an integer"},
  };
  for (const Case& c : cases) {
    auto s = LabelSelector::parse(c.selector);
    if (std::string(c.selector) == "a==") {
      ASSERT_TRUE(s) << s.error().str();
      EXPECT_TRUE(s->matches(json(R"({"a":""})")));
      continue;
    }
    ASSERT_FALSE(s) << c.selector << " parsed as " << s->str();
    EXPECT_EQ(s.code(), Code::BadRequest);
    EXPECT_TRUE(contains(s.error().message(), c.messagePart))
        << c.selector << ": " << s.error().message();
    EXPECT_TRUE(contains(s.error().message(), "unable to parse label selector"))
        << s.error().message();
  }
}

TEST(LabelSelector, KeyAndValueChecks) {
  EXPECT_EQ(checkLabelKey("app"), "");
  EXPECT_EQ(checkLabelKey("app.kubernetes.io/name"), "");
  EXPECT_EQ(checkLabelKey("a_b.c-d"), "");
  EXPECT_EQ(checkLabelKey(std::string(63, 'k')), "");
  EXPECT_EQ(checkLabelKey(std::string(253, 'p') + "/n"), "");
  EXPECT_NE(checkLabelKey(std::string(254, 'p') + "/n"), "");
  EXPECT_NE(checkLabelKey(""), "");
  EXPECT_NE(checkLabelKey("a..b/c"), "");
  EXPECT_NE(checkLabelKey("_a"), "");
  EXPECT_EQ(checkLabelValue(""), "");
  EXPECT_EQ(checkLabelValue("v1.2_3-x"), "");
  EXPECT_NE(checkLabelValue("a b"), "");
  EXPECT_NE(checkLabelValue("a."), "");
}

// ------------------------------------------------------------------------------------------------
// LabelSelector objects

TEST(LabelSelectorObject, ConvertsMatchLabelsAndExpressions) {
  auto s = labelSelectorFromObject(json(R"({
      "matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]},
                          {"key":"legacy","operator":"DoesNotExist"},
                          {"key":"env","operator":"NotIn","values":["dev"]},
                          {"key":"zone","operator":"Exists","values":[]}]})"));
  ASSERT_TRUE(s) << s.error().str();
  EXPECT_EQ(s->str(), "app=web,env notin (dev),!legacy,tier in (be,fe),zone");
  EXPECT_TRUE(s->matches(json(R"({"app":"web","tier":"fe","zone":"a"})")));
  EXPECT_TRUE(s->matches(json(R"({"app":"web","tier":"be","zone":"a","env":"prod"})")));
  EXPECT_FALSE(s->matches(json(R"({"app":"web","tier":"fe","zone":"a","legacy":"1"})")));
  EXPECT_FALSE(s->matches(json(R"({"app":"web","tier":"fe","zone":"a","env":"dev"})")));
  EXPECT_FALSE(s->matches(json(R"({"app":"web","tier":"fe"})")));
  EXPECT_FALSE(s->matches(json(R"({"app":"db","tier":"fe","zone":"a"})")));
  // The canonical text parses back to the same selector.
  auto parsed = LabelSelector::parse(s->str());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, *s);
}

TEST(LabelSelectorObject, EmptyAndNullMatchEverything) {
  for (const char* text :
       {"null", "{}", R"({"matchLabels":{},"matchExpressions":[]})", R"({"matchLabels":null})"}) {
    auto s = labelSelectorFromObject(json(text));
    ASSERT_TRUE(s) << text << ": " << s.error().str();
    EXPECT_TRUE(s->empty()) << text;
    EXPECT_TRUE(s->matches(json(R"({"any":"thing"})")));
  }
}

TEST(LabelSelectorObject, Errors) {
  struct Case {
    const char* selector;
    std::vector<std::string> fields;
    const char* messagePart;
  };
  const Case cases[] = {
      {"[1]", {""}, "must be an object"},
      {R"({"matchLabels":[]})", {"matchLabels"}, "must be an object"},
      {R"({"matchLabels":{"-bad":"x"}})", {"matchLabels[-bad]"}, "invalid label key \"-bad\""},
      {R"({"matchLabels":{"a":1}})", {"matchLabels[a]"}, "must be a string"},
      {R"({"matchLabels":{"a":"b c"}})", {"matchLabels[a]"}, "invalid label value \"b c\""},
      {R"({"matchExpressions":{}})", {"matchExpressions"}, "must be a list"},
      {R"({"matchExpressions":[1]})", {"matchExpressions[0]"}, "must be an object"},
      {R"({"matchExpressions":[{"operator":"Exists"}]})",
       {"matchExpressions[0].key"},
       "Required value"},
      {R"({"matchExpressions":[{"key":"a","operator":"Foo"}]})",
       {"matchExpressions[0].operator"},
       "Unsupported value: \"Foo\""},
      {R"({"matchExpressions":[{"key":"a"}]})", {"matchExpressions[0].operator"}, "Required value"},
      {R"({"matchExpressions":[{"key":"a","operator":"In"}]})",
       {"matchExpressions[0].values"},
       "must be specified when `operator` is 'In' or 'NotIn'"},
      {R"({"matchExpressions":[{"key":"a","operator":"NotIn","values":[]}]})",
       {"matchExpressions[0].values"},
       "must be specified"},
      {R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})",
       {"matchExpressions[0].values"},
       "may not be specified"},
      {R"({"matchExpressions":[{"key":"a","operator":"In","values":["ok",2,"-no"]}]})",
       {"matchExpressions[0].values[1]", "matchExpressions[0].values[2]"},
       "must be a string"},
      {R"({"matchLabels":{"/x":"y"},"matchExpressions":[{"key":"b","operator":"In",
          "values":"x"}]})",
       {"matchLabels[/x]", "matchExpressions[0].values"},
       "must be a list"},
  };
  for (const Case& c : cases) {
    auto s = labelSelectorFromObject(json(c.selector));
    ASSERT_FALSE(s) << c.selector;
    EXPECT_EQ(s.code(), Code::Invalid);
    EXPECT_TRUE(contains(s.error().message(), c.messagePart))
        << c.selector << ": " << s.error().message();
    std::vector<std::string> fields;
    for (const FieldCause& cause : s.error().causes()) {
      fields.push_back(cause.field);
    }
    EXPECT_EQ(fields, c.fields) << c.selector;
  }
}

// ------------------------------------------------------------------------------------------------
// Field selector

TEST(FieldSelector, ParsesAndMatches) {
  Value pod = json(R"({"metadata":{"name":"web-1","namespace":"default"},
      "spec":{"nodeName":"node-a","replicas":3,"hostNetwork":false,"ratio":1.5},
      "status":{"phase":"Running"}})");
  Value unscheduled = json(R"({"metadata":{"name":"web-2","namespace":"default"},"spec":{}})");
  struct Case {
    const char* selector;
    bool onPod;
    bool onUnscheduled;
  };
  const Case cases[] = {
      {"", true, true},
      {"metadata.name=web-1", true, false},
      {"metadata.name==web-1", true, false},
      {"metadata.name!=web-1", false, true},
      {"metadata.namespace=default,status.phase=Running", true, false},
      {"metadata.namespace!=kube-system", true, true},
      {"spec.nodeName=", false, true},
      {"spec.nodeName!=", true, false},
      {"spec.nodeName=node-a", true, false},
      {" metadata.name = web-2 ", false, true},
      {"spec.replicas=3", true, false},
      {"spec.hostNetwork=false", true, false},
      {"spec.ratio=1.5", true, false},
      {"spec=x", false, false}, // a map is equal to no string
      {"spec!=x", true, true},
      {"metadata.name=web-1,", true, false}, // empty terms are skipped
  };
  for (const Case& c : cases) {
    auto s = FieldSelector::parse(c.selector);
    ASSERT_TRUE(s) << c.selector << ": " << s.error().str();
    EXPECT_EQ(s->matches(pod), c.onPod) << c.selector;
    EXPECT_EQ(s->matches(unscheduled), c.onUnscheduled) << c.selector;
  }
}

TEST(FieldSelector, FieldsAndString) {
  auto s = FieldSelector::parse("metadata.name=a,metadata.namespace!=b,metadata.name!=c");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->fields(), (std::vector<std::string>{"metadata.name", "metadata.namespace"}));
  EXPECT_FALSE(s->empty());
  EXPECT_EQ(s->str(), "metadata.name=a,metadata.namespace!=b,metadata.name!=c");
  ASSERT_EQ(s->requirements().size(), 3u);
  EXPECT_EQ(s->requirements()[1].op, FieldSelector::Operator::NotEquals);

  auto empty = FieldSelector::parse("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(empty->fields().empty());
}

TEST(FieldSelector, Escapes) {
  auto s = FieldSelector::parse(R"(metadata.name=a\,b\=c\\d,status.phase!=x)");
  ASSERT_TRUE(s) << s.error().str();
  ASSERT_EQ(s->requirements().size(), 2u);
  EXPECT_EQ(s->requirements()[0].value, R"(a,b=c\d)");
  EXPECT_TRUE(s->matches(json(R"({"metadata":{"name":"a,b=c\\d"}})")));
  EXPECT_EQ(s->str(), R"(metadata.name=a\,b\=c\\d,status.phase!=x)");
  auto again = FieldSelector::parse(s->str());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *s);
}

TEST(FieldSelector, Errors) {
  struct Case {
    const char* selector;
    const char* messagePart;
  };
  const Case cases[] = {
      {"metadata.name", R"(term "metadata.name" at position 0: expected <field>=<value>)"},
      {"a=b,foo", R"(term "foo" at position 4)"},
      {"=x", "the field name is empty"},
      {" != x", "the field name is empty"},
      {"a=b=c", "unescaped '=' in value"},
      {R"(a=b\x)", "invalid escape sequence"},
      {R"(a=b\)", "invalid escape sequence"},
      {"a b=c", R"(invalid field name "a b")"},
      {"a!b=c", R"(invalid field name "a!b")"},
  };
  for (const Case& c : cases) {
    auto s = FieldSelector::parse(c.selector);
    ASSERT_FALSE(s) << c.selector;
    EXPECT_EQ(s.code(), Code::BadRequest);
    EXPECT_TRUE(contains(s.error().message(), c.messagePart))
        << c.selector << ": " << s.error().message();
    EXPECT_TRUE(contains(s.error().message(), "invalid field selector")) << s.error().message();
  }
}

} // namespace
} // namespace caracal::apiserver
