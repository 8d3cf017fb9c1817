#include "apiserver/handler.h"
#include "apiserver/protobuf.h"
#include "datastore/store_engine.h"

#include <gtest/gtest.h>

namespace caracal::apiserver {
namespace {

// ---- Fixtures ----------------------------------------------------------------------------------

std::string fromHex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v = -1;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

// Bodies sent by kubectl v1.32.4, captured with -v=9.
// `kubectl create namespace x`
const std::string kNamespaceX = fromHex(
    "6b 38 73 00 0a 0f 0a 02 76 31 12 09 4e 61 6d 65 73 70 61 63 65 12 19 0a 11 0a 01 78 12 00"
    "1a 00 22 00 2a 00 32 00 38 00 42 00 12 00 1a 02 0a 00 1a 00 22 00");
// `kubectl create serviceaccount sa1 -n default`
const std::string kServiceAccountSa1 = fromHex(
    "6b 38 73 00 0a 14 0a 02 76 31 12 0e 53 65 72 76 69 63 65 41 63 63 6f 75 6e 74 12 1c 0a 1a"
    "0a 03 73 61 31 12 00 1a 07 64 65 66 61 75 6c 74 22 00 2a 00 32 00 38 00 42 00 1a 00 22 00");
// `kubectl drain --disable-eviction --grace-period=7`: the DeleteOptions of each pod deletion.
const std::string kDeleteGrace7 = fromHex("6b 38 73 00 0a 13 0a 02 76 31 12 0d 44 65 6c 65 74 65 4f"
                                          "70 74 69 6f 6e 73 12 02 08 07 1a 00 22 00");
// `kubectl create token default -n default`: a kind without a decoder here.
const std::string kTokenRequest = fromHex(
    "6b 38 73 00 0a 28 0a 18 61 75 74 68 65 6e 74 69 63 61 74 69 6f 6e 2e 6b 38 73 2e 69 6f 2f"
    "76 31 12 0c 54 6f 6b 65 6e 52 65 71 75 65 73 74 12 1a 0a 10 0a 00 12 00 1a 00 22 00 2a 00"
    "32 00 38 00 42 00 12 00 1a 04 0a 00 12 00 1a 00 22 00");
// `kubectl create namespace w --save-config`: an annotations map entry.
const std::string kNamespaceSaveConfig = fromHex(
    "6b 38 73 00 0a 0f 0a 02 76 31 12 09 4e 61 6d 65 73 70 61 63 65 12 bf 01 0a b6 01 0a 01 77"
    "12 00 1a 00 22 00 2a 00 32 00 38 00 42 00 62 a2 01 0a 30 6b 75 62 65 63 74 6c 2e 6b 75 62"
    "65 72 6e 65 74 65 73 2e 69 6f 2f 6c 61 73 74 2d 61 70 70 6c 69 65 64 2d 63 6f 6e 66 69 67"
    "75 72 61 74 69 6f 6e 12 6e 7b 22 6b 69 6e 64 22 3a 22 4e 61 6d 65 73 70 61 63 65 22 2c 22"
    "61 70 69 56 65 72 73 69 6f 6e 22 3a 22 76 31 22 2c 22 6d 65 74 61 64 61 74 61 22 3a 7b 22"
    "6e 61 6d 65 22 3a 22 77 22 2c 22 63 72 65 61 74 69 6f 6e 54 69 6d 65 73 74 61 6d 70 22 3a"
    "6e 75 6c 6c 7d 2c 22 73 70 65 63 22 3a 7b 7d 2c 22 73 74 61 74 75 73 22 3a 7b 7d 7d 0a 12"
    "00 1a 02 0a 00 1a 00 22 00");

// A minimal encoder for building messages the captures do not cover.
std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string key(uint32_t number, WireType t) {
  return varint((uint64_t(number) << 3) | static_cast<uint64_t>(t));
}
std::string vfield(uint32_t number, uint64_t v) {
  return key(number, WireType::Varint) + varint(v);
}
std::string bfield(uint32_t number, std::string_view payload) {
  return key(number, WireType::Bytes) + varint(payload.size()) + std::string(payload);
}
std::string envelope(std::string_view apiVersion, std::string_view kind, std::string_view raw,
                     std::string_view contentEncoding = "") {
  std::string body(kProtobufMagic);
  body += bfield(1, bfield(1, apiVersion) + bfield(2, kind));
  body += bfield(2, raw);
  if (!contentEncoding.empty()) {
    body += bfield(3, contentEncoding);
  }
  return body;
}
std::string mapEntry(uint32_t number, std::string_view k, std::string_view v) {
  return bfield(number, bfield(1, k) + bfield(2, v));
}

Value decoded(const std::string& body) {
  auto v = decodeProtobuf(body);
  EXPECT_TRUE(v) << v.error().message();
  return v ? *v : Value();
}

Value json(std::string_view text) {
  auto v = parseJson(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : Value();
}

// ---- Wire reader -------------------------------------------------------------------------------

TEST(WireReaderTest, ReadsEveryWireTypeInOrder) {
  std::string data = vfield(1, 300) + key(2, WireType::Fixed64) +
                     std::string("\x01\0\0\0\0\0\0\x80", 8) + bfield(3, "abc") +
                     key(4, WireType::Fixed32) + std::string("\x04\x03\x02\x01", 4) +
                     vfield(536870911, 1);
  WireReader r(data);
  auto f = r.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->number, 1u);
  EXPECT_EQ(f->type, WireType::Varint);
  EXPECT_EQ(f->scalar, 300u);
  f = r.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, WireType::Fixed64);
  EXPECT_EQ(f->scalar, 0x8000000000000001ull);
  f = r.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, WireType::Bytes);
  EXPECT_EQ(f->bytes, "abc");
  f = r.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, WireType::Fixed32);
  EXPECT_EQ(f->scalar, 0x01020304u);
  f = r.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->number, 536870911u);
  EXPECT_TRUE(r.atEnd());
}

