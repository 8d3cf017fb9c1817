// RestClient over a scripted transport: the requests it builds and how it reads the answers.
#include "datastore/rest_client.h"

#include <deque>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace caracal::datastore {
namespace {

using ::testing::HasSubstr;

// Answers each request with the next scripted response and records the request.
class ScriptedTransport : public HttpTransport {
public:
  struct State {
    std::deque<Result<HttpResponse>> replies;
    std::vector<HttpRequest> requests;
    std::vector<std::string> streamLines; // for stream()
    int streamStatus = 200;
    std::string streamBody;
    std::mutex mu;
  };
  explicit ScriptedTransport(std::shared_ptr<State> s) : s_(std::move(s)) {}

  Result<HttpResponse> send(const HttpRequest& req) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->requests.push_back(req);
    if (s_->replies.empty()) {
      return Status(Code::Unavailable, "no scripted reply");
    }
    auto r = std::move(s_->replies.front());
    s_->replies.pop_front();
    return r;
  }

  Result<HttpResponse> stream(const HttpRequest& req, const LineCallback& onLine,
                              const StreamOptions& opts) override {
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      s_->requests.push_back(req);
    }
    HttpResponse head;
    head.status = s_->streamStatus;
    if (!head.isSuccess()) {
      head.body = s_->streamBody;
      return head;
    }
    for (const auto& l : s_->streamLines) {
      if (opts.cancel && opts.cancel->cancelled()) {
        break;
      }
      if (!onLine(l)) {
        break;
      }
    }
    return head;
  }

private:
  std::shared_ptr<State> s_;
};

HttpResponse reply(int status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

api::KindInfo ippools() {
  api::KindInfo k;
  k.group = "projectcalico.org";
  k.version = "v3";
  k.kind = "IPPool";
  k.plural = "ippools";
  return k;
}

api::KindInfo networkPolicies() {
  api::KindInfo k = ippools();
  k.kind = "NetworkPolicy";
  k.plural = "networkpolicies";
  k.namespaced = true;
  return k;
}

api::KindInfo namespaces() {
  api::KindInfo k;
  k.version = "v1";
  k.kind = "Namespace";
  k.plural = "namespaces";
  return k;
}

class RestClientTest : public ::testing::Test {
protected:
  RestClientTest()
      : state_(std::make_shared<ScriptedTransport::State>()),
        client_(std::make_unique<ScriptedTransport>(state_), "tok") {}

  void script(int status, const std::string& body) {
    state_->replies.push_back(reply(status, body));
  }
  const HttpRequest& last() const { return state_->requests.back(); }

  std::shared_ptr<ScriptedTransport::State> state_;
  RestClient client_;
};

TEST(PathsTest, FollowKubernetesConventions) {
  EXPECT_EQ(RestClient::collectionPath(ippools(), ""), "/apis/projectcalico.org/v3/ippools");
  EXPECT_EQ(RestClient::collectionPath(ippools(), "ignored"), "/apis/projectcalico.org/v3/ippools");
  EXPECT_EQ(RestClient::itemPath(ippools(), "", "pool-1"),
            "/apis/projectcalico.org/v3/ippools/pool-1");
  EXPECT_EQ(RestClient::collectionPath(networkPolicies(), ""),
            "/apis/projectcalico.org/v3/networkpolicies");
  EXPECT_EQ(RestClient::itemPath(networkPolicies(), "prod", "np"),
            "/apis/projectcalico.org/v3/namespaces/prod/networkpolicies/np");
  EXPECT_EQ(RestClient::itemPath(namespaces(), "", "kube-system"),
            "/api/v1/namespaces/kube-system");
}

TEST(QueryEscapeTest, EncodesReservedCharacters) {
  EXPECT_EQ(queryEscape("app == 'web', tier in (a,b)"),
            "app%20%3D%3D%20%27web%27%2C%20tier%20in%20%28a%2Cb%29");
  EXPECT_EQ(queryEscape("a-b_c.d~e"), "a-b_c.d~e");
}

TEST(StatusDecodingTest, MapsReasonsMessagesAndCauses) {
  auto st = statusFromResponse(
      reply(422, R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                 R"("message":"IPPool.projectcalico.org \"p\" is invalid: )"
                 R"(spec.ipipMode: Unsupported value: \"sometimes\"",)"
                 R"("reason":"Invalid","code":422,"details":{"name":"p","kind":"IPPool",)"
                 R"("causes":[{"reason":"FieldValueNotSupported",)"
                 R"("message":"Unsupported value: \"sometimes\"","field":"spec.ipipMode"},)"
                 R"({"message":"Required value","field":"spec.cidr"}]}})"));
  EXPECT_EQ(st.code(), Code::Invalid);
  EXPECT_EQ(st.message(),
            "IPPool.projectcalico.org \"p\" is invalid: spec.ipipMode: Unsupported value: "
            "\"sometimes\"");
  ASSERT_EQ(st.causes().size(), 2u);
  EXPECT_EQ(st.causes()[0], (FieldCause{"spec.ipipMode", "Unsupported value: \"sometimes\"",
                                        "FieldValueNotSupported"}));
  EXPECT_EQ(st.causes()[1].str(), "spec.cidr: Required value");
  EXPECT_EQ(st.causes()[1].reason, "FieldValueInvalid");

  struct Case {
    int http;
    const char* reason;
    Code code;
  };
  for (const Case& c : std::vector<Case>{{404, "NotFound", Code::NotFound},
                                         {409, "AlreadyExists", Code::AlreadyExists},
                                         {409, "Conflict", Code::Conflict},
                                         {400, "BadRequest", Code::BadRequest},
                                         {401, "Unauthorized", Code::Unauthorized},
                                         {403, "Forbidden", Code::Forbidden},
                                         {410, "Gone", Code::Gone},
                                         {410, "Expired", Code::Gone},
                                         {413, "RequestEntityTooLarge", Code::TooLarge},
                                         {504, "Timeout", Code::Timeout},
                                         {503, "ServiceUnavailable", Code::Unavailable},
                                         {500, "InternalError", Code::Internal},
                                         {409, "SomethingNew", Code::Conflict},
                                         {422, "", Code::Invalid}}) {
    auto s = statusFromResponse(
        reply(c.http, std::string(R"({"kind":"Status","message":"m","reason":")") + c.reason +
                          R"(","code":)" + std::to_string(c.http) + "}"));
    EXPECT_EQ(s.code(), c.code) << c.reason;
    EXPECT_EQ(s.message(), "m");
  }
}

