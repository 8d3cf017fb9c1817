#include "apiserver/patch.h"

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

// True when some object key anywhere in `v` starts with '$'.
bool hasDirective(const Value& v) {
  if (v.isObject()) {
    for (const auto& [key, child] : v.asObject()) {
      if ((!key.empty() && key[0] == '$') || hasDirective(child)) {
        return true;
      }
    }
  }
  if (v.isArray()) {
    for (const Value& item : v.asArray()) {
      if (hasDirective(item)) {
        return true;
      }
    }
  }
  return false;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ------------------------------------------------------------------------------------------------
// RFC 7386

struct MergeCase {
  const char* target;
  const char* patch;
  const char* result; // nullptr: BadRequest (the patch is not an object)
};

TEST(MergePatch, Rfc7386AppendixA) {
  const MergeCase cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", nullptr},
      {R"({"a":"b"})", R"(["c"])", nullptr},
      {R"({"a":"foo"})", "null", nullptr},
      {R"({"a":"foo"})", R"("bar")", nullptr},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const MergeCase& c : cases) {
    SCOPED_TRACE(std::string(c.target) + " + " + c.patch);
    auto r = applyMergePatch(json(c.target), json(c.patch));
    if (!c.result) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.code(), Code::BadRequest);
      EXPECT_TRUE(contains(r.error().message(), "must be a JSON object")) << r.error().message();
      continue;
    }
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, json(c.result)) << toJson(*r);
  }
}

TEST(MergePatch, Rfc7386SectionThreeExample) {
  Value target = json(R"({"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
      "tags":["example","sample"],"content":"This will be unchanged"})");
  Value patch = json(R"({"title":"Hello!","phoneNumber":"+01-123-456-7890",
      "author":{"familyName":null},"tags":["example"]})");
  auto r = applyMergePatch(target, patch);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, json(R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
      "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"})"));
  // Existing keys keep their place; new ones are appended.
  EXPECT_EQ(r->asObject().front().first, "title");
  EXPECT_EQ(r->asObject().back().first, "phoneNumber");
}

TEST(MergePatch, LeavesInputsUntouched) {
  Value target = json(R"({"spec":{"cidr":"10.0.0.0/16","natOutgoing":true}})");
  Value copy = target;
  auto r = applyMergePatch(target, json(R"({"spec":{"natOutgoing":null}})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, json(R"({"spec":{"cidr":"10.0.0.0/16"}})"));
  EXPECT_EQ(target, copy);
}

// ------------------------------------------------------------------------------------------------
// RFC 6901 / 6902

TEST(JsonPointer, ParsesAndUnescapes) {
  struct Case {
    const char* pointer;
    std::vector<std::string> tokens;
  };
  const Case cases[] = {
      {"", {}},           {"/", {""}},
      {"/foo", {"foo"}},  {"/foo/0", {"foo", "0"}},
      {"/a~1b", {"a/b"}}, {"/m~0n", {"m~n"}},
      {"/~01", {"~1"}},   {"/c%d", {"c%d"}},
      {"/ ", {" "}},      {"/a//b", {"a", "", "b"}},
  };
  for (const Case& c : cases) {
    auto r = parseJsonPointer(c.pointer);
    ASSERT_TRUE(r) << c.pointer << ": " << r.error().str();
    EXPECT_EQ(*r, c.tokens) << c.pointer;
  }
  for (const char* bad : {"a", "a/b", "/a~2", "/a~", "/~x/y"}) {
    auto r = parseJsonPointer(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.code(), Code::BadRequest);
  }
}

struct JsonPatchCase {
  const char* name;
  const char* doc;
  const char* patch;
  const char* result; // nullptr: error
  Code code = Code::Ok;
  const char* messagePart = "";
};

TEST(JsonPatch, Rfc6902AppendixA) {
  const JsonPatchCase cases[] = {
      {"A.1 add object member", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
       R"({"baz":"qux","foo":"bar"})"},
      {"A.2 add array element", R"({"foo":["bar","baz"]})",
       R"([{"op":"add","path":"/foo/1","value":"qux"}])", R"({"foo":["bar","qux","baz"]})"},
      {"A.3 remove object member", R"({"baz":"qux","foo":"bar"})",
       R"([{"op":"remove","path":"/baz"}])", R"({"foo":"bar"})"},
      {"A.4 remove array element", R"({"foo":["bar","qux","baz"]})",
       R"([{"op":"remove","path":"/foo/1"}])", R"({"foo":["bar","baz"]})"},
      {"A.5 replace", R"({"baz":"qux","foo":"bar"})",
       R"([{"op":"replace","path":"/baz","value":"boo"}])", R"({"baz":"boo","foo":"bar"})"},
      {"A.6 move value", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
       R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
       R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"},
      {"A.7 move array element", R"({"foo":["all","grass","cows","eat"]})",
       R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
       R"({"foo":["all","cows","eat","grass"]})"},
      {"A.8 test success", R"({"baz":"qux","foo":["a",2,"c"]})",
       R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
       R"({"baz":"qux","foo":["a",2,"c"]})"},
      {"A.9 test failure", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])",
       nullptr, Code::Invalid, R"(json patch operation 0 (test) path "/baz": test failed)"},
      {"A.10 add nested member object", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
       R"({"foo":"bar","child":{"grandchild":{}}})"},
      {"A.11 ignore unrecognized members", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})"},
      {"A.12 add to nonexistent target", R"({"foo":"bar"})",
       R"([{"op":"add","path":"/baz/bat","value":"qux"}])", nullptr, Code::BadRequest,
       R"(json patch operation 0 (add) path "/baz/bat": no member "baz")"},
      {"A.14 ~ escape ordering", R"({"/":9,"~1":10})",
       R"([{"op":"test","path":"/~01","value":10}])", R"({"/":9,"~1":10})"},
      {"A.15 strings and numbers differ", R"({"/":9,"~1":10})",
       R"([{"op":"test","path":"/~01","value":"10"}])", nullptr, Code::Invalid, "test failed"},
      {"A.16 add array value", R"({"foo":["bar"]})",
       R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
       R"({"foo":["bar",["abc","def"]]})"},
  };
  for (const JsonPatchCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = applyJsonPatch(json(c.doc), json(c.patch));
    if (!c.result) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.code(), c.code) << r.error().str();
      EXPECT_TRUE(contains(r.error().message(), c.messagePart)) << r.error().message();
      continue;
    }
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, json(c.result)) << toJson(*r);
  }
}

