#include "ctl/testing/fake_api_server.h"

#include "common/strings.h"

namespace caracal::ctl::testing {

using datastore::HttpRequest;
using datastore::HttpResponse;

namespace {

std::string percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parseQuery(const std::string& q) {
  std::map<std::string, std::string> out;
  for (const auto& part : split(q, '&')) {
    if (part.empty()) {
      continue;
    }
    size_t eq = part.find('=');
    out[percentDecode(part.substr(0, eq))] =
        eq == std::string::npos ? "" : percentDecode(part.substr(eq + 1));
  }
  return out;
}

// The parts of an API path.
struct Target {
  bool ok = false;
  std::string prefix; // "/api/v1" or "/apis/group/version"
  std::string group;
  std::string ns;
  std::string plural;
  std::string name;

  std::string collection(bool withNs) const {
    return prefix + (withNs && !ns.empty() ? "/namespaces/" + ns : "") + "/" + plural;
  }
  std::string item() const { return collection(true) + "/" + name; }
  std::string resource() const { return group.empty() ? plural : plural + "." + group; }
};

Target parseTarget(const std::string& path) {
  Target t;
  std::vector<std::string> seg;
  for (const auto& s : split(path, '/')) {
    if (!s.empty()) {
      seg.push_back(s);
    }
  }
  size_t i = 0;
  if (seg.size() >= 3 && seg[0] == "api") {
    t.prefix = "/api/" + seg[1];
    i = 2;
  } else if (seg.size() >= 4 && seg[0] == "apis") {
    t.prefix = "/apis/" + seg[1] + "/" + seg[2];
    t.group = seg[1];
    i = 3;
  } else {
    return t;
  }
  if (seg.size() - i >= 3 && seg[i] == "namespaces") {
    t.ns = seg[i + 1];
    i += 2;
  }
  t.plural = seg[i];
  if (i + 1 < seg.size()) {
    t.name = seg[i + 1];
  }
  t.ok = seg.size() <= i + 2;
  return t;
}

HttpResponse json(int status, const Value& body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = toJson(body);
  return r;
}

HttpResponse statusResponse(int code, const std::string& reason, const std::string& message,
                            const std::vector<FieldCause>& causes = {}) {
  Value st = Value::object();
  st.set("kind", "Status");
  st.set("apiVersion", "v1");
  st.set("metadata", Value::object());
  st.set("status", "Failure");
  st.set("message", message);
  st.set("reason", reason);
  Value details = Value::object();
  if (!causes.empty()) {
    Value list = Value::array();
    for (const auto& c : causes) {
      Value cv = Value::object();
      cv.set("reason", c.reason);
      cv.set("message", c.message);
      cv.set("field", c.field);
      list.push(std::move(cv));
    }
    details.set("causes", std::move(list));
  }
  st.set("details", std::move(details));
  st.set("code", code);
  return json(code, st);
}

// RFC 7386.
void mergePatch(Value& target, const Value& patch) {
  if (!patch.isObject()) {
    target = patch;
    return;
  }
  if (!target.isObject()) {
    target = Value::object();
  }
  for (const auto& kv : patch.asObject()) {
    if (kv.second.isNull()) {
      target.erase(kv.first);
    } else {
      mergePatch(target[kv.first], kv.second);
    }
  }
}

// Equality-based label selectors: "a=b,c==d,e!=f".
bool labelsMatch(const Value& obj, const std::string& selector) {
  for (const auto& term : split(selector, ',')) {
    if (term.empty()) {
      continue;
    }
    bool negate = term.find("!=") != std::string::npos;
    size_t eq = term.find(negate ? "!=" : "=");
    if (eq == std::string::npos) {
      if (!obj.path("metadata.labels") || !obj.path("metadata.labels")->has(term)) {
        return false;
      }
      continue;
    }
    std::string key = term.substr(0, eq);
    std::string value = term.substr(term.find_first_not_of("!=", eq));
    const Value* labels = obj.path("metadata.labels");
    const Value* have = labels ? labels->find(key) : nullptr;
    bool equal = have && have->asString() == value;
    if (negate ? equal : !equal) {
      return false;
    }
  }
  return true;
}

class FakeTransport : public datastore::HttpTransport {
public:
  explicit FakeTransport(FakeApiServer& server) : server_(server) {}

  Result<HttpResponse> send(const HttpRequest& req) override { return server_.handle(req); }