TEST(StatusDecodingTest, NonStatusBodies) {
  auto s = statusFromResponse(reply(502, "bad gateway\n"));
  EXPECT_EQ(s.code(), Code::Internal);
  EXPECT_EQ(s.message(), "the server responded with HTTP 502: bad gateway");
  s = statusFromResponse(reply(404, ""));
  EXPECT_EQ(s.code(), Code::NotFound);
  EXPECT_EQ(s.message(), "the server responded with HTTP 404");
  EXPECT_TRUE(statusFromResponse(reply(200, "{}")).isOk());
}

TEST_F(RestClientTest, GetSendsAuthAndDecodes) {
  script(200, R"({"kind":"IPPool","metadata":{"name":"p"}})");
  auto r = client_.get(ippools(), "", "p");
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->getString("metadata.name"), "p");
  EXPECT_EQ(last().method, "GET");
  EXPECT_EQ(last().target, "/apis/projectcalico.org/v3/ippools/p");
  EXPECT_EQ(*last().header("Authorization"), "Bearer tok");
  EXPECT_EQ(*last().header("Accept"), "application/json");
  ASSERT_NE(last().header("User-Agent"), nullptr);

  script(
      404,
      R"({"kind":"Status","status":"Failure",)"
      R"("message":"ippools.projectcalico.org \"q\" not found","reason":"NotFound","code":404})");
  auto missing = client_.get(ippools(), "", "q");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.code(), Code::NotFound);
  EXPECT_EQ(missing.error().message(), "ippools.projectcalico.org \"q\" not found");

  script(200, "{not json");
  auto garbled = client_.get(ippools(), "", "p");
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.code(), Code::Internal);
}

TEST_F(RestClientTest, TransportErrorsPassThrough) {
  state_->replies.push_back(Status(Code::Unavailable, "connecting to x: refused"));
  auto r = client_.get(ippools(), "", "p");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Unavailable);
  EXPECT_EQ(r.error().message(), "connecting to x: refused");
}