TEST(JsonPatch, MoreOperations) {
  const JsonPatchCase cases[] = {
      {"add replaces an existing member in place", R"({"a":1,"b":2})",
       R"([{"op":"add","path":"/a","value":3}])", R"({"a":3,"b":2})"},
      {"add at the root replaces the document", R"({"a":1})",
       R"([{"op":"add","path":"","value":[1]}])", "[1]"},
      {"add at the end index", R"({"a":[1]})", R"([{"op":"add","path":"/a/1","value":2}])",
       R"({"a":[1,2]})"},
      {"add null value", R"({})", R"([{"op":"add","path":"/a","value":null}])", R"({"a":null})"},
      {"add with an empty key", R"({})", R"([{"op":"add","path":"/","value":1}])", R"({"":1})"},
      {"replace the root", R"({"a":1})", R"([{"op":"replace","path":"","value":{"b":2}}])",
       R"({"b":2})"},
      {"copy", R"({"a":{"x":1},"b":{}})", R"([{"op":"copy","from":"/a/x","path":"/b/y"}])",
       R"({"a":{"x":1},"b":{"y":1}})"},
      {"copy appends", R"({"a":[1,2]})", R"([{"op":"copy","from":"/a/0","path":"/a/-"}])",
       R"({"a":[1,2,1]})"},
      {"move to the same place", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])",
       R"({"a":1})"},
      {"test an object regardless of key order", R"({"a":{"x":1,"y":2}})",
       R"([{"op":"test","path":"/a","value":{"y":2,"x":1}}])", R"({"a":{"x":1,"y":2}})"},
      {"test null", R"({"a":null})", R"([{"op":"test","path":"/a","value":null}])",
       R"({"a":null})"},
      {"ops apply in order", R"({"spec":{"blockSize":26}})",
       R"([{"op":"test","path":"/spec/blockSize","value":26},
           {"op":"replace","path":"/spec/blockSize","value":28},
           {"op":"add","path":"/metadata","value":{"labels":{"a/b":"c"}}},
           {"op":"remove","path":"/metadata/labels/a~1b"}])",
       R"({"spec":{"blockSize":28},"metadata":{"labels":{}}})"},
      {"empty patch", R"({"a":1})", "[]", R"({"a":1})"},
      {"patch is not an array", R"({})", R"({"op":"add"})", nullptr, Code::BadRequest,
       "json patch must be a JSON array"},
      {"operation is not an object", R"({})", R"([1])", nullptr, Code::BadRequest,
       "json patch operation 0: must be an object"},
      {"missing op", R"({})", R"([{"path":"/a"}])", nullptr, Code::BadRequest,
       R"(operation 0: missing string member "op")"},
      {"missing path", R"({})", R"([{"op":"add","value":1}])", nullptr, Code::BadRequest,
       R"(operation 0 (add) path "": missing string member "path")"},
      {"unknown op", R"({})", R"([{"op":"frob","path":"/a"}])", nullptr, Code::BadRequest,
       R"(operation 0 (frob) path "/a": unknown operation "frob")"},
      {"missing value", R"({})", R"([{"op":"add","path":"/a"}])", nullptr, Code::BadRequest,
       R"(missing member "value")"},
      {"missing from", R"({"a":1})", R"([{"op":"move","path":"/b"}])", nullptr, Code::BadRequest,
       R"(missing string member "from")"},
      {"bad pointer", R"({})", R"([{"op":"add","path":"a","value":1}])", nullptr, Code::BadRequest,
       "must be empty or start with '/'"},
      {"remove a missing member", R"({"a":1})",
       R"([{"op":"test","path":"/a","value":1},{"op":"remove","path":"/b"}])", nullptr,
       Code::BadRequest, R"(json patch operation 1 (remove) path "/b": no member "b")"},
      {"remove the root", R"({"a":1})", R"([{"op":"remove","path":""}])", nullptr, Code::BadRequest,
       "cannot remove the whole document"},
      {"replace a missing member", R"({"a":1})", R"([{"op":"replace","path":"/b","value":1}])",
       nullptr, Code::BadRequest, R"(no member "b")"},
      {"index out of range", R"({"a":[1]})", R"([{"op":"add","path":"/a/2","value":1}])", nullptr,
       Code::BadRequest, "index 2 is out of range (the array has 1 elements)"},
      {"leading zero index", R"({"a":[1,2]})", R"([{"op":"remove","path":"/a/01"}])", nullptr,
       Code::BadRequest, R"("01" is not an array index)"},
      {"dash names nothing to remove", R"({"a":[1]})", R"([{"op":"remove","path":"/a/-"}])",
       nullptr, Code::BadRequest, "names no existing element"},
      {"index into a string", R"({"a":"s"})", R"([{"op":"add","path":"/a/b/c","value":1}])",
       nullptr, Code::BadRequest, R"(cannot look up "b" in a string at "/a")"},
      {"add into a scalar", R"({"a":"s"})", R"([{"op":"add","path":"/a/b","value":1}])", nullptr,
       Code::BadRequest, "cannot add a member to a string"},
      {"move into own child", R"({"a":{"b":{}}})", R"([{"op":"move","from":"/a","path":"/a/b/c"}])",
       nullptr, Code::BadRequest, "into one of its own children"},
      {"copy from a missing member", R"({"a":1})", R"([{"op":"copy","from":"/x","path":"/b"}])",
       nullptr, Code::BadRequest, R"(no member "x")"},
      {"test a missing member", R"({"a":1})", R"([{"op":"test","path":"/x","value":1}])", nullptr,
       Code::BadRequest, R"(no member "x")"},
      {"test int against double is numeric", R"({"a":1})",
       R"([{"op":"test","path":"/a","value":1.0}])", R"({"a":1})"},
  };
  for (const JsonPatchCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = applyJsonPatch(json(c.doc), json(c.patch));
    if (!c.result) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.code(), c.code) << r.error().str();
      EXPECT_TRUE(contains(r.error().message(), c.messagePart)) << r.error().message();
      continue;
    }
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, json(c.result)) << toJson(*r);
  }
}

