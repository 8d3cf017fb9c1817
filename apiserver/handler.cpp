#include "apiserver/handler.h"

#include "api/registry.h"
#include "apiserver/credentials.h"
#include "apiserver/k8s_selector.h"
#include "apiserver/patch.h"
#include "apiserver/protobuf.h"
#include "apiserver/table.h"
#include "common/strings.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <optional>
#include <random>
#include <set>

namespace caracal::apiserver {

namespace {

constexpr int kMaxPatchRetries = 8;

std::string randomHex(size_t bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = static_cast<unsigned>(rng() & 0xff);
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

std::string newUid() {
  std::string h = randomHex(16);
  h[12] = '4';
  h[16] = "89ab"[h[16] % 4];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

std::string randomSuffix(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kChars[rng() % (sizeof(kChars) - 1)]);
  }
  return out;
}

std::string resourceName(const api::KindInfo& k) {
  return k.group.empty() ? k.plural : k.plural + "." + k.group;
}

std::string qualifiedKind(const api::KindInfo& k) {
  return k.group.empty() ? k.kind : k.kind + "." + k.group;
}

// Kinds whose validation reads the other objects of the kind (enabled IPPools must not overlap).
bool hasCrossObjectRules(const api::KindInfo& kind) {
  return kind.kind == "IPPool" && kind.group == "projectcalico.org";
}

// Kubernetes words validation failures as `<Kind>.<group> "<name>" is invalid: <causes>`.
Status asInvalidObject(Status e, const api::KindInfo& k, const std::string& name) {
  if (e.code() == Code::Invalid) {
    e = e.withContext(qualifiedKind(k) + " \"" + name + "\" is invalid");
  }
  return e;
}

const char* reasonFor(Code c) {
  switch (c) {
  case Code::Invalid:
    return "Invalid";
  case Code::BadRequest:
    return "BadRequest";
  case Code::NotFound:
    return "NotFound";
  case Code::AlreadyExists:
    return "AlreadyExists";
  case Code::Conflict:
    return "Conflict";
  case Code::Gone:
    return "Expired";
  case Code::Unauthorized:
    return "Unauthorized";
  case Code::Forbidden:
    return "Forbidden";
  case Code::TooLarge:
    return "RequestEntityTooLarge";
  case Code::Timeout:
    return "Timeout";
  case Code::Unavailable:
    return "ServiceUnavailable";
  default:
    return "InternalError";
  }
}

int httpCodeFor(Code c) {
  switch (c) {
  case Code::Ok:
    return 200;
  case Code::Invalid:
    return 422;
  case Code::BadRequest:
    return 400;
  case Code::NotFound:
    return 404;
  case Code::AlreadyExists:
  case Code::Conflict:
    return 409;
  case Code::Gone:
    return 410;
  case Code::Unauthorized:
    return 401;
  case Code::Forbidden:
    return 403;
  case Code::TooLarge:
    return 413;
  case Code::Timeout:
    return 504;
  case Code::Unavailable:
    return 503;
  default:
    return 500;
  }
}

Value statusObject(const Status& st, const api::KindInfo* kind = nullptr,
                   const std::string& name = "") {
  Value s = Value::object();
  s["kind"] = "Status";
  s["apiVersion"] = "v1";
  s["metadata"] = Value::object();
  s["status"] = st.isOk() ? "Success" : "Failure";
  s["message"] = st.message();
  s["reason"] = reasonFor(st.code());
  Value details = Value::object();
  if (!name.empty()) {
    details["name"] = name;
  }
  if (kind) {
    details["group"] = kind->group;
    // Kubernetes names the Kind for invalid objects and the resource otherwise (kubectl prints
    // `The NetworkPolicy "x" is invalid` and `networkpolicies "x" not found`).
    details["kind"] = st.code() == Code::Invalid ? kind->kind : kind->plural;
  }
  if (!st.causes().empty()) {
    Value causes = Value::array();
    for (const auto& c : st.causes()) {
      Value cv = Value::object();
      cv["reason"] = c.reason;
      cv["message"] = c.message;
      cv["field"] = c.field;
      causes.push(std::move(cv));
    }
    details["causes"] = std::move(causes);
  }
  if (details.size() > 0) {
    s["details"] = std::move(details);
  }
  s["code"] = httpCodeFor(st.code());
  return s;
}

Reply errorReply(const Status& st, const api::KindInfo* kind = nullptr,
                 const std::string& name = "") {
  Reply r;
  r.response.status = httpCodeFor(st.code());
  r.response.body = toJson(statusObject(st, kind, name));
  return r;
}

Reply jsonReply(int status, std::string body) {
  Reply r;
  r.response.status = status;
  r.response.body = std::move(body);
  return r;
}

Status notFound(const api::KindInfo& k, const std::string& name) {
  return Status(Code::NotFound, resourceName(k) + " \"" + name + "\" not found");
}

Status conflict(const api::KindInfo& k, const std::string& name) {
  return Status(Code::Conflict, "Operation cannot be fulfilled on " + resourceName(k) + " \"" +
                                    name +
                                    "\": the object has been modified; please apply your "
                                    "changes to the latest version and try again");
}

// Puts apiVersion, kind and metadata first and drops resourceVersion, so that the stored text
// can take its resourceVersion by insertion (withResourceVersion).
std::string encodeForStorage(const Value& obj) {
  Value ordered = Value::object();
  for (const char* k : {"apiVersion", "kind", "metadata"}) {
    if (const Value* v = obj.find(k)) {
      ordered[k] = *v;
    }
  }
  ordered["metadata"].erase("resourceVersion");
  for (const auto& m : obj.asObject()) {
    if (m.first != "apiVersion" && m.first != "kind" && m.first != "metadata") {
      ordered.mutableObject().push_back(m);
    }
  }
  return toJson(ordered);
}

bool wantsTable(const Request& req) {
  return req.header("accept").find("as=Table") != std::string::npos;
}

bool isYamlContent(const std::string& ct) { return ct.find("yaml") != std::string::npos; }

Result<Value> parseBody(const Request& req) {
  if (trim(req.body).empty()) {
    return Status(Code::BadRequest, "the request body is empty");
  }
  if (isProtobufMediaType(req.header("content-type"))) {
    return decodeProtobuf(req.body);
  }
  if (isYamlContent(req.header("content-type"))) {
    auto v = parseYaml(req.body);
    if (!v) {
      return v.error();
    }
    return std::move(v).value();
  }
  auto v = parseJson(req.body);
  if (!v) {
    // Some clients send YAML as application/json; accept it when it parses as YAML.
    auto y = parseYaml(req.body);
    if (y && y->isObject()) {
      return std::move(y).value();
    }
    return v.error();
  }
  return std::move(v).value();
}

// A body in Kubernetes protobuf whose kind has no decoder here gets 415, as Kubernetes answers a
// media type it cannot decode (JSON and YAML work for every kind). A malformed body is left to
// parseBody, which says what is wrong with it.
std::optional<Reply> unsupportedProtobufBody(const Request& req) {
  if (req.body.empty() || !isProtobufMediaType(req.header("content-type"))) {
    return std::nullopt;
  }
  auto env = parseProtobufEnvelope(req.body);
  if (!env || canDecodeProtobuf(env->apiVersion, env->kind)) {
    return std::nullopt;
  }
  Value s = statusObject(Status(
      Code::BadRequest,
      "the body of the request was in an unknown format - " + std::string(kProtobufMediaType) +
          " is accepted only for v1 Namespace, ServiceAccount and DeleteOptions, not for " +
          (env->apiVersion.empty() ? std::string("(no apiVersion)") : env->apiVersion) + " " +
          (env->kind.empty() ? std::string("(no kind)") : env->kind) +
          "; accepted media types include: application/json, application/yaml"));
  s["reason"] = "UnsupportedMediaType";
  s["code"] = 415;
  Reply r;
  r.response.status = 415;
  r.response.body = toJson(s);
  return r;
}

// DeleteOptions sent as JSON or as Kubernetes protobuf.
Result<Value> parseDeleteOptions(const Request& req) {
  if (isProtobufMediaType(req.header("content-type"))) {
    return decodeProtobuf(req.body);
  }
  return parseJson(req.body);
}

int64_t parseRv(const std::string& s) {
  if (s.empty()) {
    return 0;
  }
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (!end || *end != '\0' || v < 0) {
    return -1;
  }
  return v;
}

std::string kvToWire(const datastore::KeyValue& kv) {
  return withResourceVersion(kv.value, kv.modRevision);
}

Result<Value> kvToValue(const datastore::KeyValue& kv) {
  auto v = parseJson(kv.value);
  if (!v) {
    return Status(Code::Internal,
                  "stored object " + kv.key + " is corrupt: " + v.error().message());
  }
  (*v)["metadata"]["resourceVersion"] = std::to_string(kv.modRevision);
  return v;
}

// Base64url of the key a paginated list continues after.
std::string encodeContinue(const std::string& lastKey) { return base64Encode(lastKey); }

struct Selectors {
  std::optional<LabelSelector> labels;
  std::optional<FieldSelector> fields;
  bool active() const { return (labels && !labels->empty()) || (fields && !fields->empty()); }
  bool matches(const Value& obj) const {
    if (labels && !labels->empty()) {
      const Value* l = obj.path("metadata.labels");
      static const Value kEmpty = Value::object();
      if (!labels->matches(l ? *l : kEmpty)) {
        return false;
      }
    }
    if (fields && !fields->empty() && !fields->matches(obj)) {
      return false;
    }
    return true;
  }
};

Result<Selectors> parseSelectors(const Request& req, const api::KindInfo& kind) {
  Selectors s;
  std::string ls = req.param("labelSelector");
  if (!ls.empty()) {
    auto p = LabelSelector::parse(ls);
    if (!p) {
      return p.error().withContext("labelSelector");
    }
    s.labels = std::move(p).value();
  }
  std::string fs = req.param("fieldSelector");
  if (!fs.empty()) {
    auto p = FieldSelector::parse(fs);
    if (!p) {
      return p.error().withContext("fieldSelector");
    }
    for (const auto& f : p->fields()) {
      bool ok = f == "metadata.name" || f == "metadata.namespace";
      if (kind.kind == "Pod" && kind.group.empty()) {
        ok = ok || f == "spec.nodeName" || f == "status.phase" || f == "spec.serviceAccountName";
      }
      if (!ok) {
        return Status(Code::BadRequest, "fieldSelector: field label not supported: " + f);
      }
    }
    s.fields = std::move(p).value();
  }
  return s;
}

std::string listKind(const api::KindInfo& k) { return k.kind + "List"; }

} // namespace

// ---------------------------------------------------------------------------------------------
// Request helpers and free functions.

std::string Request::header(const std::string& lowerName) const {
  auto it = headers.find(lowerName);
  return it == headers.end() ? std::string() : it->second;
}

std::string Request::param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

std::string storagePrefix(const api::KindInfo& kind, const std::string& ns) {
  std::string p = "/registry/" + (kind.group.empty() ? std::string("core") : kind.group) + "/" +
                  kind.plural + "/";
  if (kind.namespaced && !ns.empty()) {
    p += ns + "/";
  }
  return p;
}

std::string storageKey(const api::KindInfo& kind, const std::string& ns, const std::string& name) {
  return storagePrefix(kind, kind.namespaced ? ns : "") + name;
}

std::string withResourceVersion(const std::string& stored, int64_t rev) {
  static const std::string kMeta = "\"metadata\":{";
  size_t pos = stored.find(kMeta);
  if (pos == std::string::npos) {
    return stored;
  }
  size_t at = pos + kMeta.size();
  std::string rv = "\"resourceVersion\":\"" + std::to_string(rev) + "\"";
  std::string out;
  out.reserve(stored.size() + rv.size() + 1);
  out.append(stored, 0, at);
  out += rv;
  if (at < stored.size() && stored[at] != '}') {
    out.push_back(',');
  }
  out.append(stored, at, std::string::npos);
  return out;
}

Response Handler::errorResponse(const Status& st) { return errorReply(st).response; }

// ---------------------------------------------------------------------------------------------
// Watch streams.

// One open watch: filters and encodes engine events for one client.
class WatchStream : public Stream, public std::enable_shared_from_this<WatchStream> {
public:
  WatchStream(datastore::Engine& engine, const api::KindInfo& kind, std::string prefix,
              int64_t afterRev, std::vector<std::string> initial, Selectors sel, bool table,
              bool bookmarks, std::chrono::steady_clock::time_point deadline)
      : engine_(engine), kind_(kind), prefix_(std::move(prefix)), afterRev_(afterRev),
        initial_(std::move(initial)), sel_(std::move(sel)), table_(table), bookmarks_(bookmarks),
        deadline_(deadline), lastRev_(afterRev) {}