  Result<HttpResponse> stream(const HttpRequest& req, const datastore::LineCallback& onLine,
                              const datastore::StreamOptions&) override {
    HttpResponse r = server_.handle(req);
    if (!r.isSuccess()) {
      return r;
    }
    for (const auto& line : split(r.body, '\n')) {
      if (!line.empty() && !onLine(line)) {
        break;
      }
    }
    r.body.clear();
    return r;
  }

private:
  FakeApiServer& server_;
};

} // namespace

FakeApiServer::FakeApiServer() {
  versionInfo = Value::object();
  versionInfo.set("major", "1");
  versionInfo.set("minor", "32");
  versionInfo.set("gitVersion", "v1.32.0-caracal");
}

datastore::HttpTransportPtr FakeApiServer::transport() {
  return std::make_unique<FakeTransport>(*this);
}

void FakeApiServer::seed(const std::string& itemPath, Value obj) {
  Value& meta = obj["metadata"];
  meta.set("resourceVersion", std::to_string(++revision_));
  meta.set("uid", "uid-" + std::to_string(revision_));
  meta.set("creationTimestamp", "2026-01-01T00:00:00Z");
  objects_[itemPath] = std::move(obj);
}

std::optional<Value> FakeApiServer::object(const std::string& itemPath) const {
  auto it = objects_.find(itemPath);
  if (it == objects_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<RecordedRequest> FakeApiServer::requests(const std::string& method) const {
  std::vector<RecordedRequest> out;
  for (const auto& r : requests_) {
    if (r.method == method) {
      out.push_back(r);
    }
  }
  return out;
}

HttpResponse FakeApiServer::handle(const HttpRequest& req) {
  RecordedRequest r;
  r.method = req.method;
  size_t q = req.target.find('?');
  r.path = percentDecode(req.target.substr(0, q));
  r.query = q == std::string::npos ? "" : req.target.substr(q + 1);
  if (const std::string* ct = req.header("Content-Type")) {
    r.contentType = *ct;
  }
  if (const std::string* auth = req.header("Authorization")) {
    r.authorization = *auth;
  }
  r.body = req.body;
  requests_.push_back(r);

  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if ((it->method.empty() || it->method == r.method) &&
        r.path.find(it->pathContains) != std::string::npos) {
      HttpResponse resp = statusResponse(it->status, it->reason, it->message, it->causes);
      if (--it->times <= 0) {
        failures_.erase(it);
      }
      return resp;
    }
  }
  return serve(r);
}

HttpResponse FakeApiServer::serve(const RecordedRequest& r) {
  if (r.path == "/version") {
    return json(200, versionInfo);
  }
  Target t = parseTarget(r.path);
  if (!t.ok) {
    return statusResponse(404, "NotFound", "the server could not find the requested resource");
  }
  auto query = parseQuery(r.query);
  auto notFound = [&] {
    return statusResponse(404, "NotFound", t.resource() + " \"" + t.name + "\" not found");
  };
  auto conflict = [&] {
    return statusResponse(409, "Conflict",
                          "Operation cannot be fulfilled on " + t.resource() + " \"" + t.name +
                              "\": the object has been modified; please apply your changes to "
                              "the latest version and try again");
  };

  if (r.method == "GET" && t.name.empty()) {
    Value list = Value::object();
    list.set("kind", "List");
    list.set("apiVersion", t.prefix.substr(t.prefix.find('/', 1) + 1));
    Value meta = Value::object();
    meta.set("resourceVersion", std::to_string(revision_));
    list.set("metadata", std::move(meta));
    Value items = Value::array();
    for (const auto& [path, obj] : objects_) {
      Target ot = parseTarget(path);
      if (ot.prefix != t.prefix || ot.plural != t.plural || (!t.ns.empty() && ot.ns != t.ns)) {
        continue;
      }
      if (query.count("labelSelector") && !labelsMatch(obj, query["labelSelector"])) {
        continue;
      }
      items.push(obj);
    }
    list.set("items", std::move(items));
    return json(200, list);
  }
  if (r.method == "GET") {
    auto it = objects_.find(t.item());
    return it == objects_.end() ? notFound() : json(200, it->second);
  }
  if (r.method == "POST") {
    auto body = parseJson(r.body);
    if (!body || !body->isObject()) {
      return statusResponse(400, "BadRequest", "the body of the request was not valid JSON");
    }
    t.name = body->getString("metadata.name");
    if (t.name.empty()) {
      return statusResponse(422, "Invalid", "metadata.name: Required value",
                            {{"metadata.name", "Required value", "FieldValueRequired"}});
    }
    if (objects_.count(t.item())) {
      return statusResponse(409, "AlreadyExists",
                            t.resource() + " \"" + t.name + "\" already exists");
    }
    seed(t.item(), std::move(body).value());
    return json(201, objects_[t.item()]);
  }
  if (r.method == "PUT") {
    auto body = parseJson(r.body);
    if (!body || !body->isObject()) {
      return statusResponse(400, "BadRequest", "the body of the request was not valid JSON");
    }
    auto it = objects_.find(t.item());
    if (it == objects_.end()) {
      return notFound();
    }
    if (body->getString("metadata.resourceVersion") !=
        it->second.getString("metadata.resourceVersion")) {
      return conflict();
    }
    Value obj = std::move(body).value();
    obj["metadata"].set("resourceVersion", std::to_string(++revision_));
    it->second = std::move(obj);
    return json(200, it->second);
  }
  if (r.method == "PATCH") {
    auto it = objects_.find(t.item());
    if (it == objects_.end()) {
      return notFound();
    }
    auto body = parseJson(r.body);
    if (!body) {
      return statusResponse(400, "BadRequest", "the patch is not valid JSON");
    }
    if (r.contentType != "application/json-patch+json") {
      std::string rv = body->getString("metadata.resourceVersion");
      if (!rv.empty() && rv != it->second.getString("metadata.resourceVersion")) {
        return conflict();
      }
      mergePatch(it->second, *body);
    }
    it->second["metadata"].set("resourceVersion", std::to_string(++revision_));
    return json(200, it->second);
  }
  if (r.method == "DELETE") {
    auto it = objects_.find(t.item());
    if (it == objects_.end()) {
      return notFound();
    }
    Value obj = std::move(it->second);
    objects_.erase(it);
    return json(200, obj);
  }
  return statusResponse(405, "MethodNotAllowed", "method " + r.method + " not allowed");
}

} // namespace caracal::ctl::testing