TEST(JsonPatch, FailureLeavesTargetUnchanged) {
  Value doc = json(R"({"a":1})");
  Value copy = doc;
  auto r = applyJsonPatch(doc, json(R"([{"op":"add","path":"/b","value":2},
                                       {"op":"test","path":"/a","value":2}])"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Invalid);
  EXPECT_EQ(doc, copy);
}

// ------------------------------------------------------------------------------------------------
// Strategic merge patch

struct SmpCase {
  const char* name;
  const char* target;
  const char* patch;
  const char* result; // nullptr: BadRequest
  const char* messagePart = "";
};

TEST(StrategicMergePatch, Table) {
  const SmpCase cases[] = {
      {"maps merge, null deletes, scalars replace",
       R"({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"x":1}})",
       R"({"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"x":2}})",
       R"({"metadata":{"labels":{"b":"2","c":"3"}},"spec":{"x":2}})"},
      {"containers merge by name",
       R"({"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1",
           "args":["x"]}]}})",
       R"({"spec":{"containers":[{"name":"b","image":"b:2"},{"name":"c","image":"c:1"}]}})",
       R"({"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:2","args":["x"]},
                                 {"name":"c","image":"c:1"}]}})"},
      {"initContainers inside a pod template merge by name",
       R"({"spec":{"template":{"spec":{"initContainers":[{"name":"i","image":"old"}]}}}})",
       R"({"spec":{"template":{"spec":{"initContainers":[{"name":"i","image":"new"}]}}}})",
       R"({"spec":{"template":{"spec":{"initContainers":[{"name":"i","image":"new"}]}}}})"},
      {"$patch delete removes a list item by key",
       R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
       R"({"spec":{"containers":[{"name":"a","$patch":"delete"}]}})",
       R"({"spec":{"containers":[{"name":"b"}]}})"},
      {"$patch replace marker replaces the list",
       R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
       R"({"spec":{"containers":[{"$patch":"replace"},{"name":"z","image":"z"}]}})",
       R"({"spec":{"containers":[{"name":"z","image":"z"}]}})"},
      {"$patch replace on a list item replaces that item",
       R"({"spec":{"containers":[{"name":"a","image":"i","args":["x"]}]}})",
       R"({"spec":{"containers":[{"name":"a","image":"j","$patch":"replace"}]}})",
       R"({"spec":{"containers":[{"name":"a","image":"j"}]}})"},
      {"$patch replace on a map", R"({"metadata":{"labels":{"a":"1","b":"2"}}})",
       R"({"metadata":{"labels":{"$patch":"replace","c":"3"}}})",
       R"({"metadata":{"labels":{"c":"3"}}})"},
      {"$patch delete on a map", R"({"spec":{"strategy":{"type":"x"},"keep":1}})",
       R"({"spec":{"strategy":{"$patch":"delete"}}})", R"({"spec":{"keep":1}})"},
      {"$patch merge is the default", R"({"spec":{"a":1}})", R"({"spec":{"$patch":"merge","b":2}})",
       R"({"spec":{"a":1,"b":2}})"},
      {"ports under a container merge by containerPort",
       R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http"},
                                                       {"containerPort":443}]}]}})",
       R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"protocol":"TCP"},
                                                       {"containerPort":8080}]}]}})",
       R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http",
           "protocol":"TCP"},
                                                       {"containerPort":443},
                                                           {"containerPort":8080}]}]}})"},
      {"env by name, volumeMounts by mountPath",
       R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"}],
           "volumeMounts":[{"mountPath":"/data","name":"v1"}]}]}})",
       R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"2"},{"name":"Y",
           "value":"3"}],
           "volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}})",
       R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"2"},{"name":"Y",
           "value":"3"}],
           "volumeMounts":[{"mountPath":"/data","name":"v1","readOnly":true}]}]}})"},
      {"volumes and imagePullSecrets by name",
       R"({"spec":{"volumes":[{"name":"v","emptyDir":{}}],"imagePullSecrets":[{"name":"s1"}]}})",
       R"({"spec":{"volumes":[{"name":"w","hostPath":{"path":"/x"}}],
           "imagePullSecrets":[{"name":"s2"}]}})",
       R"({"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"w","hostPath":{"path":"/x"}}],
                   "imagePullSecrets":[{"name":"s1"},{"name":"s2"}]}})"},
      {"NetworkPolicy ingress has no merge key and is replaced whole",
       R"({"spec":{"podSelector":{},"ingress":[{"from":[{"podSelector":{"matchLabels":{"a":"b"}}}]},
                                              {"ports":[{"port":80}]}]}})",
       R"({"spec":{"ingress":[{"ports":[{"port":443,"protocol":"TCP"}]}]}})",
       R"({"spec":{"podSelector":{},"ingress":[{"ports":[{"port":443,"protocol":"TCP"}]}]}})"},
      {"egress and policyTypes replaced whole",
       R"({"spec":{"egress":[{"to":[{"ipBlock":{"cidr":"10.0.0.0/8"}}]}],"policyTypes":["Ingress",
           "Egress"]}})",
       R"({"spec":{"egress":[],"policyTypes":["Egress"]}})",
       R"({"spec":{"egress":[],"policyTypes":["Egress"]}})"},
      {"scalar lists without a merge key are replaced", R"({"spec":{"args":["a","b"]}})",
       R"({"spec":{"args":["c"]}})", R"({"spec":{"args":["c"]}})"},
      {"finalizers merge as a set", R"({"metadata":{"finalizers":["a","b"]}})",
       R"({"metadata":{"finalizers":["c","a"]}})", R"({"metadata":{"finalizers":["a","b","c"]}})"},
      {"$deleteFromPrimitiveList", R"({"metadata":{"finalizers":["a","b","c"]}})",
       R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b","x"]}})",
       R"({"metadata":{"finalizers":["a","c"]}})"},
      {"$retainKeys clears unlisted keys",
       R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}})",
       R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})",
       R"({"spec":{"strategy":{"type":"Recreate"}}})"},
      {"$setElementOrder reorders a merged list",
       R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"2"},
           {"name":"s"}]}})",
       R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
                   "containers":[{"name":"a","image":"3"}]}})",
       R"({"spec":{"containers":[{"name":"b","image":"2"},{"name":"a","image":"3"},
           {"name":"s"}]}})"},
      {"$setElementOrder on a replaced list is ignored", R"({"spec":{"args":["a","b"]}})",
       R"({"spec":{"$setElementOrder/args":["b","a"],"args":["a","b"]}})",
       R"({"spec":{"args":["a","b"]}})"},
      {"status conditions merge by type",
       R"({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Other",
           "status":"True"}]}})",
       R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"Up"}]}})",
       R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"Up"},{"type":"Other",
           "status":"True"}]}})"},
      {"node status addresses merge by type",
       R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname",
           "address":"n1"}]}})",
       R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.2"}]}})",
       R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.2"},{"type":"Hostname",
           "address":"n1"}]}})"},
      {"other addresses lists are replaced", R"({"subsets":[{"addresses":[{"ip":"1.1.1.1"}]}]})",
       R"({"subsets":[{"addresses":[{"ip":"2.2.2.2"}]}]})",
       R"({"subsets":[{"addresses":[{"ip":"2.2.2.2"}]}]})"},
      {"ownerReferences merge by uid",
       R"({"metadata":{"ownerReferences":[{"uid":"u1","kind":"A"}]}})",
       R"({"metadata":{"ownerReferences":[{"uid":"u2","kind":"B"},{"uid":"u1",
           "controller":true}]}})",
       R"({"metadata":{"ownerReferences":[{"uid":"u1","kind":"A","controller":true},{"uid":"u2",
           "kind":"B"}]}})"},
      {"directives in new content are honoured and stripped", R"({"spec":{}})",
       R"({"spec":{"containers":[{"name":"n","env":[{"name":"X","$patch":"delete"}],
                                  "resources":{"$patch":"replace","limits":{"cpu":"1"}}}],
                   "template":{"gone":{"$patch":"delete"},"kept":{"$patch":"merge","a":1}}}})",
       R"({"spec":{"containers":[{"name":"n","env":[],"resources":{"limits":{"cpu":"1"}}}],
                   "template":{"kept":{"a":1}}}})"},
      {"directive items in replaced lists are stripped", R"({"spec":{"ingress":[{"a":1}]}})",
       R"({"spec":{"ingress":[{"$patch":"delete"},{"b":{"$patch":"merge","c":1}}]}})",
       R"({"spec":{"ingress":[{"b":{"c":1}}]}})"},
      {"a map patch over a scalar replaces it", R"({"spec":{"x":"s"}})",
       R"({"spec":{"x":{"y":1}}})", R"({"spec":{"x":{"y":1}}})"},
      {"a patch over null creates everything", "null", R"({"a":{"b":[1]}})", R"({"a":{"b":[1]}})"},
      {"$patch delete at the top level", R"({"a":1})", R"({"$patch":"delete"})", "{}"},
      {"patch must be an object", R"({"a":1})", "[1]", nullptr,
       "strategic merge patch must be a JSON object"},
      {"unknown $patch value", R"({"spec":{"a":{}}})", R"({"spec":{"a":{"$patch":"frob"}}})",
       nullptr, R"(unknown "$patch" value "frob" at "spec.a")"},
      {"merged list item without its key", R"({"spec":{"containers":[{"name":"a"}]}})",
       R"({"spec":{"containers":[{"image":"x"}]}})", nullptr,
       R"(item "spec.containers[0]" has no merge key "name")"},
      {"merged list item that is not an object", R"({"spec":{}})",
       R"({"spec":{"containers":["a"]}})", nullptr,
       R"(item "spec.containers[0]" must be an object with merge key "name")"},
      {"error inside a keyed item names the key", R"({"spec":{"containers":[{"name":"web"}]}})",
       R"({"spec":{"containers":[{"name":"web","resources":{"$patch":"x"}}]}})", nullptr,
       R"(at "spec.containers[name=web].resources")"},
      {"$retainKeys must list patched keys", R"({"spec":{"strategy":{}}})",
       R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}})", nullptr,
       R"(field "spec.strategy.rollingUpdate" is not listed in "$retainKeys")"},
      {"$retainKeys must be a list of strings", R"({"spec":{}})",
       R"({"spec":{"$retainKeys":"type"}})", nullptr, "must be a list of strings"},
      {"$deleteFromPrimitiveList must be a list", R"({"metadata":{}})",
       R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}})", nullptr, "must be a list"},
  };
  for (const SmpCase& c : cases) {
    SCOPED_TRACE(c.name);
    Value target = json(c.target);
    Value copy = target;
    auto r = applyStrategicMergePatch(target, json(c.patch));
    EXPECT_EQ(target, copy);
    if (!c.result) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.code(), Code::BadRequest) << r.error().str();
      EXPECT_TRUE(contains(r.error().message(), c.messagePart)) << r.error().message();
      continue;
    }
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(*r, json(c.result)) << toJson(*r);
    EXPECT_FALSE(hasDirective(*r)) << toJson(*r);
  }
}