  void start(std::shared_ptr<StreamSink> sink) override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      sink_ = sink;
    }
    for (auto& chunk : initial_) {
      if (!sink->send(std::make_shared<const std::string>(std::move(chunk)))) {
        return;
      }
    }
    initial_.clear();
    std::weak_ptr<WatchStream> weak = shared_from_this();
    datastore::WatchCallbacks cb;
    cb.onEvents = [weak](const std::vector<datastore::EventPtr>& evs) {
      if (auto self = weak.lock()) {
        self->onEvents(evs);
      }
    };
    cb.onClose = [weak](const Status& st) {
      if (auto self = weak.lock()) {
        self->finish(errorEvent(st));
      }
    };
    auto w = engine_.watch(prefix_, afterRev_, std::move(cb));
    if (!w) {
      finish(errorEvent(w.error()));
      return;
    }
    std::lock_guard<std::mutex> lk(mu_);
    watch_ = std::move(w).value();
  }

  void stop() override {
    datastore::WatchPtr w;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopped_ = true;
      w = std::move(watch_);
      sink_.reset();
    }
    if (w) {
      w->cancel();
    }
  }

  // Called by the registry thread.
  void tick(std::chrono::steady_clock::time_point now, bool bookmarkDue) {
    if (now >= deadline_) {
      finish("");
      return;
    }
    if (!bookmarks_ || !bookmarkDue) {
      return;
    }
    std::shared_ptr<StreamSink> sink;
    int64_t rev;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopped_ || !sink_) {
        return;
      }
      sink = sink_;
      rev = lastRev_;
    }
    std::string ev = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + kind_.kind +
                     "\",\"apiVersion\":\"" + kind_.apiVersion() +
                     "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(rev) +
                     "\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n";
    sink->send(std::make_shared<const std::string>(std::move(ev)));
  }

  bool done() {
    std::lock_guard<std::mutex> lk(mu_);
    return stopped_;
  }

  static std::string errorEvent(const Status& st) {
    if (st.isOk()) {
      return "";
    }
    return "{\"type\":\"ERROR\",\"object\":" + toJson(statusObject(st)) + "}\n";
  }