TEST(WireReaderTest, NegativeInt64IsATenByteVarint) {
  std::string data = vfield(1, static_cast<uint64_t>(int64_t{-2}));
  EXPECT_EQ(data.size(), 11u);
  WireReader r(data);
  auto f = r.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(static_cast<int64_t>(f->scalar), -2);
}

TEST(WireReaderTest, MalformedDataIsRefusedWithTheOffset) {
  struct Case {
    std::string data;
    std::string want;
  };
  const Case cases[] = {
      {std::string("\x08"), "truncated varint at offset 1"},
      {std::string("\x08\x80"), "truncated varint"},
      {std::string("\x08") + std::string(10, '\xff') + "\x01", "longer than 10 bytes"},
      {bfield(1, "abcdef").substr(0, 5), "runs past the end"},
      {std::string("\x0a\xff\xff\xff\xff\x0f"), "runs past the end"},
      {std::string("\x09\x01\x02"), "truncated fixed-width"},
      {std::string("\x00\x01", 2), "field number 0"},
      {key(1, WireType::StartGroup), "unsupported wire type 3"},
      {key(1, WireType::EndGroup), "unsupported wire type 4"},
      {varint((1 << 3) | 7), "unsupported wire type 7"},
      {varint(uint64_t(536870912) << 3), "field number 536870912"},
  };
  for (const auto& c : cases) {
    WireReader r(c.data);
    Status st = r.next().status();
    EXPECT_EQ(st.code(), Code::BadRequest) << c.want;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << st.message();
  }
}

TEST(ProtobufTest, MediaTypeIgnoresParametersAndCase) {
  EXPECT_TRUE(isProtobufMediaType("application/vnd.kubernetes.protobuf"));
  EXPECT_TRUE(isProtobufMediaType("Application/VND.kubernetes.protobuf ; charset=binary"));
  EXPECT_FALSE(isProtobufMediaType("application/json"));
  EXPECT_FALSE(isProtobufMediaType("application/vnd.kubernetes.protobuf-x"));
  EXPECT_FALSE(isProtobufMediaType(""));
}

// ---- Captured kubectl bodies -------------------------------------------------------------------

TEST(ProtobufTest, CreateNamespaceDecodesAsTheJsonKubectlWouldSend) {
  auto env = parseProtobufEnvelope(kNamespaceX);
  ASSERT_TRUE(env) << env.error().message();
  EXPECT_EQ(env->apiVersion, "v1");
  EXPECT_EQ(env->kind, "Namespace");
  EXPECT_EQ(env->contentEncoding, "");
  // The zero strings, generation and creation time gogo writes are omitted, as in JSON; the
  // always-written spec and status stay as empty objects.
  EXPECT_EQ(decoded(kNamespaceX),
            json(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"},
                     "spec":{},"status":{}})"));
}