TEST(StrategicMergePatch, KubectlStyleDeploymentPatch) {
  // The shape kubectl apply (client side) sends: every directive at once.
  Value live = json(R"({
    "apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","labels":{"app":"web"},"finalizers":["x"]},
    "spec":{"replicas":2,"template":{"spec":{"containers":[
      {"name":"web","image":"nginx:1","ports":[{"containerPort":80}],"env":[{"name":"A",
          "value":"1"}]},
      {"name":"sidecar","image":"proxy:1"}]}}}})");
  Value patch = json(R"({
    "metadata":{"labels":{"tier":"fe"},"$deleteFromPrimitiveList/finalizers":["x"]},
    "spec":{"replicas":3,"template":{"spec":{
      "$setElementOrder/containers":[{"name":"sidecar"},{"name":"web"}],
      "containers":[{"name":"web","image":"nginx:2","$setElementOrder/env":[{"name":"B"},
          {"name":"A"}],
                     "env":[{"name":"B","value":"2"}]},
                    {"name":"sidecar","$patch":"delete"}]}}}})");
  auto r = applyStrategicMergePatch(live, patch);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_FALSE(hasDirective(*r)) << toJson(*r);
  EXPECT_EQ(*r, json(R"({
    "apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","labels":{"app":"web","tier":"fe"},"finalizers":[]},
    "spec":{"replicas":3,"template":{"spec":{"containers":[
      {"name":"web","image":"nginx:2","ports":[{"containerPort":80}],
       "env":[{"name":"B","value":"2"},{"name":"A","value":"1"}]}]}}}})"))
      << toJson(*r, true);
}