private:
  void onEvents(const std::vector<datastore::EventPtr>& evs) {
    std::shared_ptr<StreamSink> sink;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopped_ || !sink_) {
        return;
      }
      sink = sink_;
    }
    int64_t maxRev = 0;
    for (const auto& e : evs) {
      maxRev = std::max(maxRev, e->kv.modRevision);
      std::shared_ptr<const std::string> chunk = encode(*e);
      if (chunk && !sink->send(chunk)) {
        std::lock_guard<std::mutex> lk(mu_);
        stopped_ = true;
        return;
      }
    }
    std::lock_guard<std::mutex> lk(mu_);
    lastRev_ = std::max(lastRev_, maxRev);
  }

  std::shared_ptr<const std::string> encode(const datastore::Event& e) {
    const char* type = e.type == datastore::Event::Type::Delete ? "DELETED"
                       : e.isCreate()                           ? "ADDED"
                                                                : "MODIFIED";
    const std::string& text =
        e.type == datastore::Event::Type::Delete && e.prev ? e.prev->value : e.kv.value;
    if (!sel_.active() && !table_) {
      return sharedEncode(e, type, text);
    }
    auto cur = parseJson(text);
    if (!cur) {
      return nullptr;
    }
    if (sel_.active()) {
      bool nowMatch = e.type != datastore::Event::Type::Delete && sel_.matches(*cur);
      bool prevMatch = false;
      if (e.prev) {
        auto pv = e.type == datastore::Event::Type::Delete ? cur : parseJson(e.prev->value);
        prevMatch = pv && sel_.matches(*pv);
      }
      if (!nowMatch && !prevMatch) {
        return nullptr;
      }
      type = nowMatch ? (prevMatch ? "MODIFIED" : "ADDED") : "DELETED";
    }
    (*cur)["metadata"]["resourceVersion"] = std::to_string(e.kv.modRevision);
    std::string out = std::string("{\"type\":\"") + type + "\",\"object\":";
    if (table_) {
      appendJson(out, renderTable(kind_, {*cur}, false));
    } else {
      appendJson(out, *cur);
    }
    out += "}\n";
    return std::make_shared<const std::string>(std::move(out));
  }

  // Plain JSON events are identical for every watcher: encode each once.
  static std::shared_ptr<const std::string>
  sharedEncode(const datastore::Event& e, const char* type, const std::string& text) {
    static std::mutex mu;
    static std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> ring(4096);
    int64_t rev = e.kv.modRevision;
    auto& slot = ring[static_cast<size_t>(rev) % ring.size()];
    {
      std::lock_guard<std::mutex> lk(mu);
      if (slot.first == rev && slot.second) {
        return slot.second;
      }
    }
    std::string out;
    out.reserve(text.size() + 48);
    out += "{\"type\":\"";
    out += type;
    out += "\",\"object\":";
    out += withResourceVersion(text, rev);
    out += "}\n";
    auto p = std::make_shared<const std::string>(std::move(out));
    std::lock_guard<std::mutex> lk(mu);
    slot = {rev, p};
    return p;
  }

  void finish(std::string last) {
    std::shared_ptr<StreamSink> sink;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopped_) {
        return;
      }
      stopped_ = true;
      sink = sink_;
    }
    if (sink) {
      sink->close(std::move(last));
    }
  }

  datastore::Engine& engine_;
  const api::KindInfo& kind_;
  std::string prefix_;
  int64_t afterRev_;
  std::vector<std::string> initial_;
  Selectors sel_;
  bool table_;
  bool bookmarks_;
  std::chrono::steady_clock::time_point deadline_;

  std::mutex mu_;
  std::shared_ptr<StreamSink> sink_;
  datastore::WatchPtr watch_;
  bool stopped_ = false;
  int64_t lastRev_;
};

// Keeps the open streams for bookmarks, timeouts and shutdown, and compacts old history.
class WatchRegistry {
public:
  WatchRegistry(datastore::Engine& engine, std::chrono::milliseconds interval, int64_t keep)
      : engine_(engine), interval_(interval), keep_(keep), thread_([this] { run(); }) {}
  ~WatchRegistry() { shutdown(); }

  void add(const std::shared_ptr<WatchStream>& s) {
    std::lock_guard<std::mutex> lk(mu_);
    streams_.push_back(s);
  }

  void shutdown() {
    std::vector<std::shared_ptr<WatchStream>> live;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) {
        return;
      }
      stop_ = true;
      for (auto& w : streams_) {
        if (auto s = w.lock()) {
          live.push_back(s);
        }
      }
      streams_.clear();
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
    for (auto& s : live) {
      s->stop();
    }
  }

private:
  void run() {
    // Ticks often enough for timeoutSeconds; bookmarks go out every interval_.
    auto nextBookmark = std::chrono::steady_clock::now() + interval_;
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds(250));
      if (stop_) {
        break;
      }
      auto now = std::chrono::steady_clock::now();
      bool bookmark = now >= nextBookmark;
      if (bookmark) {
        nextBookmark = now + interval_;
      }
      std::vector<std::shared_ptr<WatchStream>> live;
      for (auto it = streams_.begin(); it != streams_.end();) {
        auto s = it->lock();
        if (!s || s->done()) {
          it = streams_.erase(it);
          continue;
        }
        live.push_back(std::move(s));
        ++it;
      }
      lk.unlock();
      for (auto& s : live) {
        s->tick(now, bookmark);
      }
      if (bookmark) {
        int64_t target = engine_.currentRevision() - keep_;
        if (target > engine_.compactedRevision()) {
          (void)engine_.compact(target);
        }
      }
      lk.lock();
    }
  }

  datastore::Engine& engine_;
  std::chrono::milliseconds interval_;
  int64_t keep_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::weak_ptr<WatchStream>> streams_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Handler.

struct Handler::Target {
  const api::KindInfo* kind = nullptr;
  std::string ns;   // empty: cluster-scoped kind or all namespaces
  std::string name; // empty: collection
};

Handler::Handler(datastore::Engine& engine, HandlerOptions opts)
    : engine_(engine), opts_(std::move(opts)),
      watches_(std::make_unique<WatchRegistry>(engine, opts_.bookmarkInterval, opts_.historyKeep)) {
}

Handler::~Handler() { shutdown(); }

void Handler::shutdown() { watches_->shutdown(); }

Status Handler::bootstrap() {
  std::vector<std::string> docs;
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    docs.push_back(std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") +
                   ns + "\"}}");
  }
  docs.push_back(
      R"({"apiVersion":"projectcalico.org/v3","kind":"Tier",)"
      R"("metadata":{"name":"default"},"spec":{"order":1000000,"defaultAction":"Deny"}})");
  docs.push_back(
      R"({"apiVersion":"projectcalico.org/v3","kind":"Tier",)"
      R"("metadata":{"name":"kube-admin"},"spec":{"order":1000,"defaultAction":"Pass"}})");
  docs.push_back(R"({"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":)"
                 R"({"name":"kube-baseline"},"spec":{"order":10000000,"defaultAction":"Pass"}})");
  docs.push_back(std::string(R"({"apiVersion":"projectcalico.org/v3","kind":"ClusterInformation",)"
                             R"("metadata":{"name":"default"},"spec":{"clusterGUID":")") +
                 randomHex(16) + R"(","clusterType":"caracal","calicoVersion":"v)" +
                 CARACAL_VERSION + R"(","datastoreReady":true}})");
  Request req;
  for (const auto& text : docs) {
    auto obj = parseJson(text);
    if (!obj) {
      return obj.error();
    }
    const api::KindInfo* kind =
        api::findByKind(obj->getString("apiVersion"), obj->getString("kind"));
    if (!kind) {
      return Status(Code::Internal, "bootstrap: unknown kind " + obj->getString("kind"));
    }
    auto cur = engine_.get(storageKey(*kind, "", obj->getString("metadata.name")));
    if (!cur) {
      return cur.error();
    }
    if (*cur) {
      continue;
    }
    auto r = createObject(*kind, std::move(obj).value(), req);
    if (!r && r.code() != Code::AlreadyExists) {
      return r.error().withContext("bootstrap");
    }
  }
  return Status::ok();
}

bool Handler::authenticate(const Request& req) const {
  if (opts_.token.empty()) {
    return true;
  }
  std::string auth = req.header("authorization");
  static const std::string kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0) {
    return false;
  }
  return tokenEquals(std::string_view(auth).substr(kBearer.size()), opts_.token);
}

Reply Handler::unauthorized() const {
  return errorReply(Status(Code::Unauthorized, "Unauthorized"));
}

std::unique_lock<std::mutex> Handler::lockForCrossChecks(const api::KindInfo& kind) {
  // Only kinds with rules between objects need their writes serialised; the rest share commit
  // batches freely.
  if (!hasCrossObjectRules(kind)) {
    return {};
  }
  return std::unique_lock<std::mutex>(kindLock(kind));
}

std::mutex& Handler::kindLock(const api::KindInfo& kind) {
  std::lock_guard<std::mutex> lk(kindLocksMu_);
  auto& m = kindLocks_[&kind];
  if (!m) {
    m = std::make_unique<std::mutex>();
  }
  return *m;
}

