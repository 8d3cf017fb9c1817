#pragma once
// An in-memory Kubernetes-style API server behind the HttpTransport interface, for caracalctl
// tests. Objects are kept by item path; GET/list (with simple equality label selectors), POST,
// PUT (resourceVersion must match), PATCH (merge and strategic patches applied as JSON merge
// patches, with the resourceVersion check when the patch carries one; JSON patches are recorded
// and leave the object unchanged) and DELETE behave as the real server does, with Kubernetes
// Status bodies on errors. Every request is recorded, and failures can be injected.
//
// Not thread-safe: tests drive it from one thread.

#include "common/value.h"
#include "datastore/http_transport.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caracal::ctl::testing {

struct RecordedRequest {
  std::string method;
  std::string path;  // decoded path, without the query
  std::string query; // raw query, without '?'
  std::string contentType;
  std::string authorization;
  std::string body;
};

struct InjectedFailure {
  std::string method;       // "" matches any
  std::string pathContains; // "" matches any
  int status = 500;
  std::string reason = "InternalError";
  std::string message = "injected failure";
  std::vector<FieldCause> causes;
  int times = 1; // how many matching requests fail
};

class FakeApiServer {
public:
  FakeApiServer();

  // A transport that sends to this server; the server must outlive it.
  datastore::HttpTransportPtr transport();

  // Stores `obj` at `itemPath` as if created (resourceVersion, uid and creationTimestamp set).
  void seed(const std::string& itemPath, Value obj);
  std::optional<Value> object(const std::string& itemPath) const;
  size_t objectCount() const { return objects_.size(); }

  void inject(InjectedFailure f) { failures_.push_back(std::move(f)); }

  // The requests seen so far, oldest first; optionally only those of one method.
  const std::vector<RecordedRequest>& requests() const { return requests_; }
  std::vector<RecordedRequest> requests(const std::string& method) const;
  void clearRequests() { requests_.clear(); }

  // The body served at /version.
  Value versionInfo;

  datastore::HttpResponse handle(const datastore::HttpRequest& req);

private:
  datastore::HttpResponse serve(const RecordedRequest& r);

  std::map<std::string, Value> objects_;
  std::vector<InjectedFailure> failures_;
  std::vector<RecordedRequest> requests_;
  int64_t revision_ = 100;
};

} // namespace caracal::ctl::testing