// ------------------------------------------------------------------------------------------------
// Server-side apply

constexpr const char* kNow = "2024-05-01T10:00:00Z";
constexpr const char* kLater = "2024-05-02T10:00:00Z";
constexpr const char* kV3 = "projectcalico.org/v3";

Value pool(std::string_view spec, std::string_view extraMetadata = "") {
  std::string text =
      R"({"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":{"name":"p")";
  if (!extraMetadata.empty()) {
    text += ",";
    text += extraMetadata;
  }
  text += "},\"spec\":";
  text += spec;
  text += "}";
  return json(text);
}

const Value* managedEntry(const Value& obj, std::string_view manager, std::string_view op) {
  const Value* list = obj.path("metadata.managedFields");
  if (!list) {
    return nullptr;
  }
  for (const Value& e : list->asArray()) {
    if (e.getString("manager") == manager && e.getString("operation") == op) {
      return &e;
    }
  }
  return nullptr;
}

TEST(ServerSideApply, CreateRecordsManagedFieldsInKubernetesFormat) {
  Value applied =
      pool(R"j({"cidr":"10.0.0.0/16","blockSize":26,"ipipMode":"Always","nodeSelector":"all()"})j",
           R"("labels":{"app":"x"})");
  auto r = applyServerSide(Value(), applied, "kubectl", false, kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  Value expected = applied;
  expected["metadata"].set("managedFields", json(R"([{
      "manager":"kubectl","operation":"Apply","apiVersion":"projectcalico.org/v3",
      "time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1",
      "fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},
                  "f:spec":{"f:blockSize":{},"f:cidr":{},"f:ipipMode":{},
                      "f:nodeSelector":{}}}}])"));
  EXPECT_EQ(*r, expected) << toJson(*r, true);
  // Entry members in Kubernetes' order, fieldsV1 keys sorted.
  const Value& entry = r->path("metadata.managedFields")->asArray()[0];
  std::vector<std::string> keys;
  for (const auto& m : entry.asObject()) {
    keys.push_back(m.first);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"manager", "operation", "apiVersion", "time",
                                            "fieldsType", "fieldsV1"}));
  EXPECT_EQ(toJson(*entry.path("fieldsV1.f:spec")),
            R"({"f:blockSize":{},"f:cidr":{},"f:ipipMode":{},"f:nodeSelector":{}})");
}

TEST(ServerSideApply, UpdateBySameManagerChangesValuesAndTime) {
  auto first = applyServerSide(Value(), pool(R"({"cidr":"10.0.0.0/16","blockSize":26})"), "kubectl",
                               false, kV3, kNow);
  ASSERT_TRUE(first);
  auto second = applyServerSide(*first, pool(R"({"cidr":"10.1.0.0/16","blockSize":26})"), "kubectl",
                                false, kV3, kLater);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_EQ(second->getString("spec.cidr"), "10.1.0.0/16");
  ASSERT_EQ(second->path("metadata.managedFields")->size(), 1u);
  EXPECT_EQ(managedEntry(*second, "kubectl", "Apply")->getString("time"), kLater);
}

TEST(ServerSideApply, DroppedFieldsAreRemoved) {
  auto first =
      applyServerSide(Value(),
                      pool(R"({"cidr":"10.0.0.0/16","natOutgoing":true,"extra":{"deep":{"x":1}}})",
                           R"("labels":{"app":"x"})"),
                      "kubectl", false, kV3, kNow);
  ASSERT_TRUE(first);
  auto second =
      applyServerSide(*first, pool(R"({"cidr":"10.0.0.0/16"})"), "kubectl", false, kV3, kLater);
  ASSERT_TRUE(second) << second.error().str();
  Value expected = pool(R"({"cidr":"10.0.0.0/16"})");
  expected["metadata"].set("managedFields", json(R"([{
      "manager":"kubectl","operation":"Apply","apiVersion":"projectcalico.org/v3",
      "time":"2024-05-02T10:00:00Z","fieldsType":"FieldsV1",
          "fieldsV1":{"f:spec":{"f:cidr":{}}}}])"));
  // natOutgoing and the label are gone, and so are the maps only they kept alive.
  EXPECT_EQ(*second, expected) << toJson(*second, true);
}