Reply Handler::handle(const Request& req) {
  std::vector<std::string> seg;
  for (auto& s : split(req.path, '/')) {
    if (!s.empty()) {
      seg.push_back(s);
    }
  }
  if (seg.empty()) {
    Value paths = Value::array();
    for (const char* p : {"/api", "/api/v1", "/apis", "/healthz", "/openapi/v3", "/version"}) {
      paths.push(p);
    }
    Value root = Value::object();
    root["paths"] = std::move(paths);
    return jsonReply(200, toJson(root));
  }
  if (seg[0] == "version" && seg.size() == 1) {
    Value v = Value::object();
    v["major"] = "1";
    v["minor"] = "32";
    v["gitVersion"] = std::string("v1.32.0-caracal-") + CARACAL_VERSION;
    v["gitCommit"] = "";
    v["gitTreeState"] = "clean";
    v["buildDate"] = "";
    v["goVersion"] = "";
    v["compiler"] = "g++";
    v["platform"] = "linux/amd64";
    v["caracalVersion"] = CARACAL_VERSION;
    return jsonReply(200, toJson(v));
  }
  if ((seg[0] == "healthz" || seg[0] == "livez" || seg[0] == "readyz") && seg.size() == 1) {
    Reply r = jsonReply(200, "ok");
    r.response.contentType = "text/plain; charset=utf-8";
    return r;
  }
  if (seg[0] == "openapi") {
    return openapi(req);
  }
  if (seg[0] != "api" && seg[0] != "apis") {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  // /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>
  size_t gvLen = seg[0] == "api" ? 2 : 3;
  if (seg.size() < gvLen || (seg.size() == gvLen && req.method == "GET")) {
    return discovery(req);
  }
  Target t;
  std::string group = seg[0] == "api" ? "" : seg[1];
  std::string version = seg[gvLen - 1];
  std::vector<std::string> rest(seg.begin() + static_cast<long>(gvLen), seg.end());
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 2) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  t.kind = api::findByResource(group, version, rest[0]);
  if (!t.kind) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource (" +
                                                 req.path + ")"));
  }
  if (!t.ns.empty() && !t.kind->namespaced) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  if (rest.size() == 2) {
    t.name = rest[1];
  }
  return resource(req, t);
}