TEST(ProtobufTest, SaveConfigAnnotationIsAMapEntry) {
  Value ns = decoded(kNamespaceSaveConfig);
  EXPECT_EQ(ns.getString("metadata.name"), "w");
  const Value* ann = ns.path("metadata.annotations");
  ASSERT_TRUE(ann && ann->isObject());
  EXPECT_EQ(ann->size(), 1u);
  const Value* applied = ann->find("kubectl.kubernetes.io/last-applied-configuration");
  ASSERT_TRUE(applied);
  EXPECT_EQ(json(applied->asString()),
            json(R"({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"w",
                     "creationTimestamp":null},"spec":{},"status":{}})"));
}

TEST(ProtobufTest, CreateServiceAccountDecodes) {
  EXPECT_EQ(decoded(kServiceAccountSa1), json(R"({"apiVersion":"v1","kind":"ServiceAccount",
                     "metadata":{"name":"sa1","namespace":"default"}})"));
}

TEST(ProtobufTest, DrainDeleteOptionsDecode) {
  EXPECT_EQ(decoded(kDeleteGrace7),
            json(R"({"apiVersion":"v1","kind":"DeleteOptions","gracePeriodSeconds":7})"));
}

TEST(ProtobufTest, UnknownKindsAreToldApart) {
  auto env = parseProtobufEnvelope(kTokenRequest);
  ASSERT_TRUE(env);
  EXPECT_EQ(env->apiVersion, "authentication.k8s.io/v1");
  EXPECT_EQ(env->kind, "TokenRequest");
  EXPECT_FALSE(canDecodeProtobuf(env->apiVersion, env->kind));
  EXPECT_FALSE(canDecodeProtobuf("v1", "Pod"));
  EXPECT_TRUE(canDecodeProtobuf("v1", "Namespace"));
  EXPECT_TRUE(canDecodeProtobuf("v1", "ServiceAccount"));
  EXPECT_TRUE(canDecodeProtobuf("meta.k8s.io/v1", "DeleteOptions"));
  auto v = decodeProtobuf(kTokenRequest);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.code(), Code::BadRequest);
  EXPECT_NE(v.error().message().find("TokenRequest"), std::string::npos);
}

// ---- Field coverage ----------------------------------------------------------------------------

TEST(ProtobufTest, ObjectMetaFieldsFollowTheJsonRules) {
  std::string time = vfield(1, 1700000000) + vfield(2, 5);
  std::string owner = bfield(5, "apps/v1") + bfield(1, "ReplicaSet") + bfield(3, "rs") +
                      bfield(4, "u-1") + vfield(6, 0) + vfield(7, 1);
  std::string managed = bfield(1, "kubectl") + bfield(2, "Update") + bfield(3, "v1") +
                        bfield(4, time) + bfield(6, "FieldsV1") +
                        bfield(7, bfield(1, R"({"f:metadata":{"f:labels":{}}})")) + bfield(8, "");
  std::string meta = bfield(1, "ns-a") + bfield(5, "uid-1") + bfield(6, "42") + vfield(7, 3) +
                     bfield(8, time) + bfield(9, "") + vfield(10, 0) + mapEntry(11, "a", "1") +
                     mapEntry(11, "b", "") + mapEntry(12, "note", "x") + bfield(13, owner) +
                     bfield(14, "f1") + bfield(14, "f2") + bfield(17, managed) +
                     // Fields this server does not model, of every wire type.
                     vfield(99, 7) + bfield(100, "zzz") + key(101, WireType::Fixed32) +
                     std::string("\0\0\0\0", 4) + key(102, WireType::Fixed64) +
                     std::string(8, '\0');
  std::string ns =
      bfield(1, meta) + bfield(2, bfield(1, "kubernetes")) +
      bfield(3, bfield(1, "Active") +
                    bfield(2, bfield(1, "NamespaceDeletionDiscoveryFailure") + bfield(2, "False") +
                                  bfield(4, time) + bfield(5, "") + bfield(6, "ok")));
  Value v = decoded(envelope("v1", "Namespace", ns));
  EXPECT_EQ(v, json(R"({"apiVersion":"v1","kind":"Namespace",
    "metadata":{"name":"ns-a","uid":"uid-1","resourceVersion":"42","generation":3,
      "creationTimestamp":"2023-11-14T22:13:20Z","deletionGracePeriodSeconds":0,
      "labels":{"a":"1","b":""},"annotations":{"note":"x"},
      "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u-1",
                          "controller":false,"blockOwnerDeletion":true}],
      "finalizers":["f1","f2"],
      "managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1",
                        "time":"2023-11-14T22:13:20Z","fieldsType":"FieldsV1",
                        "fieldsV1":{"f:metadata":{"f:labels":{}}}}]},
    "spec":{"finalizers":["kubernetes"]},
    "status":{"phase":"Active","conditions":[{"type":"NamespaceDeletionDiscoveryFailure",
      "status":"False","lastTransitionTime":"2023-11-14T22:13:20Z","message":"ok"}]}})"));
}