TEST(ServerSideApply, DroppedFieldsOwnedByAnotherManagerStay) {
  auto first = applyServerSide(Value(), pool(R"({"cidr":"10.0.0.0/16","natOutgoing":true})"),
                               "kubectl", false, kV3, kNow);
  ASSERT_TRUE(first);
  // Another manager applies the same natOutgoing value: shared ownership, no conflict.
  auto shared =
      applyServerSide(*first, pool(R"({"natOutgoing":true})"), "operator", false, kV3, kNow);
  ASSERT_TRUE(shared) << shared.error().str();
  auto second =
      applyServerSide(*shared, pool(R"({"cidr":"10.0.0.0/16"})"), "kubectl", false, kV3, kLater);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_TRUE(second->path("spec.natOutgoing")->asBool());
  EXPECT_EQ(toJson(*managedEntry(*second, "kubectl", "Apply")->find("fieldsV1")),
            R"({"f:spec":{"f:cidr":{}}})");
  EXPECT_EQ(toJson(*managedEntry(*second, "operator", "Apply")->find("fieldsV1")),
            R"({"f:spec":{"f:natOutgoing":{}}})");
}

Value withManagedFields(Value obj, std::string_view entries);

TEST(ServerSideApply, OwningTheParentMapDoesNotKeepADroppedField) {
  auto first = applyServerSide(Value(), pool(R"({"cidr":"10.0.0.0/16","natOutgoing":true})"),
                               "kubectl", false, kV3, kNow);
  ASSERT_TRUE(first);
  Value live = *first;
  Value entries = *live.path("metadata.managedFields");
  entries.push(json(R"({"manager":"other","operation":"Update","apiVersion":"projectcalico.org/v3",
      "time":"t0","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{}}}})"));
  live["metadata"].set("managedFields", entries);
  auto second =
      applyServerSide(live, pool(R"({"cidr":"10.0.0.0/16"})"), "kubectl", false, kV3, kLater);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_EQ(*second->path("spec"), json(R"({"cidr":"10.0.0.0/16"})"));
  EXPECT_TRUE(managedEntry(*second, "other", "Update"));
}

Value withManagedFields(Value obj, std::string_view entries) {
  obj["metadata"].set("managedFields", json(entries));
  return obj;
}

constexpr const char* kClientSideApplyOwnsSpec = R"([{
    "manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"projectcalico.org/v3",
    "time":"2024-04-01T00:00:00Z","fieldsType":"FieldsV1",
    "fieldsV1":{"f:spec":{".":{},"f:blockSize":{},"f:cidr":{}}}}])";

TEST(ServerSideApply, ConflictWithAnotherManager) {
  Value live =
      withManagedFields(pool(R"({"cidr":"10.0.0.0/16","blockSize":26})"), kClientSideApplyOwnsSpec);
  auto r = applyServerSide(live, pool(R"({"cidr":"10.0.0.0/16","blockSize":28})"), "kubectl", false,
                           kV3, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Conflict);
  EXPECT_EQ(r.error().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "projectcalico.org/v3: .spec.blockSize");
  ASSERT_EQ(r.error().causes().size(), 1u);
  EXPECT_EQ(r.error().causes()[0].field, ".spec.blockSize");
  EXPECT_EQ(r.error().causes()[0].reason, "FieldManagerConflict");
  EXPECT_EQ(r.error().causes()[0].message,
            "conflict with \"kubectl-client-side-apply\" using projectcalico.org/v3");
}

TEST(ServerSideApply, ForceTakesOwnership) {
  Value live =
      withManagedFields(pool(R"({"cidr":"10.0.0.0/16","blockSize":26})"), kClientSideApplyOwnsSpec);
  auto r = applyServerSide(live, pool(R"({"cidr":"10.0.0.0/16","blockSize":28})"), "kubectl", true,
                           kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->path("spec.blockSize")->asInt(), 28);
  const Value* theirs = managedEntry(*r, "kubectl-client-side-apply", "Update");
  ASSERT_TRUE(theirs);
  // They keep spec itself and cidr (same value, now shared) and lose blockSize; their time is
  // untouched.
  EXPECT_EQ(toJson(*theirs->find("fieldsV1")), R"({"f:spec":{".":{},"f:cidr":{}}})");
  EXPECT_EQ(theirs->getString("time"), "2024-04-01T00:00:00Z");
  EXPECT_EQ(toJson(*managedEntry(*r, "kubectl", "Apply")->find("fieldsV1")),
            R"({"f:spec":{"f:blockSize":{},"f:cidr":{}}})");
}

TEST(ServerSideApply, ForceDropsEntriesLeftEmpty) {
  Value live = withManagedFields(pool(R"({"blockSize":26})"), R"([{
      "manager":"editor","operation":"Update","apiVersion":"projectcalico.org/v3",
      "time":"2024-04-01T00:00:00Z","fieldsType":"FieldsV1",
      "fieldsV1":{"f:spec":{"f:blockSize":{}}}}])");
  auto r = applyServerSide(live, pool(R"({"blockSize":28})"), "kubectl", true, kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(managedEntry(*r, "editor", "Update"), nullptr);
  EXPECT_EQ(r->path("metadata.managedFields")->size(), 1u);
}

TEST(ServerSideApply, ConflictsWithSeveralManagersAreGrouped) {
  Value live =
      withManagedFields(pool(R"({"cidr":"10.0.0.0/16","blockSize":26,"ipipMode":"Never"})"),
                        R"([
      {"manager":"b-operator","operation":"Apply","apiVersion":"projectcalico.org/v3",
       "time":"2024-04-01T00:00:00Z","fieldsType":"FieldsV1",
       "fieldsV1":{"f:spec":{"f:ipipMode":{},"f:blockSize":{}}}},
      {"manager":"a-editor","operation":"Update","apiVersion":"projectcalico.org/v3",
       "time":"2024-04-01T00:00:00Z","fieldsType":"FieldsV1",
           "fieldsV1":{"f:spec":{"f:cidr":{}}}}])");
  auto r =
      applyServerSide(live, pool(R"({"cidr":"10.9.0.0/16","blockSize":28,"ipipMode":"Always"})"),
                      "kubectl", false, kV3, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Conflict);
  EXPECT_EQ(
      r.error().message(),
      "Apply failed with 3 conflicts: conflicts with \"a-editor\" using projectcalico.org/v3:\n"
      "- .spec.cidr\n"
      "conflicts with \"b-operator\":\n"
      "- .spec.blockSize\n"
      "- .spec.ipipMode");
  EXPECT_EQ(r.error().causes().size(), 3u);
}