namespace {

const char kAggregatedDiscovery[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// Aggregated discovery (apidiscovery.k8s.io/v2): every group, version and resource in one answer,
// so that kubectl needs two requests (/api, /apis) instead of one per group-version.
Value aggregatedDiscovery(bool core) {
  Value list = Value::object();
  list["kind"] = "APIGroupDiscoveryList";
  list["apiVersion"] = "apidiscovery.k8s.io/v2";
  list["metadata"] = Value::object();
  Value items = Value::array();
  std::vector<std::string> groups;
  for (const api::KindInfo* k : api::allKinds()) {
    if (k->group.empty() == core &&
        std::find(groups.begin(), groups.end(), k->group) == groups.end()) {
      groups.push_back(k->group);
    }
  }
  for (const auto& group : groups) {
    std::vector<std::string> versionNames;
    for (const api::KindInfo* k : api::allKinds()) {
      if (k->group == group &&
          std::find(versionNames.begin(), versionNames.end(), k->version) == versionNames.end()) {
        versionNames.push_back(k->version);
      }
    }
    Value versions = Value::array();
    for (const auto& version : versionNames) {
      Value resources = Value::array();
      for (const api::KindInfo* k : api::allKinds()) {
        if (k->group != group || k->version != version) {
          continue;
        }
        Value r = Value::object();
        r["resource"] = k->plural;
        Value rk = Value::object();
        rk["group"] = k->group;
        rk["version"] = k->version;
        rk["kind"] = k->kind;
        r["responseKind"] = std::move(rk);
        r["scope"] = k->namespaced ? "Namespaced" : "Cluster";
        r["singularResource"] = k->singular;
        Value verbs = Value::array();
        for (const char* v :
             {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}) {
          verbs.push(v);
        }
        r["verbs"] = std::move(verbs);
        if (!k->shortNames.empty()) {
          Value sn = Value::array();
          for (const auto& n : k->shortNames) {
            sn.push(n);
          }
          r["shortNames"] = std::move(sn);
        }
        if (!k->categories.empty()) {
          Value cat = Value::array();
          for (const auto& c : k->categories) {
            cat.push(c);
          }
          r["categories"] = std::move(cat);
        }
        resources.push(std::move(r));
      }
      Value v = Value::object();
      v["version"] = version;
      v["resources"] = std::move(resources);
      v["freshness"] = "Current";
      versions.push(std::move(v));
    }
    Value item = Value::object();
    Value meta = Value::object();
    meta["name"] = group;
    item["metadata"] = std::move(meta);
    item["versions"] = std::move(versions);
    items.push(std::move(item));
  }
  list["items"] = std::move(items);
  return list;
}

} // namespace

Reply Handler::discovery(const Request& req) {
  std::vector<std::string> seg;
  for (auto& s : split(req.path, '/')) {
    if (!s.empty()) {
      seg.push_back(s);
    }
  }
  std::string accept = req.header("accept");
  if (seg.size() == 1 && accept.find("g=apidiscovery.k8s.io") != std::string::npos &&
      accept.find("v=v2;") != std::string::npos &&
      accept.find("as=APIGroupDiscoveryList") != std::string::npos) {
    Reply r = jsonReply(200, toJson(aggregatedDiscovery(seg[0] == "api")));
    r.response.contentType = kAggregatedDiscovery;
    return r;
  }
  auto resourceList = [](const std::string& group, const std::string& version) {
    Value list = Value::object();
    list["kind"] = "APIResourceList";
    list["apiVersion"] = "v1";
    list["groupVersion"] = group.empty() ? version : group + "/" + version;
    Value res = Value::array();
    for (const api::KindInfo* k : api::allKinds()) {
      if (k->group != group || k->version != version) {
        continue;
      }
      Value r = Value::object();
      r["name"] = k->plural;
      r["singularName"] = k->singular;
      r["namespaced"] = k->namespaced;
      r["kind"] = k->kind;
      Value verbs = Value::array();
      for (const char* v :
           {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}) {
        verbs.push(v);
      }
      r["verbs"] = std::move(verbs);
      if (!k->shortNames.empty()) {
        Value sn = Value::array();
        for (const auto& s : k->shortNames) {
          sn.push(s);
        }
        r["shortNames"] = std::move(sn);
      }
      if (!k->categories.empty()) {
        Value cat = Value::array();
        for (const auto& s : k->categories) {
          cat.push(s);
        }
        r["categories"] = std::move(cat);
      }
      res.push(std::move(r));
    }
    list["resources"] = std::move(res);
    return list;
  };
  auto groupInfo = [](const std::string& group) {
    Value g = Value::object();
    g["name"] = group;
    Value versions = Value::array();
    std::set<std::string> seen;
    for (const api::KindInfo* k : api::allKinds()) {
      if (k->group == group && seen.insert(k->version).second) {
        Value v = Value::object();
        v["groupVersion"] = k->apiVersion();
        v["version"] = k->version;
        versions.push(std::move(v));
      }
    }
    if (versions.size() == 0) {
      return Value();
    }
    g["preferredVersion"] = versions.asArray().front();
    g["versions"] = std::move(versions);
    return g;
  };
  if (seg[0] == "api") {
    if (seg.size() == 1) {
      Value v = Value::object();
      v["kind"] = "APIVersions";
      Value versions = Value::array();
      versions.push("v1");
      v["versions"] = std::move(versions);
      Value addr = Value::object();
      addr["clientCIDR"] = "0.0.0.0/0";
      addr["serverAddress"] = opts_.serverAddress;
      Value addrs = Value::array();
      addrs.push(std::move(addr));
      v["serverAddressByClientCIDRs"] = std::move(addrs);
      return jsonReply(200, toJson(v));
    }
    if (seg[1] != "v1") {
      return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
    }
    return jsonReply(200, toJson(resourceList("", "v1")));
  }
  if (seg.size() == 1) {
    Value list = Value::object();
    list["kind"] = "APIGroupList";
    list["apiVersion"] = "v1";
    Value groups = Value::array();
    std::set<std::string> seen;
    for (const api::KindInfo* k : api::allKinds()) {
      if (!k->group.empty() && seen.insert(k->group).second) {
        groups.push(groupInfo(k->group));
      }
    }
    list["groups"] = std::move(groups);
    return jsonReply(200, toJson(list));
  }
  Value g = groupInfo(seg[1]);
  if (g.isNull()) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  if (seg.size() == 2) {
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return jsonReply(200, toJson(g));
  }
  Value list = resourceList(seg[1], seg[2]);
  if (list["resources"].size() == 0) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  return jsonReply(200, toJson(list));
}

Reply Handler::openapi(const Request& req) {
  // Built once: the documents depend only on the compiled-in kinds.
  static std::once_flag once;
  static std::string index;
  static std::map<std::string, std::string> docs;
  std::call_once(once, [] {
    std::map<std::string, std::vector<const api::KindInfo*>> byGv;
    for (const api::KindInfo* k : api::allKinds()) {
      std::string p = k->group.empty() ? "api/" + k->version : "apis/" + k->apiVersion();
      byGv[p].push_back(k);
    }
    Value paths = Value::object();
    for (const auto& [gv, kinds] : byGv) {
      Value doc = Value::object();
      doc["openapi"] = "3.0.0";
      Value info = Value::object();
      info["title"] = "caracal";
      info["version"] = CARACAL_VERSION;
      doc["info"] = std::move(info);
      Value dpaths = Value::object();
      Value schemas = Value::object();
      for (const api::KindInfo* k : kinds) {
        std::string schemaName =
            (k->group.empty() ? "io.k8s.api.core." : k->group + ".") + k->version + "." + k->kind;
        schemas[schemaName] = api::openapiSchema(*k);
        Value ref = Value::object();
        ref["$ref"] = "#/components/schemas/" + schemaName;
        Value gvk = Value::object();
        gvk["group"] = k->group;
        gvk["version"] = k->version;
        gvk["kind"] = k->kind;
        auto param = [](const char* name, const char* in) {
          Value p = Value::object();
          p["name"] = name;
          p["in"] = in;
          if (std::string(in) == "path") {
            p["required"] = true;
          }
          Value s = Value::object();
          s["type"] = "string";
          p["schema"] = std::move(s);
          return p;
        };
        auto op = [&](const char* verb, bool body) {
          Value o = Value::object();
          o["operationId"] = std::string(verb) + k->kind;
          o["x-kubernetes-group-version-kind"] = gvk;
          o["x-kubernetes-action"] = verb;
          Value params = Value::array();
          params.push(param("fieldValidation", "query"));
          params.push(param("fieldManager", "query"));
          params.push(param("dryRun", "query"));
          o["parameters"] = std::move(params);
          if (body) {
            Value content = Value::object();
            Value mt = Value::object();
            mt["schema"] = ref;
            for (const char* ct : {"application/json", "application/yaml"}) {
              content[ct] = mt;
            }
            Value rb = Value::object();
            rb["content"] = std::move(content);
            o["requestBody"] = std::move(rb);
          }
          Value resp = Value::object();
          Value ok = Value::object();
          ok["description"] = "OK";
          Value okc = Value::object();
          Value okmt = Value::object();
          okmt["schema"] = ref;
          okc["application/json"] = std::move(okmt);
          ok["content"] = std::move(okc);
          resp["200"] = std::move(ok);
          o["responses"] = std::move(resp);
          return o;
        };
        std::string base =
            "/" + gv + (k->namespaced ? "/namespaces/{namespace}/" : "/") + k->plural;
        Value coll = Value::object();
        coll["get"] = op("list", false);
        coll["post"] = op("post", true);
        coll["delete"] = op("deletecollection", false);
        Value item = Value::object();
        item["get"] = op("get", false);
        item["put"] = op("put", true);
        item["patch"] = op("patch", true);
        item["delete"] = op("delete", false);
        Value itemParams = Value::array();
        itemParams.push(param("name", "path"));
        if (k->namespaced) {
          itemParams.push(param("namespace", "path"));
        }
        item["parameters"] = std::move(itemParams);
        if (k->namespaced) {
          Value cp = Value::array();
          cp.push(param("namespace", "path"));
          coll["parameters"] = std::move(cp);
        }
        dpaths[base] = std::move(coll);
        dpaths[base + "/{name}"] = std::move(item);
      }
      doc["paths"] = std::move(dpaths);
      Value comps = Value::object();
      comps["schemas"] = std::move(schemas);
      doc["components"] = std::move(comps);
      std::string text = toJson(doc);
      std::hash<std::string> h;
      char hash[20];
      std::snprintf(hash, sizeof hash, "%016zX", h(text));
      Value entry = Value::object();
      entry["serverRelativeURL"] = "/openapi/v3/" + gv + "?hash=" + hash;
      paths[gv] = std::move(entry);
      docs[gv] = std::move(text);
    }
    Value idx = Value::object();
    idx["paths"] = std::move(paths);
    index = toJson(idx);
  });
  std::string p = req.path;
  while (!p.empty() && p.back() == '/') {
    p.pop_back();
  }
  if (p == "/openapi/v3") {
    return jsonReply(200, index);
  }
  static const std::string kPrefix = "/openapi/v3/";
  if (startsWith(p, kPrefix)) {
    auto it = docs.find(p.substr(kPrefix.size()));
    if (it != docs.end()) {
      return jsonReply(200, it->second);
    }
  }
  return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
}

Reply Handler::resource(const Request& req, const Target& t) {
  const std::string& m = req.method;
  if (m != "PATCH") {
    if (auto unsupported = unsupportedProtobufBody(req)) {
      return std::move(*unsupported);
    }
  }
  if (t.name.empty()) {
    if (m == "GET") {
      std::string w = req.param("watch");
      if (w == "true" || w == "1") {
        return watch(req, t);
      }
      return list(req, t);
    }
    if (m == "POST") {
      return create(req, t);
    }
    if (m == "DELETE") {
      return removeCollection(req, t);
    }
  } else {
    if (m == "GET") {
      return getItem(req, t);
    }
    if (m == "PUT") {
      return replace(req, t);
    }
    if (m == "PATCH") {
      return patch(req, t);
    }
    if (m == "DELETE") {
      return removeItem(req, t);
    }
  }
  Reply r = errorReply(Status(Code::BadRequest, "method " + m + " not allowed on " + req.path));
  r.response.status = 405;
  return r;
}

Reply Handler::getItem(const Request& req, const Target& t) {
  if (t.kind->namespaced && t.ns.empty()) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  auto r = engine_.get(storageKey(*t.kind, t.ns, t.name));
  if (!r) {
    return errorReply(r.error(), t.kind, t.name);
  }
  if (!*r) {
    return errorReply(notFound(*t.kind, t.name), t.kind, t.name);
  }
  if (wantsTable(req)) {
    auto v = kvToValue(**r);
    if (!v) {
      return errorReply(v.error());
    }
    Reply rep =
        jsonReply(200, toJson(renderTable(*t.kind, {*v}, req.param("includeObject") == "Object")));
    rep.response.contentType = "application/json;as=Table;v=v1;g=meta.k8s.io";
    return rep;
  }
  return jsonReply(200, kvToWire(**r));
}

Reply Handler::list(const Request& req, const Target& t) {
  auto sel = parseSelectors(req, *t.kind);
  if (!sel) {
    return errorReply(sel.error());
  }
  int64_t limit = 0;
  std::string ls = req.param("limit");
  if (!ls.empty()) {
    limit = std::max<int64_t>(0, parseRv(ls));
  }
  std::string startAfter;
  std::string cont = req.param("continue");
  if (!cont.empty()) {
    auto d = base64Decode(cont);
    if (!d || !startsWith(*d, storagePrefix(*t.kind, t.ns))) {
      return errorReply(Status(Code::BadRequest, "continue: invalid continue token"));
    }
    startAfter = *d;
  }
  std::string prefix = storagePrefix(*t.kind, t.ns);
  // With selectors, read in pages until `limit` matches are found.
  std::vector<datastore::KeyValue> items;
  std::string next;
  int64_t rev = 0;
  bool more = false;
  std::string cursor = startAfter;
  while (true) {
    int64_t want = limit > 0 ? std::max<int64_t>(limit - static_cast<int64_t>(items.size()), 1) : 0;
    auto r = engine_.range(prefix, sel->active() && limit > 0 ? std::max<int64_t>(want, 500) : want,
                           cursor);
    if (!r) {
      return errorReply(r.error());
    }
    if (rev == 0) {
      rev = r->revision;
    }
    for (auto& kv : r->kvs) {
      if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
        more = true;
        break;
      }
      cursor = kv.key;
      if (sel->active()) {
        auto v = parseJson(kv.value);
        if (!v || !sel->matches(*v)) {
          continue;
        }
      }
      items.push_back(std::move(kv));
    }
    if (more || !r->more) {
      more = more || (limit > 0 && r->more && static_cast<int64_t>(items.size()) >= limit);
      break;
    }
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
      more = true;
      break;
    }
  }
  if (more && !items.empty()) {
    next = encodeContinue(items.back().key);
  }
  if (wantsTable(req)) {
    std::vector<Value> objs;
    objs.reserve(items.size());
    for (const auto& kv : items) {
      auto v = kvToValue(kv);
      if (v) {
        objs.push_back(std::move(v).value());
      }
    }
    Value table = renderTable(*t.kind, objs, req.param("includeObject") == "Object");
    table["metadata"]["resourceVersion"] = std::to_string(rev);
    if (!next.empty()) {
      table["metadata"]["continue"] = next;
    }
    Reply rep = jsonReply(200, toJson(table));
    rep.response.contentType = "application/json;as=Table;v=v1;g=meta.k8s.io";
    return rep;
  }
  std::string out;
  size_t total = 0;
  for (const auto& kv : items) {
    total += kv.value.size() + 40;
  }
  out.reserve(total + 256);
  out += "{\"kind\":\"" + listKind(*t.kind) + "\",\"apiVersion\":\"" + t.kind->apiVersion() +
         "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(rev) + "\"";
  if (!next.empty()) {
    out += ",\"continue\":" + jsonQuote(next);
  }
  out += "},\"items\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) {
      out.push_back(',');
    }
    out += kvToWire(items[i]);
  }
  out += "]}";
  return jsonReply(200, std::move(out));
}