TEST(ProtobufTest, ServiceAccountFields) {
  std::string meta = bfield(1, "builder") + bfield(3, "ci");
  std::string sa = bfield(1, meta) + bfield(2, bfield(1, "Secret") + bfield(3, "tok")) +
                   bfield(3, bfield(1, "regcred")) + bfield(3, bfield(1, "other")) + vfield(4, 0);
  EXPECT_EQ(decoded(envelope("v1", "ServiceAccount", sa)),
            json(R"({"apiVersion":"v1","kind":"ServiceAccount",
                     "metadata":{"name":"builder","namespace":"ci"},
                     "secrets":[{"kind":"Secret","name":"tok"}],
                     "imagePullSecrets":[{"name":"regcred"},{"name":"other"}],
                     "automountServiceAccountToken":false})"));
}

TEST(ProtobufTest, DeleteOptionsFields) {
  std::string opts = vfield(1, 0) + bfield(2, bfield(1, "u-1") + bfield(2, "7")) + vfield(3, 1) +
                     bfield(4, "Foreground") + bfield(5, "All");
  EXPECT_EQ(decoded(envelope("meta.k8s.io/v1", "DeleteOptions", opts)),
            json(R"({"apiVersion":"meta.k8s.io/v1","kind":"DeleteOptions",
                     "gracePeriodSeconds":0,
                     "preconditions":{"uid":"u-1","resourceVersion":"7"},
                     "orphanDependents":true,"propagationPolicy":"Foreground",
                     "dryRun":["All"]})"));
}

TEST(ProtobufTest, RepeatedEmbeddedMessagesMergeAndScalarsTakeTheLastValue) {
  std::string ns = bfield(1, bfield(1, "first") + mapEntry(11, "a", "1")) +
                   bfield(1, bfield(1, "second") + mapEntry(11, "b", "2")) +
                   bfield(1, bfield(6, "9") + bfield(6, ""));
  EXPECT_EQ(decoded(envelope("v1", "Namespace", ns)), json(R"({"apiVersion":"v1","kind":"Namespace",
                     "metadata":{"name":"second","labels":{"a":"1","b":"2"}}})"));
}

TEST(ProtobufTest, TimesAreRfc3339InUtc) {
  struct Case {
    int64_t seconds;
    std::string want;
  };
  const Case cases[] = {
      {0, "1970-01-01T00:00:00Z"},
      {-1, "1969-12-31T23:59:59Z"},
      {951782400, "2000-02-29T00:00:00Z"},
      {1700000000, "2023-11-14T22:13:20Z"},
      {-62135596800, "0001-01-01T00:00:00Z"},
      {253402300799, "9999-12-31T23:59:59Z"},
  };
  for (const auto& c : cases) {
    std::string meta = bfield(8, vfield(1, static_cast<uint64_t>(c.seconds)));
    Value v = decoded(envelope("v1", "Namespace", bfield(1, meta)));
    EXPECT_EQ(v.getString("metadata.creationTimestamp"), c.want) << c.seconds;
  }
  auto late =
      decodeProtobuf(envelope("v1", "Namespace", bfield(1, bfield(8, vfield(1, 253402300800)))));
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message().find("metadata.creationTimestamp"), std::string::npos);
}

