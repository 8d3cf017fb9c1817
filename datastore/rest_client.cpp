#include "datastore/rest_client.h"

#include "common/strings.h"

#ifndef CARACAL_VERSION
#define CARACAL_VERSION "0.0.0"
#endif

namespace caracal::datastore {

namespace {

Code codeFromHttp(int status) {
  switch (status) {
  case 400:
    return Code::BadRequest;
  case 401:
    return Code::Unauthorized;
  case 403:
    return Code::Forbidden;
  case 404:
    return Code::NotFound;
  case 405:
    return Code::BadRequest;
  case 406:
    return Code::BadRequest;
  case 409:
    return Code::Conflict;
  case 410:
    return Code::Gone;
  case 413:
    return Code::TooLarge;
  case 415:
    return Code::BadRequest;
  case 422:
    return Code::Invalid;
  case 429:
    return Code::Unavailable;
  case 500:
    return Code::Internal;
  case 503:
    return Code::Unavailable;
  case 504:
    return Code::Timeout;
  default:
    break;
  }
  if (status >= 500) {
    return Code::Internal;
  }
  return Code::BadRequest;
}

// Kubernetes StatusReason → Code; nullopt-like Ok for reasons that do not refine the HTTP code.
Code codeFromReason(std::string_view reason) {
  if (reason == "NotFound") {
    return Code::NotFound;
  }
  if (reason == "AlreadyExists") {
    return Code::AlreadyExists;
  }
  if (reason == "Conflict") {
    return Code::Conflict;
  }
  if (reason == "Invalid") {
    return Code::Invalid;
  }
  if (reason == "BadRequest" || reason == "MethodNotAllowed" || reason == "NotAcceptable" ||
      reason == "UnsupportedMediaType") {
    return Code::BadRequest;
  }
  if (reason == "Unauthorized") {
    return Code::Unauthorized;
  }
  if (reason == "Forbidden") {
    return Code::Forbidden;
  }
  if (reason == "Gone" || reason == "Expired") {
    return Code::Gone;
  }
  if (reason == "RequestEntityTooLarge") {
    return Code::TooLarge;
  }
  if (reason == "Timeout" || reason == "ServerTimeout") {
    return Code::Timeout;
  }
  if (reason == "ServiceUnavailable" || reason == "TooManyRequests") {
    return Code::Unavailable;
  }
  if (reason == "InternalError") {
    return Code::Internal;
  }
  return Code::Ok;
}

class Query {
public:
  void add(std::string_view key, std::string_view value) {
    if (value.empty()) {
      return;
    }
    s_ += s_.empty() ? '?' : '&';
    s_ += key;
    s_ += '=';
    s_ += queryEscape(value);
  }
  const std::string& str() const { return s_; }

private:
  std::string s_;
};

void addWriteOptions(Query& q, const WriteOptions& opts) {
  q.add("fieldManager", opts.fieldManager);
  q.add("fieldValidation", opts.fieldValidation);
  if (opts.dryRun) {
    q.add("dryRun", "All");
  }
}

std::string namespaceOf(const api::KindInfo& info, const Value& obj) {
  return info.namespaced ? obj.getString("metadata.namespace") : std::string();
}

Result<WatchEvent> decodeEvent(std::string_view line) {
  auto v = parseJson(line);
  if (!v) {
    return v.error().withContext("decoding watch event");
  }
  WatchEvent ev;
  std::string type = v->getString("type");
  if (type == "ADDED") {
    ev.type = WatchEvent::Type::Added;
  } else if (type == "MODIFIED") {
    ev.type = WatchEvent::Type::Modified;
  } else if (type == "DELETED") {
    ev.type = WatchEvent::Type::Deleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEvent::Type::Bookmark;
  } else if (type == "ERROR") {
    ev.type = WatchEvent::Type::Error;
  } else {
    return Status(Code::Internal, "decoding watch event: unknown type \"" + type + "\"");
  }
  if (Value* obj = v->find("object")) {
    ev.object = std::move(*obj);
  }
  return ev;
}

} // namespace

const char* patchContentType(PatchType t) {
  switch (t) {
  case PatchType::Merge:
    return "application/merge-patch+json";
  case PatchType::Strategic:
    return "application/strategic-merge-patch+json";
  case PatchType::Json:
    return "application/json-patch+json";
  case PatchType::Apply:
    return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

Result<PatchType> parsePatchType(std::string_view name) {
  std::string n = toLower(name);
  if (n == "merge") {
    return PatchType::Merge;
  }
  if (n == "strategic") {
    return PatchType::Strategic;
  }
  if (n == "json") {
    return PatchType::Json;
  }
  if (n == "apply") {
    return PatchType::Apply;
  }
  return Status(Code::Invalid, "unknown patch type \"" + std::string(name) +
                                   "\" (allowed: json, merge, strategic)");
}

const char* watchEventTypeName(WatchEvent::Type t) {
  switch (t) {
  case WatchEvent::Type::Added:
    return "ADDED";
  case WatchEvent::Type::Modified:
    return "MODIFIED";
  case WatchEvent::Type::Deleted:
    return "DELETED";
  case WatchEvent::Type::Bookmark:
    return "BOOKMARK";
  case WatchEvent::Type::Error:
    return "ERROR";
  }
  return "ERROR";
}

std::string queryEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Status statusFromObject(const Value& st, int httpStatus) {
  int code = static_cast<int>(st.find("code") ? st.find("code")->asInt() : 0);
  if (code == 0) {
    code = httpStatus;
  }
  Code c = codeFromReason(st.getString("reason"));
  if (c == Code::Ok) {
    c = code ? codeFromHttp(code) : Code::Internal;
  }
  std::string message = st.getString("message");
  if (message.empty()) {
    message = st.getString("reason");
  }
  if (message.empty()) {
    message = "the server reported a failure (HTTP " + std::to_string(code) + ")";
  }
  Status s(c, message);
  if (const Value* causes = st.path("details.causes")) {
    for (const auto& cause : causes->asArray()) {
      FieldCause fc;
      fc.field = cause.getString("field");
      fc.message = cause.getString("message");
      std::string reason = cause.getString("reason");
      if (!reason.empty()) {
        fc.reason = reason;
      }
      s.mutableCauses().push_back(std::move(fc));
    }
  }
  return s;
}

Status statusFromResponse(const HttpResponse& resp) {
  if (resp.isSuccess()) {
    return Status::ok();
  }
  auto v = parseJson(resp.body);
  if (v && v->isObject() && v->getString("kind") == "Status") {
    return statusFromObject(*v, resp.status);
  }
  std::string body = trim(resp.body);
  if (body.size() > 1024) {
    body = body.substr(0, 1024) + "...";
  }
  std::string message = "the server responded with HTTP " + std::to_string(resp.status);
  if (!body.empty()) {
    message += ": " + body;
  }
  return Status(codeFromHttp(resp.status), message);
}

WatchHandle::~WatchHandle() {
  stop();
  if (thread_.joinable()) {
    thread_.detach(); // destroyed from its own callback: the thread is about to finish
  }
}

void WatchHandle::stop() {
  cancel_->cancel();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

Status WatchHandle::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  return result_;
}

bool WatchHandle::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

RestClient::RestClient(HttpTransportPtr transport, std::string token)
    : transport_(std::move(transport)), token_(std::move(token)),
      userAgent_(std::string("caracal/") + CARACAL_VERSION) {}

Result<std::unique_ptr<RestClient>> RestClient::fromConfig(const ClientConfig& cfg) {
  TransportConfig tc;
  tc.server = cfg.server;
  tc.caPem = cfg.caPem;
  tc.insecureSkipTlsVerify = cfg.insecure;
  tc.clientCertPem = cfg.clientCertPem;
  tc.clientKeyPem = cfg.clientKeyPem;
  auto t = makeBeastTransport(tc);
  if (!t) {
    return t.error().withContext(cfg.source.empty() ? cfg.server : cfg.source);
  }
  return std::make_unique<RestClient>(std::move(t).value(), cfg.token);
}

std::string RestClient::collectionPath(const api::KindInfo& info, std::string_view ns) {
  std::string p =
      info.group.empty() ? "/api/" + info.version : "/apis/" + info.group + "/" + info.version;
  if (info.namespaced && !ns.empty()) {
    p += "/namespaces/";
    p += queryEscape(ns);
  }
  p += "/";
  p += info.plural;
  return p;
}

std::string RestClient::itemPath(const api::KindInfo& info, std::string_view ns,
                                 std::string_view name) {
  return collectionPath(info, ns) + "/" + queryEscape(name);
}

void RestClient::addHeaders(HttpRequest& req) const {
  if (!req.header("Accept")) {
    req.setHeader("Accept", "application/json");
  }
  if (!req.header("User-Agent")) {
    req.setHeader("User-Agent", userAgent_);
  }
  if (!token_.empty() && !req.header("Authorization")) {
    req.setHeader("Authorization", "Bearer " + token_);
  }
  if (!req.body.empty() && !req.header("Content-Type")) {
    req.setHeader("Content-Type", "application/json");
  }
}

Result<HttpResponse> RestClient::request(HttpRequest req) {
  addHeaders(req);
  return transport_->send(req);
}

Result<Value> RestClient::requestJson(HttpRequest req) {
  std::string what = req.method + " " + req.target;
  ASSIGN_OR_RETURN(HttpResponse resp, request(std::move(req)));
  if (!resp.isSuccess()) {
    return statusFromResponse(resp);
  }
  if (trim(resp.body).empty()) {
    return Value::object();
  }
  auto v = parseJson(resp.body);
  if (!v) {
    return Status(Code::Internal, "decoding the response to " + what + ": " + v.error().message());
  }
  return v;
}

Result<Value> RestClient::get(const api::KindInfo& info, std::string_view ns,
                              std::string_view name) {
  HttpRequest req;
  req.target = itemPath(info, ns, name);
  return requestJson(std::move(req));
}

Result<ObjectList> RestClient::list(const api::KindInfo& info, std::string_view ns,
                                    const ListOptions& opts) {
  ObjectList out;
  std::string cont;
  for (bool first = true; first || !cont.empty(); first = false) {
    Query q;
    q.add("labelSelector", opts.labelSelector);
    q.add("fieldSelector", opts.fieldSelector);
    if (opts.limit > 0) {
      q.add("limit", std::to_string(opts.limit));
    }
    if (first) {
      q.add("resourceVersion", opts.resourceVersion);
    }
    q.add("continue", cont);
    HttpRequest req;
    req.target = collectionPath(info, ns) + q.str();
    ASSIGN_OR_RETURN(Value page, requestJson(std::move(req)));
    if (!page.isObject() || (page.find("items") && !page.find("items")->isArray())) {
      return Status(Code::Internal, "decoding the list of " + info.plural + ": not a list");
    }
    out.apiVersion = page.getString("apiVersion", info.apiVersion());
    out.kind = page.getString("kind", info.kind + "List");
    out.resourceVersion = page.getString("metadata.resourceVersion");
    if (Value* items = page.find("items")) {
      for (auto& item : items->mutableArray()) {
        out.items.push_back(std::move(item));
      }
    }
    cont = page.getString("metadata.continue");
  }
  return out;
}

Result<Value> RestClient::create(const api::KindInfo& info, const Value& obj,
                                 const WriteOptions& opts) {
  Query q;
  addWriteOptions(q, opts);
  HttpRequest req;
  req.method = "POST";
  req.target = collectionPath(info, namespaceOf(info, obj)) + q.str();
  req.body = toJson(obj);
  return requestJson(std::move(req));
}

Result<Value> RestClient::update(const api::KindInfo& info, const Value& obj,
                                 const WriteOptions& opts) {
  std::string name = obj.getString("metadata.name");
  if (name.empty()) {
    return Status::invalidField("metadata.name", "required value");
  }
  Query q;
  addWriteOptions(q, opts);
  HttpRequest req;
  req.method = "PUT";
  req.target = itemPath(info, namespaceOf(info, obj), name) + q.str();
  req.body = toJson(obj);
  return requestJson(std::move(req));
}

Result<Value> RestClient::patch(const api::KindInfo& info, std::string_view ns,
                                std::string_view name, PatchType type, std::string_view body,
                                const WriteOptions& opts) {
  if (type == PatchType::Apply && opts.fieldManager.empty()) {
    return Status(Code::Invalid, "server-side apply needs a field manager");
  }
  Query q;
  addWriteOptions(q, opts);
  if (type == PatchType::Apply && opts.force) {
    q.add("force", "true");
  }
  HttpRequest req;
  req.method = "PATCH";
  req.target = itemPath(info, ns, name) + q.str();
  req.body = std::string(body);
  req.setHeader("Content-Type", patchContentType(type));
  return requestJson(std::move(req));
}

Result<Value> RestClient::remove(const api::KindInfo& info, std::string_view ns,
                                 std::string_view name) {
  HttpRequest req;
  req.method = "DELETE";
  req.target = itemPath(info, ns, name);
  return requestJson(std::move(req));
}

Result<Value> RestClient::version() {
  HttpRequest req;
  req.target = "/version";
  return requestJson(std::move(req));
}

Status RestClient::watchSync(const api::KindInfo& info, std::string_view ns,
                             const WatchOptions& opts,
                             const std::function<bool(const WatchEvent&)>& onEvent,
                             std::shared_ptr<StreamCancel> cancel) {
  Query q;
  q.add("watch", "true");
  q.add("labelSelector", opts.labelSelector);
  q.add("fieldSelector", opts.fieldSelector);
  q.add("resourceVersion", opts.resourceVersion);
  if (opts.allowBookmarks) {
    q.add("allowWatchBookmarks", "true");
  }
  if (opts.timeoutSeconds > 0) {
    q.add("timeoutSeconds", std::to_string(opts.timeoutSeconds));
  }
  HttpRequest req;
  req.target = collectionPath(info, ns) + q.str();
  addHeaders(req);

  Status ended;
  StreamOptions so;
  so.timeout = opts.clientTimeout;
  so.cancel = std::move(cancel);
  auto r = transport_->stream(
      req,
      [&](std::string_view line) {
        auto ev = decodeEvent(line);
        if (!ev) {
          ended = ev.error();
          return false;
        }
        if (ev->type == WatchEvent::Type::Error) {
          ended = statusFromObject(ev->object, 500);
        }
        return onEvent(*ev);
      },
      so);
  if (!r) {
    return r.error();
  }
  if (r->status != 0 && !r->isSuccess()) {
    return statusFromResponse(*r);
  }
  return ended;
}

Result<WatchHandlePtr> RestClient::watch(const api::KindInfo& info, std::string_view ns,
                                         const WatchOptions& opts,
                                         std::function<void(const WatchEvent&)> onEvent,
                                         std::function<void(const Status&)> onClose) {
  if (!onEvent) {
    return Status(Code::Invalid, "watch needs an event callback");
  }
  WatchHandlePtr h(new WatchHandle());
  WatchHandle* raw = h.get();
  h->thread_ = std::thread([this, raw, info = info, ns = std::string(ns), opts,
                            onEvent = std::move(onEvent), onClose = std::move(onClose)] {
    Status st = watchSync(
        info, ns, opts,
        [&](const WatchEvent& ev) {
          onEvent(ev);
          return true;
        },
        raw->cancel_);
    if (onClose) {
      onClose(st);
    }
    std::lock_guard<std::mutex> lock(raw->mu_);
    raw->result_ = st;
    raw->done_ = true;
    raw->cv_.notify_all();
  });
  return h;
}

} // namespace caracal::datastore