Reply Handler::watch(const Request& req, const Target& t) {
  auto sel = parseSelectors(req, *t.kind);
  if (!sel) {
    return errorReply(sel.error());
  }
  bool table = wantsTable(req);
  std::string prefix = storagePrefix(*t.kind, t.ns);
  std::string rvParam = req.param("resourceVersion");
  int64_t after = parseRv(rvParam);
  if (after < 0) {
    return errorReply(
        Status(Code::BadRequest, "resourceVersion: invalid value \"" + rvParam + "\""));
  }
  std::vector<std::string> initial;
  if (rvParam.empty() || rvParam == "0") {
    // Synthetic ADDED events for the current state, then changes after it.
    auto r = engine_.range(prefix);
    if (!r) {
      return errorReply(r.error());
    }
    after = r->revision;
    for (const auto& kv : r->kvs) {
      auto v = kvToValue(kv);
      if (!v || (sel->active() && !sel->matches(*v))) {
        continue;
      }
      std::string ev = "{\"type\":\"ADDED\",\"object\":";
      if (table) {
        appendJson(ev, renderTable(*t.kind, {*v}, false));
      } else {
        ev += kvToWire(kv);
      }
      ev += "}\n";
      initial.push_back(std::move(ev));
    }
  }
  auto deadline = std::chrono::steady_clock::time_point::max();
  std::string ts = req.param("timeoutSeconds");
  if (!ts.empty()) {
    int64_t secs = parseRv(ts);
    if (secs > 0) {
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(secs);
    }
  }
  bool bookmarks = req.param("allowWatchBookmarks") == "true";
  auto stream = std::make_shared<WatchStream>(engine_, *t.kind, prefix, after, std::move(initial),
                                              std::move(sel).value(), table, bookmarks, deadline);
  watches_->add(stream);
  Reply r;
  r.response.status = 200;
  r.response.contentType =
      table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
  r.stream = stream;
  return r;
}

Status Handler::checkNamespaceExists(const std::string& ns) {
  const api::KindInfo* nsKind = api::findByResource("", "v1", "namespaces");
  if (!nsKind) {
    return Status::ok();
  }
  auto r = engine_.get(storageKey(*nsKind, "", ns));
  if (!r) {
    return r.error();
  }
  if (!*r) {
    return Status(Code::NotFound, "namespaces \"" + ns + "\" not found");
  }
  return Status::ok();
}

namespace {

bool isTieredPolicy(const api::KindInfo& kind) {
  return kind.group == "projectcalico.org" &&
         (kind.kind == "NetworkPolicy" || kind.kind == "GlobalNetworkPolicy" ||
          kind.kind == "StagedNetworkPolicy" || kind.kind == "StagedGlobalNetworkPolicy");
}

} // namespace

Status Handler::checkTierExists(const api::KindInfo& kind, const Value& obj) {
  if (!isTieredPolicy(kind)) {
    return Status::ok();
  }
  const api::KindInfo* tierKind = api::findByKind("projectcalico.org/v3", "Tier");
  if (tierKind == nullptr) {
    return Status::ok();
  }
  const std::string tier = obj.getString("spec.tier", "default");
  auto r = engine_.get(storageKey(*tierKind, "", tier));
  if (!r) {
    return r.error();
  }
  if (!*r) {
    return Status(Code::NotFound, "tiers.projectcalico.org \"" + tier +
                                      "\" not found: spec.tier must name an existing Tier "
                                      "(create the Tier first)");
  }
  return Status::ok();
}

Status Handler::crossObjectChecks(const api::KindInfo& kind, const Value& obj) {
  if (!hasCrossObjectRules(kind)) {
    return Status::ok();
  }
  auto r = engine_.range(storagePrefix(kind, ""));
  if (!r) {
    return r.error();
  }
  std::vector<Value> others;
  std::string name = obj.getString("metadata.name");
  for (const auto& kv : r->kvs) {
    auto v = parseJson(kv.value);
    if (v && v->getString("metadata.name") != name) {
      others.push_back(std::move(v).value());
    }
  }
  return api::validateAgainst(kind, obj, others);
}

namespace {

api::NormalizeOptions normalizeOptions(const Request& req) {
  api::NormalizeOptions o;
  std::string fv = req.param("fieldValidation");
  if (fv == "Ignore" || fv == "Warn") {
    o.unknownFields = api::UnknownFields::Drop;
  }
  return o;
}

bool dryRun(const Request& req) { return req.param("dryRun") == "All"; }

Status checkKindAndNamespace(const api::KindInfo& kind, Value& obj, const std::string& urlNs) {
  if (!obj.isObject()) {
    return Status(Code::BadRequest, "the request body must be a JSON or YAML object");
  }
  if (!obj.has("apiVersion")) {
    obj["apiVersion"] = kind.apiVersion();
  }
  if (!obj.has("kind")) {
    obj["kind"] = kind.kind;
  }
  if (obj.getString("apiVersion") != kind.apiVersion() || obj.getString("kind") != kind.kind) {
    return Status(Code::BadRequest, "the API version in the data (" + obj.getString("apiVersion") +
                                        ") and kind (" + obj.getString("kind") +
                                        ") do not match the URL (" + kind.apiVersion() + ", " +
                                        kind.kind + ")");
  }
  Value& meta = obj["metadata"];
  if (!meta.isObject()) {
    return Status::invalidField("metadata", "must be an object");
  }
  if (kind.namespaced) {
    std::string ns = obj.getString("metadata.namespace");
    if (ns.empty()) {
      meta["namespace"] = urlNs;
    } else if (ns != urlNs) {
      return Status(Code::BadRequest, "the namespace of the provided object does not match the "
                                      "namespace sent on the request");
    }
  }
  return Status::ok();
}

bool specChanged(const Value& a, const Value& b) {
  for (const auto& m : a.asObject()) {
    if (m.first == "metadata" || m.first == "status") {
      continue;
    }
    const Value* o = b.find(m.first);
    if (!o || *o != m.second) {
      return true;
    }
  }
  for (const auto& m : b.asObject()) {
    if (m.first != "metadata" && m.first != "status" && !a.has(m.first)) {
      return true;
    }
  }
  return false;
}

} // namespace