TEST(ServerSideApply, ObjectWithoutManagedFieldsIsOwnedByBeforeFirstApply) {
  Value live = pool(R"({"cidr":"10.0.0.0/16","blockSize":26})");
  auto same = applyServerSide(live, pool(R"({"cidr":"10.0.0.0/16"})"), "kubectl", false, kV3, kNow);
  ASSERT_TRUE(same) << same.error().str();
  const Value* before = managedEntry(*same, "before-first-apply", "Update");
  ASSERT_TRUE(before);
  EXPECT_EQ(toJson(*before->find("fieldsV1")), R"({"f:spec":{"f:blockSize":{},"f:cidr":{}}})");

  auto changed = applyServerSide(live, pool(R"({"blockSize":24})"), "kubectl", false, kV3, kNow);
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().message(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using "
            "projectcalico.org/v3: .spec.blockSize");
}

TEST(ServerSideApply, ServerManagedMetadataIsNeverOwnedOrRemoved) {
  Value live = withManagedFields(
      pool(R"({"cidr":"10.0.0.0/16"})",
           R"("uid":"u-1","resourceVersion":"7","creationTimestamp":"2024-01-01T00:00:00Z",
              "generation":3)"),
      R"([{"manager":"kubectl","operation":"Apply","apiVersion":"projectcalico.org/v3",
           "time":"2024-04-01T00:00:00Z","fieldsType":"FieldsV1",
           "fieldsV1":{"f:spec":{"f:cidr":{}}}}])");
  Value applied = pool(R"({"cidr":"10.0.0.0/16"})",
                       R"("uid":"other","resourceVersion":"1","generation":9,"namespace":"ns")");
  auto r = applyServerSide(live, applied, "kubectl", false, kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->getString("metadata.uid"), "u-1");
  EXPECT_EQ(r->getString("metadata.resourceVersion"), "7");
  EXPECT_EQ(r->path("metadata.generation")->asInt(), 3);
  EXPECT_EQ(r->getString("metadata.creationTimestamp"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(r->getString("metadata.name"), "p");
  EXPECT_EQ(r->getString("metadata.namespace"), "ns"); // taken because live had none
  EXPECT_EQ(toJson(*managedEntry(*r, "kubectl", "Apply")->find("fieldsV1")),
            R"({"f:spec":{"f:cidr":{}}})");

  // An apply without the metadata members removes none of them.
  auto bare = applyServerSide(*r, json(R"({"spec":{"cidr":"10.0.0.0/16"}})"), "kubectl", false, kV3,
                              kLater);
  ASSERT_TRUE(bare) << bare.error().str();
  EXPECT_EQ(bare->getString("metadata.uid"), "u-1");
  EXPECT_EQ(bare->getString("apiVersion"), kV3);
}

TEST(ServerSideApply, ListsAreAtomic) {
  Value applied = json(R"j({"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy",
      "metadata":{"name":"gnp"},
      "spec":{"order":10,"ingress":[{"action":"Allow","source":{"nets":["10.0.0.0/8"]}}],
              "types":["Ingress"],"selector":"all()","empty":{}}})j");
  auto r = applyServerSide(Value(), applied, "kubectl", false, kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(
      toJson(*managedEntry(*r, "kubectl", "Apply")->find("fieldsV1")),
      R"({"f:spec":{"f:empty":{},"f:ingress":{},"f:order":{},"f:selector":{},"f:types":{}}})");

  // Someone else owning the list item (Kubernetes' k: syntax) owns the whole list here.
  Value live = withManagedFields(*r, R"([{"manager":"other","operation":"Update","apiVersion":"v1",
      "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:types":{"v:\"Ingress\"":{}}}}}])");
  Value changed = applied;
  changed["spec"].set("types", json(R"(["Ingress","Egress"])"));
  auto conflict = applyServerSide(live, changed, "kubectl", false, kV3, kNow);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().message(),
            "Apply failed with 1 conflict: conflict with \"other\" using v1: .spec.types");
}

TEST(ServerSideApply, ReplacingAMapOwnedDeeperIsAConflict) {
  Value live = withManagedFields(pool(R"({"cidr":"10.0.0.0/16","nested":{"a":1,"b":2}})"), R"([
      {"manager":"other","operation":"Apply","apiVersion":"projectcalico.org/v3",
       "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:nested":{"f:a":{}}}}}])");
  auto r = applyServerSide(live, pool(R"({"nested":"flat"})"), "kubectl", false, kV3, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "Apply failed with 1 conflict: conflict with \"other\": .spec.nested.a");
  // Adding a sibling inside the map is fine.
  auto ok = applyServerSide(live, pool(R"({"nested":{"c":3}})"), "kubectl", false, kV3, kNow);
  ASSERT_TRUE(ok) << ok.error().str();
  EXPECT_EQ(*ok->path("spec.nested"), json(R"({"a":1,"b":2,"c":3})"));
}

TEST(ServerSideApply, DecodesDotMembersAndEncodesThemBack) {
  // "." marks the map itself as a member; both it and its children survive a round trip.
  Value live = withManagedFields(pool(R"({"cidr":"10.0.0.0/16"})", R"("labels":{"a":"1"})"), R"([
      {"manager":"other","operation":"Update","apiVersion":"projectcalico.org/v3",
       "time":"t0","fieldsType":"FieldsV1",
       "fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:a":{}}}}}])");
  auto r = applyServerSide(live, pool(R"({"cidr":"10.0.0.0/16"})"), "kubectl", false, kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  const Value* other = managedEntry(*r, "other", "Update");
  ASSERT_TRUE(other);
  EXPECT_EQ(toJson(*other->find("fieldsV1")), R"({"f:metadata":{"f:labels":{".":{},"f:a":{}}}})");
  EXPECT_EQ(other->getString("time"), "t0");
}