TEST(ProtobufTest, MalformedBodiesAreBadRequests) {
  struct Case {
    std::string body;
    std::string want;
  };
  const Case cases[] = {
      {"{\"kind\":\"Namespace\"}", "prefix"},
      {std::string("k8s", 3), "prefix"},
      {std::string(kProtobufMagic) + "\x0a\x05\x0a\x02v1", "runs past the end"},
      {envelope("v1", "Namespace", bfield(1, vfield(1, 5))), "metadata.name: wire type 0"},
      {envelope("v1", "Namespace", bfield(1, bfield(11, vfield(1, 2)))), "metadata.labels"},
      {envelope("v1", "Namespace", bfield(1, bfield(1, "\xc3\x28"))), "not valid UTF-8"},
      {envelope("v1", "Namespace", bfield(1, bfield(1, "\xed\xa0\x80"))), "not valid UTF-8"},
      {envelope("v1", "Namespace", bfield(1, bfield(17, bfield(7, bfield(1, "{nope"))))),
       "metadata.managedFields.fieldsV1"},
      {envelope("v1", "Namespace", bfield(1, bfield(1, "x")), "gzip"), "content encoding"},
      {envelope("v1", "ServiceAccount", vfield(4, 1) + bfield(4, "x")),
       "automountServiceAccountToken"},
  };
  for (const auto& c : cases) {
    auto v = decodeProtobuf(c.body);
    ASSERT_FALSE(v) << c.want;
    EXPECT_EQ(v.code(), Code::BadRequest);
    EXPECT_NE(v.error().message().find(c.want), std::string::npos) << v.error().message();
  }
  // Valid multi-byte UTF-8 passes.
  Value ok = decoded(
      envelope("v1", "Namespace", bfield(1, mapEntry(12, "note", "caf\xc3\xa9 \xf0\x9f\x90\x86"))));
  EXPECT_EQ(ok.getString("metadata.annotations.note"), "caf\xc3\xa9 \xf0\x9f\x90\x86");
}

// ---- Through the handler -----------------------------------------------------------------------

class ProtobufHandlerTest : public ::testing::Test {
protected:
  ProtobufHandlerTest() : engine_(datastore::makeMemoryEngine({})), handler_(*engine_, opts()) {
    EXPECT_TRUE(handler_.bootstrap().isOk());
  }
  static HandlerOptions opts() {
    HandlerOptions o;
    o.token = "secret";
    return o;
  }
  Reply call(const std::string& method, const std::string& path, const std::string& body,
             const std::string& contentType = std::string(kProtobufMediaType),
             std::map<std::string, std::string> query = {}) {
    Request r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.query = std::move(query);
    r.headers["content-type"] = contentType;
    r.headers["accept"] = "application/vnd.kubernetes.protobuf,application/json";
    r.headers["authorization"] = "Bearer secret";
    return handler_.handle(r);
  }
  Value body(const Reply& r) {
    auto v = parseJson(r.response.body);
    EXPECT_TRUE(v) << r.response.body;
    return v ? *v : Value();
  }
  int64_t revision() {
    auto r = engine_->range("/registry/");
    return r ? r->revision : -1;
  }

  datastore::EnginePtr engine_;
  Handler handler_;
};

TEST_F(ProtobufHandlerTest, KubectlCreateNamespaceIsCreatedAndAnsweredInJson) {
  Reply c = call("POST", "/api/v1/namespaces", kNamespaceX, std::string(kProtobufMediaType),
                 {{"fieldManager", "kubectl-create"}, {"fieldValidation", "Strict"}});
  ASSERT_EQ(c.response.status, 201) << c.response.body;
  EXPECT_EQ(c.response.contentType, "application/json");
  Value ns = body(c);
  EXPECT_EQ(ns.getString("metadata.name"), "x");
  EXPECT_EQ(ns.getString("status.phase"), "Active");
  const Value* labels = ns.path("metadata.labels");
  ASSERT_TRUE(labels);
  ASSERT_TRUE(labels->find("kubernetes.io/metadata.name"));
  EXPECT_EQ(labels->find("kubernetes.io/metadata.name")->asString(), "x");
  Reply g = call("GET", "/api/v1/namespaces/x", "", "");
  EXPECT_EQ(g.response.status, 200);
  Reply dup = call("POST", "/api/v1/namespaces", kNamespaceX);
  EXPECT_EQ(dup.response.status, 409);
}