Result<datastore::KeyValue> Handler::createObject(const api::KindInfo& kind, Value obj,
                                                  const Request& req) {
  Value& meta = obj["metadata"];
  if (!obj.getString("metadata.resourceVersion").empty()) {
    return Status(Code::BadRequest, "resourceVersion should not be set on objects to be created");
  }
  if (obj.getString("metadata.name").empty() && !obj.getString("metadata.generateName").empty()) {
    meta["name"] = obj.getString("metadata.generateName") + randomSuffix(5);
  }
  meta.erase("uid");
  meta.erase("creationTimestamp");
  meta.erase("generation");
  RETURN_IF_ERROR(api::normalize(kind, obj, normalizeOptions(req)));
  std::string name = obj.getString("metadata.name");
  std::string ns = obj.getString("metadata.namespace");
  if (kind.namespaced) {
    RETURN_IF_ERROR(checkNamespaceExists(ns));
  }
  Value& m = obj["metadata"];
  m["uid"] = newUid();
  m["creationTimestamp"] = nowRfc3339();
  if (!(kind.group.empty() && (kind.kind == "Namespace" || kind.kind == "ServiceAccount"))) {
    m["generation"] = 1;
  }
  std::string manager = req.param("fieldManager");
  if (!manager.empty()) {
    recordUpdateOwnership(obj, Value::object(), manager, kind.apiVersion(), nowRfc3339());
  }
  std::unique_lock<std::mutex> tierLk;
  if (isTieredPolicy(kind)) {
    tierLk = std::unique_lock<std::mutex>(tierMu_);
    RETURN_IF_ERROR(checkTierExists(kind, obj));
  }
  std::unique_lock<std::mutex> lk = lockForCrossChecks(kind);
  RETURN_IF_ERROR(crossObjectChecks(kind, obj));
  if (dryRun(req)) {
    return datastore::KeyValue{storageKey(kind, ns, name), encodeForStorage(obj), 0, 0, 0};
  }
  auto r = engine_.create(storageKey(kind, ns, name), encodeForStorage(obj));
  if (!r && r.code() == Code::AlreadyExists) {
    return Status(Code::AlreadyExists, resourceName(kind) + " \"" + name + "\" already exists");
  }
  return r;
}

Result<datastore::KeyValue> Handler::updateObject(const api::KindInfo& kind, const Value& cur,
                                                  int64_t curRev, Value obj, const Request& req) {
  std::string name = cur.getString("metadata.name");
  if (obj.getString("metadata.name").empty()) {
    obj["metadata"]["name"] = name;
  }
  if (obj.getString("metadata.name") != name) {
    return Status(Code::BadRequest, "the name of the object (" + obj.getString("metadata.name") +
                                        ") does not match the name on the URL (" + name + ")");
  }
  std::string rv = obj.getString("metadata.resourceVersion");
  if (!rv.empty() && rv != std::to_string(curRev)) {
    return conflict(kind, name);
  }
  Value& meta = obj["metadata"];
  // Server-owned metadata always comes from the stored object.
  for (const char* k : {"uid", "creationTimestamp"}) {
    if (const Value* v = cur.path(std::string("metadata.") + k)) {
      meta[k] = *v;
    } else {
      meta.erase(k);
    }
  }
  if (!meta.has("managedFields")) {
    if (const Value* mf = cur.path("metadata.managedFields")) {
      meta["managedFields"] = *mf;
    }
  }
  meta.erase("resourceVersion");
  RETURN_IF_ERROR(api::normalize(kind, obj, normalizeOptions(req)));
  Value curNorm = cur;
  curNorm["metadata"].erase("resourceVersion");
  RETURN_IF_ERROR(api::validateUpdate(kind, curNorm, obj));
  if (const Value* g = cur.path("metadata.generation")) {
    obj["metadata"]["generation"] = specChanged(cur, obj) ? g->asInt() + 1 : g->asInt();
  }
  std::string manager = req.param("fieldManager");
  if (!manager.empty() && req.header("content-type").find("apply-patch") == std::string::npos) {
    recordUpdateOwnership(obj, curNorm, manager, kind.apiVersion(), nowRfc3339());
  }
  std::unique_lock<std::mutex> tierLk;
  if (isTieredPolicy(kind)) {
    tierLk = std::unique_lock<std::mutex>(tierMu_);
    RETURN_IF_ERROR(checkTierExists(kind, obj));
  }
  std::unique_lock<std::mutex> lk = lockForCrossChecks(kind);
  RETURN_IF_ERROR(crossObjectChecks(kind, obj));
  std::string key = storageKey(kind, obj.getString("metadata.namespace"), name);
  if (dryRun(req)) {
    return datastore::KeyValue{key, encodeForStorage(obj), 0, curRev, 0};
  }
  auto r = engine_.update(key, encodeForStorage(obj), curRev);
  if (!r && r.code() == Code::Conflict) {
    return conflict(kind, name);
  }
  if (!r && r.code() == Code::NotFound) {
    return notFound(kind, name);
  }
  return r;
}

Reply Handler::create(const Request& req, const Target& t) {
  if (t.kind->namespaced && t.ns.empty()) {
    return errorReply(
        Status(Code::BadRequest, "a namespace is required to create " + resourceName(*t.kind)));
  }
  auto body = parseBody(req);
  if (!body) {
    return errorReply(body.error(), t.kind);
  }
  Value obj = std::move(body).value();
  Status st = checkKindAndNamespace(*t.kind, obj, t.ns);
  if (!st) {
    return errorReply(st, t.kind);
  }
  std::string name = obj.getString("metadata.name");
  auto r = createObject(*t.kind, std::move(obj), req);
  if (!r) {
    return errorReply(asInvalidObject(r.error(), *t.kind, name), t.kind, name);
  }
  return jsonReply(201, kvToWire(*r));
}

Reply Handler::replace(const Request& req, const Target& t) {
  auto body = parseBody(req);
  if (!body) {
    return errorReply(body.error(), t.kind, t.name);
  }
  Value obj = std::move(body).value();
  Status st = checkKindAndNamespace(*t.kind, obj, t.ns);
  if (!st) {
    return errorReply(st, t.kind, t.name);
  }
  auto cur = engine_.get(storageKey(*t.kind, t.ns, t.name));
  if (!cur) {
    return errorReply(cur.error(), t.kind, t.name);
  }
  if (!*cur) {
    return errorReply(notFound(*t.kind, t.name), t.kind, t.name);
  }
  auto curObj = kvToValue(**cur);
  if (!curObj) {
    return errorReply(curObj.error());
  }
  auto r = updateObject(*t.kind, *curObj, (*cur)->modRevision, std::move(obj), req);
  if (!r) {
    return errorReply(asInvalidObject(r.error(), *t.kind, t.name), t.kind, t.name);
  }
  return jsonReply(200, kvToWire(*r));
}

Reply Handler::patch(const Request& req, const Target& t) {
  std::string ct = req.header("content-type");
  size_t semi = ct.find(';');
  if (semi != std::string::npos) {
    ct = trim(ct.substr(0, semi));
  }
  bool apply = ct == "application/apply-patch+yaml";
  if (!apply && ct != "application/merge-patch+json" && ct != "application/json-patch+json" &&
      ct != "application/strategic-merge-patch+json") {
    Reply r = errorReply(Status(Code::BadRequest, "the body of the request was in an unknown "
                                                  "format - accepted media types include: "
                                                  "application/json-patch+json, "
                                                  "application/merge-patch+json, "
                                                  "application/apply-patch+yaml, "
                                                  "application/strategic-merge-patch+json"));
    r.response.status = 415;
    return r;
  }
  if (apply && req.param("fieldManager").empty()) {
    return errorReply(Status(Code::BadRequest, "PATCH, application/apply-patch+yaml: fieldManager "
                                               "is required for apply requests"));
  }
  Result<Value> patchDoc = apply ? parseYaml(req.body) : parseJson(req.body);
  if (!patchDoc) {
    return errorReply(patchDoc.error(), t.kind, t.name);
  }
  for (int attempt = 0; attempt < kMaxPatchRetries; ++attempt) {
    auto cur = engine_.get(storageKey(*t.kind, t.ns, t.name));
    if (!cur) {
      return errorReply(cur.error(), t.kind, t.name);
    }
    if (!*cur) {
      if (!apply) {
        return errorReply(notFound(*t.kind, t.name), t.kind, t.name);
      }
      // Server-side apply creates.
      Value obj = *patchDoc;
      Status st = checkKindAndNamespace(*t.kind, obj, t.ns);
      if (!st) {
        return errorReply(st, t.kind, t.name);
      }
      if (obj.getString("metadata.name").empty()) {
        obj["metadata"]["name"] = t.name;
      }
      auto applied =
          applyServerSide(Value(), obj, req.param("fieldManager"), req.param("force") == "true",
                          t.kind->apiVersion(), nowRfc3339());
      if (!applied) {
        return errorReply(applied.error(), t.kind, t.name);
      }
      Request noManager = req;
      noManager.query.erase("fieldManager");
      auto r = createObject(*t.kind, std::move(applied).value(), noManager);
      if (!r && r.code() == Code::AlreadyExists) {
        continue;
      }
      if (!r) {
        return errorReply(asInvalidObject(r.error(), *t.kind, t.name), t.kind, t.name);
      }
      return jsonReply(201, kvToWire(*r));
    }
    auto curObj = kvToValue(**cur);
    if (!curObj) {
      return errorReply(curObj.error());
    }
    Result<Value> next = Status(Code::Internal, "unreachable");
    if (apply) {
      Value applied = *patchDoc;
      Status st = checkKindAndNamespace(*t.kind, applied, t.ns);
      if (!st) {
        return errorReply(st, t.kind, t.name);
      }
      next = applyServerSide(*curObj, applied, req.param("fieldManager"),
                             req.param("force") == "true", t.kind->apiVersion(), nowRfc3339());
    } else if (ct == "application/merge-patch+json") {
      next = applyMergePatch(*curObj, *patchDoc);
    } else if (ct == "application/json-patch+json") {
      next = applyJsonPatch(*curObj, *patchDoc);
    } else {
      next = applyStrategicMergePatch(*curObj, *patchDoc);
    }
    if (!next) {
      return errorReply(next.error(), t.kind, t.name);
    }
    // A resourceVersion carried by the patch is a precondition; otherwise the patch applies to
    // whatever is current, retried on a concurrent change.
    std::string patchRv = patchDoc->getString("metadata.resourceVersion");
    Value obj = std::move(next).value();
    if (patchRv.empty()) {
      obj["metadata"]["resourceVersion"] = std::to_string((*cur)->modRevision);
    }
    Status st = checkKindAndNamespace(*t.kind, obj, t.ns);
    if (!st) {
      return errorReply(st, t.kind, t.name);
    }
    auto r = updateObject(*t.kind, *curObj, (*cur)->modRevision, std::move(obj), req);
    if (!r && r.code() == Code::Conflict && patchRv.empty()) {
      continue;
    }
    if (!r) {
      return errorReply(asInvalidObject(r.error(), *t.kind, t.name), t.kind, t.name);
    }
    return jsonReply(200, kvToWire(*r));
  }
  return errorReply(conflict(*t.kind, t.name), t.kind, t.name);
}