TEST(ServerSideApply, RejectsBadInput) {
  auto notObject = applyServerSide(Value(), json("[1]"), "kubectl", false, kV3, kNow);
  ASSERT_FALSE(notObject);
  EXPECT_EQ(notObject.code(), Code::BadRequest);
  auto noManager = applyServerSide(Value(), pool("{}"), "", false, kV3, kNow);
  ASSERT_FALSE(noManager);
  EXPECT_EQ(noManager.code(), Code::BadRequest);
  auto badLive = applyServerSide(json("3"), pool("{}"), "kubectl", false, kV3, kNow);
  ASSERT_FALSE(badLive);
  EXPECT_EQ(badLive.code(), Code::BadRequest);
}

TEST(ServerSideApply, NullsInTheConfigurationAreIgnored) {
  auto r = applyServerSide(pool(R"({"cidr":"10.0.0.0/16","natOutgoing":true})"),
                           pool(R"({"cidr":"10.0.0.0/16","natOutgoing":null})"), "kubectl", true,
                           kV3, kNow);
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_TRUE(r->path("spec.natOutgoing")->asBool());
  EXPECT_EQ(toJson(*managedEntry(*r, "kubectl", "Apply")->find("fieldsV1")),
            R"({"f:spec":{"f:cidr":{}}})");
}

// ------------------------------------------------------------------------------------------------
// Update ownership

TEST(UpdateOwnership, CreateOwnsEveryField) {
  Value obj = pool(R"({"cidr":"10.0.0.0/16","blockSize":26})", R"("resourceVersion":"1")");
  recordUpdateOwnership(obj, Value(), "caracalctl", kV3, kNow);
  EXPECT_EQ(toJson(*obj.path("metadata.managedFields")),
            R"([{"manager":"caracalctl","operation":"Update","apiVersion":"projectcalico.org/v3",)"
            R"("time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1",)"
            R"("fieldsV1":{"f:spec":{"f:blockSize":{},"f:cidr":{}}}}])");
}

TEST(UpdateOwnership, ChangedFieldsMoveFromOtherManagers) {
  auto applied = applyServerSide(Value(), pool(R"({"cidr":"10.0.0.0/16","blockSize":26})"),
                                 "kubectl", false, kV3, kNow);
  ASSERT_TRUE(applied);
  Value updated = *applied;
  updated["spec"].set("blockSize", 28);
  updated["spec"].set("natOutgoing", true);
  recordUpdateOwnership(updated, *applied, "kubectl-edit", kV3, kLater);
  EXPECT_EQ(toJson(*managedEntry(updated, "kubectl", "Apply")->find("fieldsV1")),
            R"({"f:spec":{"f:cidr":{}}})");
  const Value* edit = managedEntry(updated, "kubectl-edit", "Update");
  ASSERT_TRUE(edit);
  EXPECT_EQ(toJson(*edit->find("fieldsV1")), R"({"f:spec":{"f:blockSize":{},"f:natOutgoing":{}}})");
  EXPECT_EQ(edit->getString("time"), kLater);

  // A later apply by kubectl that changes blockSize back now conflicts with the editor.
  auto conflict = applyServerSide(updated, pool(R"({"cidr":"10.0.0.0/16","blockSize":26})"),
                                  "kubectl", false, kV3, kLater);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using "
            "projectcalico.org/v3: .spec.blockSize");
}

TEST(UpdateOwnership, RemovedFieldsLeaveEveryEntry) {
  Value old = withManagedFields(pool(R"({"cidr":"10.0.0.0/16","natOutgoing":true})"), R"([
      {"manager":"a","operation":"Apply","apiVersion":"projectcalico.org/v3","time":"t0",
       "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:natOutgoing":{}}}},
      {"manager":"b","operation":"Update","apiVersion":"projectcalico.org/v3","time":"t0",
       "fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:cidr":{}}}}])");
  Value updated = old;
  updated["spec"].erase("natOutgoing");
  recordUpdateOwnership(updated, old, "c", kV3, kNow);
  // Nothing was added or changed, so "c" gets no entry; "a" owned only the removed field.
  const Value* list = updated.path("metadata.managedFields");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->asArray()[0].getString("manager"), "b");
  EXPECT_EQ(list->asArray()[0].getString("time"), "t0");
}

TEST(UpdateOwnership, UnchangedObjectKeepsEntriesAsTheyWere) {
  Value old =
      withManagedFields(pool(R"({"cidr":"10.0.0.0/16","blockSize":26})"), kClientSideApplyOwnsSpec);
  Value updated = old;
  recordUpdateOwnership(updated, old, "someone", kV3, kNow);
  EXPECT_EQ(updated, old);
}

TEST(UpdateOwnership, ManagedFieldsInTheRequestReplaceTheOldOnes) {
  Value old = withManagedFields(pool(R"({"cidr":"10.0.0.0/16"})"), kClientSideApplyOwnsSpec);
  Value updated = pool(R"({"cidr":"10.0.0.0/16","blockSize":26})");
  updated["metadata"].set("managedFields", Value::array());
  recordUpdateOwnership(updated, old, "editor", kV3, kNow);
  const Value* list = updated.path("metadata.managedFields");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->asArray()[0].getString("manager"), "editor");
  EXPECT_EQ(toJson(*list->asArray()[0].find("fieldsV1")), R"({"f:spec":{"f:blockSize":{}}})");

  // Without the member, the old entries carry over.
  Value again = pool(R"({"cidr":"10.0.0.0/16","blockSize":26})");
  recordUpdateOwnership(again, old, "editor", kV3, kNow);
  EXPECT_TRUE(managedEntry(again, "kubectl-client-side-apply", "Update"));
  EXPECT_TRUE(managedEntry(again, "editor", "Update"));
}

TEST(UpdateOwnership, IgnoresNonObjects) {
  Value v = json("[1]");
  recordUpdateOwnership(v, Value(), "m", kV3, kNow);
  EXPECT_EQ(v, json("[1]"));
}

} // namespace
} // namespace caracal::apiserver