TEST_F(RestClientTest, ListFollowsContinueTokens) {
  script(200, R"({"kind":"IPPoolList","apiVersion":"projectcalico.org/v3",)"
              R"("metadata":{"resourceVersion":"10","continue":"abc/1"},)"
              R"("items":[{"metadata":{"name":"a"}}]})");
  script(200, R"({"kind":"IPPoolList","apiVersion":"projectcalico.org/v3",)"
              R"("metadata":{"resourceVersion":"10"},"items":[{"metadata":{"name":"b"}},)"
              R"({"metadata":{"name":"c"}}]})");
  ListOptions opts;
  opts.labelSelector = "env=prod";
  opts.fieldSelector = "metadata.name!=x";
  opts.limit = 1;
  opts.resourceVersion = "5";
  auto r = client_.list(ippools(), "", opts);
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[2].getString("metadata.name"), "c");
  EXPECT_EQ(r->kind, "IPPoolList");
  EXPECT_EQ(r->resourceVersion, "10");
  ASSERT_EQ(state_->requests.size(), 2u);
  EXPECT_EQ(state_->requests[0].target,
            "/apis/projectcalico.org/v3/ippools?labelSelector=env%3Dprod&fieldSelector=metadata."
            "name%21%3Dx&limit=1&resourceVersion=5");
  EXPECT_EQ(state_->requests[1].target,
            "/apis/projectcalico.org/v3/ippools?labelSelector=env%3Dprod&fieldSelector=metadata."
            "name%21%3Dx&limit=1&continue=abc%2F1");
}

TEST_F(RestClientTest, ListAcrossNamespacesAndGone) {
  script(410, R"({"kind":"Status","message":"The provided continue parameter is too old",)"
              R"("reason":"Expired","code":410})");
  auto r = client_.list(networkPolicies(), "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Gone);
  EXPECT_EQ(last().target, "/apis/projectcalico.org/v3/networkpolicies?limit=500");
}

TEST_F(RestClientTest, Writes) {
  Value obj = *parseJson(
      R"({"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"np",)"
      R"("namespace":"prod","resourceVersion":"7"}})");

  script(201, R"({"metadata":{"name":"np","resourceVersion":"8"}})");
  WriteOptions wo;
  wo.fieldManager = "caracalctl";
  wo.fieldValidation = "Strict";
  wo.dryRun = true;
  auto created = client_.create(networkPolicies(), obj, wo);
  ASSERT_TRUE(created) << created.error().str();
  EXPECT_EQ(last().method, "POST");
  EXPECT_EQ(last().target, "/apis/projectcalico.org/v3/namespaces/prod/networkpolicies"
                           "?fieldManager=caracalctl&fieldValidation=Strict&dryRun=All");
  EXPECT_EQ(*last().header("Content-Type"), "application/json");
  EXPECT_EQ(*parseJson(last().body), obj);

  script(409, R"({"kind":"Status","message":"Operation cannot be fulfilled","reason":"Conflict",)"
              R"("code":409})");
  auto updated = client_.update(networkPolicies(), obj);
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.code(), Code::Conflict);
  EXPECT_EQ(last().method, "PUT");
  EXPECT_EQ(last().target, "/apis/projectcalico.org/v3/namespaces/prod/networkpolicies/np");

  script(200, "{}");
  ASSERT_TRUE(client_.patch(ippools(), "", "p", PatchType::Merge, R"({"spec":{}})"));
  EXPECT_EQ(last().method, "PATCH");
  EXPECT_EQ(*last().header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(last().body, R"({"spec":{}})");

  script(200, "{}");
  WriteOptions apply;
  apply.fieldManager = "caracal-controller";
  apply.force = true;
  ASSERT_TRUE(client_.patch(ippools(), "", "p", PatchType::Apply, "{}", apply));
  EXPECT_EQ(*last().header("Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(last().target, "/apis/projectcalico.org/v3/ippools/p?fieldManager=caracal-controller"
                           "&force=true");
  size_t before = state_->requests.size();
  EXPECT_EQ(client_.patch(ippools(), "", "p", PatchType::Apply, "{}").code(), Code::Invalid);
  EXPECT_EQ(state_->requests.size(), before);

  script(200, R"({"kind":"Status","status":"Success"})");
  auto removed = client_.remove(ippools(), "", "p");
  ASSERT_TRUE(removed);
  EXPECT_EQ(last().method, "DELETE");
  EXPECT_EQ(removed->getString("status"), "Success");
}

TEST_F(RestClientTest, PatchTypes) {
  EXPECT_EQ(*parsePatchType("Strategic"), PatchType::Strategic);
  EXPECT_EQ(*parsePatchType("merge"), PatchType::Merge);
  EXPECT_EQ(*parsePatchType("json"), PatchType::Json);
  EXPECT_FALSE(parsePatchType("xml"));
  EXPECT_STREQ(patchContentType(PatchType::Strategic), "application/strategic-merge-patch+json");
  EXPECT_STREQ(patchContentType(PatchType::Json), "application/json-patch+json");
}

TEST_F(RestClientTest, VersionAndRawRequests) {
  script(200, R"({"major":"1","minor":"32","gitVersion":"v1.32.0"})");
  auto v = client_.version();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->getString("gitVersion"), "v1.32.0");
  EXPECT_EQ(last().target, "/version");

  script(503, "busy");
  HttpRequest req;
  req.target = "/healthz";
  req.setHeader("Accept", "text/plain");
  auto raw = client_.request(req);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 503);
  EXPECT_EQ(*last().header("Accept"), "text/plain");
  EXPECT_EQ(*last().header("Authorization"), "Bearer tok");
}