// Calico keeps the default tier and refuses to delete a tier that still holds policies: they
// would stay stored but no longer be enforced.
Status Handler::tierDeletable(const std::string& tier) {
  const std::string what = "tiers.projectcalico.org \"" + tier + "\" is forbidden: ";
  if (tier == "default") {
    return Status(Code::Forbidden, what + "the default tier cannot be deleted");
  }
  std::vector<std::string> held;
  for (const char* kind : {"NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy",
                           "StagedGlobalNetworkPolicy"}) {
    const api::KindInfo* k = api::findByKind("projectcalico.org/v3", kind);
    if (k == nullptr) {
      continue;
    }
    auto r = engine_.range(storagePrefix(*k, ""));
    if (!r) {
      return r.error();
    }
    for (const auto& kv : r->kvs) {
      auto obj = kvToValue(kv);
      if (obj && obj->getString("spec.tier", "default") == tier) {
        std::string ns = obj->getString("metadata.namespace");
        held.push_back(std::string(kind) + " " + (ns.empty() ? "" : ns + "/") +
                       obj->getString("metadata.name"));
      }
    }
  }
  if (held.empty()) {
    return {};
  }
  std::string list = held.front();
  if (held.size() > 1) {
    list += " and " + std::to_string(held.size() - 1) + " more";
  }
  return Status(Code::Forbidden, what + "cannot delete a non-empty tier (it holds " + list + ")");
}

Reply Handler::removeItem(const Request& req, const Target& t) {
  if (t.kind->namespaced && t.ns.empty()) {
    return errorReply(Status(Code::NotFound, "the server could not find the requested resource"));
  }
  std::string key = storageKey(*t.kind, t.ns, t.name);
  auto cur = engine_.get(key);
  if (!cur) {
    return errorReply(cur.error(), t.kind, t.name);
  }
  if (!*cur) {
    return errorReply(notFound(*t.kind, t.name), t.kind, t.name);
  }
  int64_t expect = (*cur)->modRevision;
  bool dry = dryRun(req);
  if (!trim(req.body).empty()) {
    auto opts = parseDeleteOptions(req);
    if (!opts) {
      return errorReply(opts.error(), t.kind, t.name);
    }
    std::string rv = opts->getString("preconditions.resourceVersion");
    if (!rv.empty() && rv != std::to_string(expect)) {
      return errorReply(conflict(*t.kind, t.name), t.kind, t.name);
    }
    std::string uid = opts->getString("preconditions.uid");
    auto curObj = kvToValue(**cur);
    if (!uid.empty() && curObj && curObj->getString("metadata.uid") != uid) {
      return errorReply(conflict(*t.kind, t.name), t.kind, t.name);
    }
    // client-go sends DeleteOptions in the body, so `--dry-run=server` arrives here, not in the
    // query.
    if (const Value* d = opts->find("dryRun"); d && d->isArray()) {
      for (const Value& e : d->asArray()) {
        dry = dry || e.asString() == "All";
      }
    }
  }
  std::unique_lock<std::mutex> tierLk;
  if (t.kind->group == "projectcalico.org" && t.kind->kind == "Tier") {
    tierLk = std::unique_lock<std::mutex>(tierMu_);
    if (Status st = tierDeletable(t.name); !st) {
      return errorReply(st, t.kind, t.name);
    }
  }
  if (dry) {
    return jsonReply(200, kvToWire(**cur));
  }
  // Deleting a namespace deletes what it holds first.
  if (t.kind->group.empty() && t.kind->kind == "Namespace") {
    for (const api::KindInfo* k : api::allKinds()) {
      if (!k->namespaced) {
        continue;
      }
      auto r = engine_.range(storagePrefix(*k, t.name));
      if (!r) {
        return errorReply(r.error());
      }
      for (const auto& kv : r->kvs) {
        auto d = engine_.remove(kv.key, 0);
        if (!d && d.code() != Code::NotFound) {
          return errorReply(d.error());
        }
      }
    }
  }
  auto r = engine_.remove(key, expect);
  if (!r) {
    if (r.code() == Code::Conflict) {
      return errorReply(conflict(*t.kind, t.name), t.kind, t.name);
    }
    if (r.code() == Code::NotFound) {
      return errorReply(notFound(*t.kind, t.name), t.kind, t.name);
    }
    return errorReply(r.error(), t.kind, t.name);
  }
  return jsonReply(200, withResourceVersion(r->value, r->modRevision));
}

Reply Handler::removeCollection(const Request& req, const Target& t) {
  auto sel = parseSelectors(req, *t.kind);
  if (!sel) {
    return errorReply(sel.error());
  }
  auto r = engine_.range(storagePrefix(*t.kind, t.ns));
  if (!r) {
    return errorReply(r.error());
  }
  // Tiers: nothing is deleted when one of the selected tiers may not be.
  std::unique_lock<std::mutex> tierLk;
  if (t.kind->group == "projectcalico.org" && t.kind->kind == "Tier") {
    tierLk = std::unique_lock<std::mutex>(tierMu_);
    for (const auto& kv : r->kvs) {
      auto v = parseJson(kv.value);
      if (!v || (sel->active() && !sel->matches(*v))) {
        continue;
      }
      const std::string name = v->getString("metadata.name");
      if (Status st = tierDeletable(name); !st) {
        return errorReply(st, t.kind, name);
      }
    }
  }
  std::string out = "{\"kind\":\"" + listKind(*t.kind) + "\",\"apiVersion\":\"" +
                    t.kind->apiVersion() + "\",\"metadata\":{},\"items\":[";
  bool first = true;
  for (const auto& kv : r->kvs) {
    if (sel->active()) {
      auto v = parseJson(kv.value);
      if (!v || !sel->matches(*v)) {
        continue;
      }
    }
    if (dryRun(req)) {
      continue;
    }
    auto d = engine_.remove(kv.key, kv.modRevision);
    if (!d) {
      if (d.code() == Code::NotFound || d.code() == Code::Conflict) {
        continue;
      }
      return errorReply(d.error());
    }
    if (!first) {
      out.push_back(',');
    }
    first = false;
    out += withResourceVersion(d->value, d->modRevision);
  }
  out += "]}";
  return jsonReply(200, std::move(out));
}

} // namespace caracal::apiserver
