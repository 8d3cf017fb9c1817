#pragma once
// The REST client of every caracal component: Kubernetes API conventions over an HttpTransport.
//
// Paths come from the resource model (`api::KindInfo`):
//   core group:  /api/v1[/namespaces/{ns}]/{plural}[/{name}]
//   others:      /apis/{group}/{version}[/namespaces/{ns}]/{plural}[/{name}]
// An empty namespace for a namespaced kind addresses all namespaces (lists and watches only).
//
// Every failed call returns the server's error as a Status: the Kubernetes Status body's `reason`
// gives the Code (NotFound, AlreadyExists, Conflict, Invalid, Gone, ...; the HTTP status when
// there is no reason), its `message` is kept verbatim and `details.causes` become FieldCauses, so
// callers print exactly what the server said. Transport failures keep the transport's Code
// (Unavailable, Timeout, TooLarge).
//
// Threading: all methods may be called from several threads. A watch runs on its own thread; the
// RestClient must outlive every WatchHandle it returned.

#include "api/registry.h"
#include "common/result.h"
#include "common/value.h"
#include "datastore/http_transport.h"
#include "datastore/kubeconfig.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace caracal::datastore {

enum class PatchType {
  Merge,     // application/merge-patch+json (RFC 7386)
  Strategic, // application/strategic-merge-patch+json
  Json,      // application/json-patch+json (RFC 6902)
  Apply,     // application/apply-patch+yaml (server-side apply; needs a field manager)
};
const char* patchContentType(PatchType t);
// "merge", "strategic", "json", "apply" (case-insensitive).
Result<PatchType> parsePatchType(std::string_view name);

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  int64_t limit = 500;         // page size; the client follows `continue` until the end. 0: unpaged
  std::string resourceVersion; // first page only; "" means most recent
};

struct ObjectList {
  std::string apiVersion;      // "projectcalico.org/v3"
  std::string kind;            // "IPPoolList"
  std::string resourceVersion; // of the list, to start a watch from
  std::vector<Value> items;
};

struct WriteOptions {
  std::string fieldManager;    // required for PatchType::Apply
  std::string fieldValidation; // "Strict", "Warn", "Ignore"; "" leaves the server default
  bool dryRun = false;         // dryRun=All
  bool force = false;          // server-side apply only: take over conflicting fields
};

struct WatchEvent {
  enum class Type { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Added;
  Value object; // the object; for Error, the Status object
};
const char* watchEventTypeName(WatchEvent::Type t);

struct WatchOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::string resourceVersion; // start after this revision; "" means "from now"
  bool allowBookmarks = true;
  int timeoutSeconds = 0;                     // server-side stream duration; 0: server default
  std::chrono::milliseconds clientTimeout{0}; // client-side deadline; 0: none
};

// A running watch. stop() ends it (idempotently) and waits for the watch thread; after stop()
// returns no callback is running or will run. The destructor stops the watch. Called from the
// watch's own callbacks, stop() only asks the stream to end (it cannot wait for itself).
class WatchHandle {
public:
  ~WatchHandle();
  WatchHandle(const WatchHandle&) = delete;
  WatchHandle& operator=(const WatchHandle&) = delete;

  void stop();
  // Blocks until the stream ends by itself (or stop()), and returns why it ended: ok when the
  // server closed the stream or it was stopped, else the error (an ERROR event's Status, such as
  // Code::Gone for a compacted resourceVersion, an HTTP error or a transport failure).
  Status wait();
  bool done() const;

private:
  friend class RestClient;
  WatchHandle() = default;

  std::shared_ptr<StreamCancel> cancel_ = std::make_shared<StreamCancel>();
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status result_;
};
using WatchHandlePtr = std::unique_ptr<WatchHandle>;

class RestClient {
public:
  explicit RestClient(HttpTransportPtr transport, std::string token = "");

  // A client with the Boost.Beast transport for `cfg`.
  static Result<std::unique_ptr<RestClient>> fromConfig(const ClientConfig& cfg);

  static std::string collectionPath(const api::KindInfo& info, std::string_view ns);
  static std::string itemPath(const api::KindInfo& info, std::string_view ns,
                              std::string_view name);

  Result<Value> get(const api::KindInfo& info, std::string_view ns, std::string_view name);
  // Lists, following `continue` tokens until the last page.
  Result<ObjectList> list(const api::KindInfo& info, std::string_view ns,
                          const ListOptions& opts = {});
  // POST; the namespace is metadata.namespace of `obj`. Returns the stored object.
  Result<Value> create(const api::KindInfo& info, const Value& obj, const WriteOptions& opts = {});
  // PUT; metadata.resourceVersion of `obj` must match the stored one (else Code::Conflict).
  Result<Value> update(const api::KindInfo& info, const Value& obj, const WriteOptions& opts = {});
  Result<Value> patch(const api::KindInfo& info, std::string_view ns, std::string_view name,
                      PatchType type, std::string_view body, const WriteOptions& opts = {});
  // DELETE; returns the deleted object (or the server's Status object).
  Result<Value> remove(const api::KindInfo& info, std::string_view ns, std::string_view name);

  // Starts a watch on its own thread. Events arrive in order on that thread; `onClose` (optional)
  // is called once, last, with the same Status that wait() returns.
  Result<WatchHandlePtr> watch(const api::KindInfo& info, std::string_view ns,
                               const WatchOptions& opts,
                               std::function<void(const WatchEvent&)> onEvent,
                               std::function<void(const Status&)> onClose = {});
  // The same on the calling thread: returns when the stream ends, `onEvent` returns false, or
  // `cancel` is cancelled.
  Status watchSync(const api::KindInfo& info, std::string_view ns, const WatchOptions& opts,
                   const std::function<bool(const WatchEvent&)>& onEvent,
                   std::shared_ptr<StreamCancel> cancel = nullptr);

  // GET /version: {"major":"1","minor":"32","gitVersion":...}.
  Result<Value> version();

  // Sends any request with the client's headers (Authorization, Accept, User-Agent) added when
  // absent. The response is returned as is, whatever its status.
  Result<HttpResponse> request(HttpRequest req);
  // Like request(), but a non-2xx status becomes its Status and the body is decoded as JSON.
  Result<Value> requestJson(HttpRequest req);

  void setUserAgent(std::string ua) { userAgent_ = std::move(ua); }

private:
  void addHeaders(HttpRequest& req) const;

  HttpTransportPtr transport_;
  std::string token_;
  std::string userAgent_;
};

// The Status carried by an error response (see the header comment).
Status statusFromResponse(const HttpResponse& resp);
// The Status described by a Kubernetes Status object (as in a watch ERROR event); `httpStatus`
// is used when the object has no code.
Status statusFromObject(const Value& status, int httpStatus = 0);
// Percent-encodes a query parameter value.
std::string queryEscape(std::string_view s);

} // namespace caracal::datastore