TEST_F(RestClientTest, WatchDeliversEventsInOrder) {
  state_->streamLines = {
      R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})",
      R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"12"}}})",
      R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"13"}}})",
      R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"14"}}})",
  };
  WatchOptions opts;
  opts.resourceVersion = "10";
  opts.timeoutSeconds = 30;
  opts.labelSelector = "a=b";
  std::vector<std::string> seen;
  std::mutex mu;
  Status closed(Code::Internal, "not closed");
  auto h = client_.watch(
      ippools(), "", opts,
      [&](const WatchEvent& ev) {
        std::lock_guard<std::mutex> lock(mu);
        seen.push_back(std::string(watchEventTypeName(ev.type)) + " " +
                       ev.object.getString("metadata.resourceVersion"));
      },
      [&](const Status& st) {
        std::lock_guard<std::mutex> lock(mu);
        closed = st;
      });
  ASSERT_TRUE(h) << h.error().str();
  Status st = (*h)->wait();
  EXPECT_TRUE(st.isOk()) << st.str();
  EXPECT_TRUE((*h)->done());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"ADDED 11", "MODIFIED 12", "BOOKMARK 13", "DELETED 14"}));
  EXPECT_TRUE(closed.isOk());
  EXPECT_EQ(state_->requests.back().target,
            "/apis/projectcalico.org/v3/ippools?watch=true&labelSelector=a%3Db&resourceVersion=10"
            "&allowWatchBookmarks=true&timeoutSeconds=30");
  EXPECT_EQ(*state_->requests.back().header("Authorization"), "Bearer tok");
}

TEST_F(RestClientTest, WatchErrorEventEndsWithItsStatus) {
  state_->streamLines = {
      R"x({"type":"ERROR","object":{"kind":"Status","status":"Failure",)x"
      R"x("message":"too old resource version: 5 (90)","reason":"Expired","code":410}})x",
  };
  int errors = 0;
  Status st = client_.watchSync(ippools(), "", {}, [&](const WatchEvent& ev) {
    errors += ev.type == WatchEvent::Type::Error;
    return true;
  });
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(st.code(), Code::Gone);
  EXPECT_EQ(st.message(), "too old resource version: 5 (90)");
}

TEST_F(RestClientTest, WatchHttpErrorAndBadEvents) {
  state_->streamStatus = 403;
  state_->streamBody = R"({"kind":"Status","message":"forbidden","reason":"Forbidden","code":403})";
  Status st = client_.watchSync(ippools(), "", {}, [](const WatchEvent&) { return true; });
  EXPECT_EQ(st.code(), Code::Forbidden);

  state_->streamStatus = 200;
  state_->streamLines = {"not json"};
  st = client_.watchSync(ippools(), "", {}, [](const WatchEvent&) { return true; });
  EXPECT_FALSE(st.isOk());

  state_->streamLines = {R"({"type":"WHATEVER","object":{}})"};
  st = client_.watchSync(ippools(), "", {}, [](const WatchEvent&) { return true; });
  EXPECT_EQ(st.code(), Code::Internal);
}

TEST_F(RestClientTest, WatchStopIsIdempotent) {
  state_->streamLines =
      std::vector<std::string>(1000, R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})");
  std::atomic<int> n{0};
  auto h = client_.watch(ippools(), "", {}, [&](const WatchEvent&) { ++n; });
  ASSERT_TRUE(h);
  (*h)->stop();
  (*h)->stop();
  EXPECT_TRUE((*h)->done());
  int after = n.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(n.load(), after);
}

} // namespace
} // namespace caracal::datastore
