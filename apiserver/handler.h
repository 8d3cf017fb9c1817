#pragma once
// The REST semantics of caracal-apiserver, independent of the HTTP transport.
//
// `Handler::handle()` turns one authenticated request into a reply, following Kubernetes API
// conventions closely enough for real kubectl: discovery, OpenAPI v3, CRUD with resourceVersion
// preconditions, list with label/field selectors and pagination, Table output, the four patch
// formats, and watch streams. All state lives in the storage engine; the handler keeps only caches
// that can be rebuilt (encoded watch events) and the set of open watch streams.
//
// Threading: handle() is thread-safe and may block on a store write (group commit); the transport
// calls it from a worker pool, never from an I/O thread. Watch streams are fed from the engine's
// commit thread and must never block it: they hand shared, pre-encoded chunks to a StreamSink whose
// queue is bounded; a sink that is full makes the stream end with a clear reason.

#include "common/clock.h"
#include "common/result.h"
#include "common/value.h"
#include "datastore/engine.h"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace caracal::api {
struct KindInfo;
}

namespace caracal::apiserver {

struct Request {
  std::string method; // upper case
  std::string path;   // percent-decoded, without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  std::string header(const std::string& lowerName) const;
  std::string param(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
};

// The transport side of a streamed reply (watch). Thread-safe.
class StreamSink {
public:
  virtual ~StreamSink() = default;
  // Queues one chunk; false when the client is gone or too far behind (the sink then closes itself
  // after sending whatever `closeWith` gives, and the stream must stop sending).
  virtual bool send(std::shared_ptr<const std::string> chunk) = 0;
  // Sends `last` (may be empty) and ends the reply.
  virtual void close(std::string last) = 0;
};

// The handler side of a streamed reply.
class Stream {
public:
  virtual ~Stream() = default;
  // Called once the status line and headers are on the wire.
  virtual void start(std::shared_ptr<StreamSink> sink) = 0;
  // Called by the transport when the connection ends; no send() follows its return.
  virtual void stop() = 0;
};

struct Reply {
  Response response;
  std::shared_ptr<Stream> stream; // set for watch: send headers (chunked), then start()
};

struct HandlerOptions {
  std::string token; // required bearer token; empty disables auth
  std::chrono::milliseconds bookmarkInterval{std::chrono::seconds(10)};
  int64_t historyKeep = 100000; // revisions of watch history kept before compaction
  std::string serverAddress = "127.0.0.1:6443";
};

class WatchRegistry;

class Handler {
public:
  Handler(datastore::Engine& engine, HandlerOptions opts);
  ~Handler();
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

  // True when the request carries the bearer token (or auth is off).
  bool authenticate(const Request& req) const;
  // A 401 reply in Kubernetes' Status form.
  Reply unauthorized() const;
  Reply handle(const Request& req);
  // Renders a Status as a reply (used by the transport for its own errors: body too large, ...).
  static Response errorResponse(const Status& st);

  // Creates what a new cluster always has when it is missing: the namespaces default, kube-system,
  // kube-public and kube-node-lease, Calico's built-in tiers and ClusterInformation "default".
  Status bootstrap();

  // Stops every open watch stream (server shutdown).
  void shutdown();

private:
  struct Target;
  Reply discovery(const Request& req);
  Reply openapi(const Request& req);
  Reply resource(const Request& req, const Target& t);
  Reply getItem(const Request& req, const Target& t);
  Reply list(const Request& req, const Target& t);
  Reply watch(const Request& req, const Target& t);
  Reply create(const Request& req, const Target& t);
  Reply replace(const Request& req, const Target& t);
  Reply patch(const Request& req, const Target& t);
  Status tierDeletable(const std::string& tier);
  Reply removeItem(const Request& req, const Target& t);
  Reply removeCollection(const Request& req, const Target& t);

  // Checks, defaults and stores `obj` as a new object.
  Result<datastore::KeyValue> createObject(const api::KindInfo& kind, Value obj,
                                           const Request& req);
  // Validates `obj` as the replacement of `cur` and writes it if `cur` is still current.
  Result<datastore::KeyValue> updateObject(const api::KindInfo& kind, const Value& cur,
                                           int64_t curRev, Value obj, const Request& req);
  Status checkNamespaceExists(const std::string& ns);
  // A (Global)NetworkPolicy or staged one must name an existing Tier (Calico: tier "default"
  // when unset). Callers hold tierMu_.
  Status checkTierExists(const api::KindInfo& kind, const Value& obj);
  Status crossObjectChecks(const api::KindInfo& kind, const Value& obj);
  std::mutex& kindLock(const api::KindInfo& kind);
  // Held across a write whose validation reads other objects of the kind (IPPool overlap).
  std::unique_lock<std::mutex> lockForCrossChecks(const api::KindInfo& kind);

  datastore::Engine& engine_;
  HandlerOptions opts_;
  std::unique_ptr<WatchRegistry> watches_;
  std::mutex kindLocksMu_;
  // Serialises tier deletions with the tier checks of policy writes, so no policy lands in a
  // tier while it is deleted.
  std::mutex tierMu_;
  std::map<const api::KindInfo*, std::unique_ptr<std::mutex>> kindLocks_;
  std::string openapiIndex_;
  std::map<std::string, std::string> openapiDocs_; // "apis/projectcalico.org/v3" -> document
};

// Storage key of an object; the prefix of a kind (ns empty: all namespaces).
std::string storageKey(const api::KindInfo& kind, const std::string& ns, const std::string& name);
std::string storagePrefix(const api::KindInfo& kind, const std::string& ns);
// Stored JSON text -> wire JSON with metadata.resourceVersion set, without a full re-encode.
std::string withResourceVersion(const std::string& stored, int64_t rev);
// RFC 3339 UTC time of now (common/clock.h).
using ::caracal::nowRfc3339;

} // namespace caracal::apiserver