TEST_F(ProtobufHandlerTest, KubectlCreateServiceAccount) {
  Reply c = call("POST", "/api/v1/namespaces/default/serviceaccounts", kServiceAccountSa1);
  ASSERT_EQ(c.response.status, 201) << c.response.body;
  Value sa = body(c);
  EXPECT_EQ(sa.getString("kind"), "ServiceAccount");
  EXPECT_EQ(sa.getString("metadata.namespace"), "default");
  EXPECT_EQ(call("GET", "/api/v1/namespaces/default/serviceaccounts/sa1", "", "").response.status,
            200);
}

TEST_F(ProtobufHandlerTest, ReplaceTakesProtobufToo) {
  ASSERT_EQ(call("POST", "/api/v1/namespaces", kNamespaceX).response.status, 201);
  std::string meta = bfield(1, "x") + mapEntry(11, "team", "net");
  Reply u = call("PUT", "/api/v1/namespaces/x", envelope("v1", "Namespace", bfield(1, meta)));
  ASSERT_EQ(u.response.status, 200) << u.response.body;
  EXPECT_EQ(body(u).getString("metadata.labels.team"), "net");
}

TEST_F(ProtobufHandlerTest, UnsupportedKindGets415AndChangesNothing) {
  int64_t rev = revision();
  std::string pod = bfield(1, bfield(1, "p") + bfield(3, "default"));
  Reply r = call("POST", "/api/v1/namespaces/default/pods", envelope("v1", "Pod", pod));
  EXPECT_EQ(r.response.status, 415);
  Value st = body(r);
  EXPECT_EQ(st.getString("reason"), "UnsupportedMediaType");
  EXPECT_EQ(st.path("code")->asInt(), 415);
  std::string msg = st.getString("message");
  EXPECT_NE(msg.find("application/vnd.kubernetes.protobuf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("v1 Pod"), std::string::npos) << msg;
  EXPECT_NE(msg.find("application/json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("application/yaml"), std::string::npos) << msg;
  EXPECT_EQ(call("POST", "/api/v1/namespaces", kTokenRequest).response.status, 415);
  EXPECT_EQ(revision(), rev);
}

TEST_F(ProtobufHandlerTest, MalformedProtobufGets400) {
  Reply r = call("POST", "/api/v1/namespaces", std::string(kProtobufMagic) + "\x0a\x7f");
  EXPECT_EQ(r.response.status, 400);
  EXPECT_NE(body(r).getString("message").find("invalid protobuf body"), std::string::npos);
  // A Namespace body posted to the serviceaccounts URL is refused as JSON would be.
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/serviceaccounts", kNamespaceX).response.status,
            400);
}

TEST_F(ProtobufHandlerTest, DeleteWithProtobufOptions) {
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/serviceaccounts", kServiceAccountSa1)
                .response.status,
            201);
  std::string path = "/api/v1/namespaces/default/serviceaccounts/sa1";
  std::string stale = bfield(2, bfield(2, "1"));
  Reply conflict = call("DELETE", path, envelope("v1", "DeleteOptions", stale));
  EXPECT_EQ(conflict.response.status, 409) << conflict.response.body;
  Reply d = call("DELETE", path, kDeleteGrace7);
  ASSERT_EQ(d.response.status, 200) << d.response.body;
  EXPECT_EQ(body(d).getString("metadata.name"), "sa1");
  EXPECT_EQ(call("GET", path, "", "").response.status, 404);
}

TEST_F(ProtobufHandlerTest, DryRunInDeleteOptionsBodyKeepsTheObject) {
  ASSERT_EQ(call("POST", "/api/v1/namespaces", kNamespaceX).response.status, 201);
  int64_t rev = revision();
  Reply p =
      call("DELETE", "/api/v1/namespaces/x", envelope("v1", "DeleteOptions", bfield(5, "All")));
  EXPECT_EQ(p.response.status, 200) << p.response.body;
  // What `kubectl delete --dry-run=server` sends.
  Reply j = call("DELETE", "/api/v1/namespaces/x",
                 R"({"propagationPolicy":"Background","dryRun":["All"]})", "application/json");
  EXPECT_EQ(j.response.status, 200) << j.response.body;
  EXPECT_EQ(revision(), rev);
  EXPECT_EQ(call("GET", "/api/v1/namespaces/x", "", "").response.status, 200);
}

} // namespace
} // namespace caracal::apiserver
