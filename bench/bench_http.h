#pragma once
// HTTPS clients for the benchmarks (the only benchmark translation unit with Boost.Beast/Asio is
// bench_http.cpp).
//
// - HttpsConnection: one blocking keep-alive connection, like one kubectl or controller client.
//   Verifies the server against the CA of the endpoint and sends the bearer token.
// - WatchFleet: many watch connections driven by a few asio threads (not a thread per watch). Each
//   watcher de-chunks its stream, splits it into events and, for every event whose object carries
//   the stamp annotation ("<seq>:<sentNs>", sentNs from nowNs() of this process), records the
//   delivery latency = time the bytes were read − sentNs, by seq.

#include "bench/bench_support.h"
#include "common/result.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace caracal::bench {

struct HttpResult {
  int status = 0;
  std::string body;
  double headerSeconds = 0; // request written -> response header read
  double totalSeconds = 0;  // request written -> last body byte read
};

class HttpsConnection {
public:
  // Connects and completes the TLS handshake (certificate verified against endpoint.caPem).
  static Result<std::unique_ptr<HttpsConnection>> open(const Endpoint& endpoint);
  ~HttpsConnection();
  HttpsConnection(const HttpsConnection&) = delete;
  HttpsConnection& operator=(const HttpsConnection&) = delete;

  // One request on the kept-alive connection; JSON body when not empty. Transport errors are
  // Code::Unavailable; an HTTP error status is a result, not an error.
  Result<HttpResult> request(const std::string& method, const std::string& target,
                             const std::string& body = "");

  struct Impl;

private:
  explicit HttpsConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct WatchFleetOptions {
  Endpoint endpoint;
  std::string target; // "/apis/...?watch=true&resourceVersion=N"
  int connections = 1000;
  int threads = 2;
  std::string stampKey;      // annotation whose value is "<seq>:<sentNs>"
  size_t expectedEvents = 0; // seq range [0, expectedEvents) recorded per watcher
  int maxConnecting = 64;    // connection attempts in flight at once
  std::chrono::seconds connectTimeout{120};
};

struct WatcherResult {
  uint64_t events = 0;             // ADDED/MODIFIED/DELETED lines
  uint64_t stamped = 0;            // events with a readable stamp in range
  uint64_t bytes = 0;              // de-chunked body bytes
  uint64_t reads = 0;              // read completions with body data
  bool ended = false;              // the server ended the stream or the connection failed
  std::string endReason;           // why, when ended
  std::vector<uint32_t> latencyUs; // by seq; kMissing when not received
};

constexpr uint32_t kMissing = UINT32_MAX;

class WatchFleet {
public:
  explicit WatchFleet(WatchFleetOptions opts);
  ~WatchFleet();
  WatchFleet(const WatchFleet&) = delete;
  WatchFleet& operator=(const WatchFleet&) = delete;

  // Opens every watch and returns once each has its 200 response header (error otherwise: the
  // first failure, with how many connected).
  Status start();
  // Events received so far over all watchers.
  uint64_t eventsReceived() const;
  // Watchers whose stream has ended (server close, error event, broken connection).
  size_t endedCount() const;
  // Closes every connection and joins the threads; idempotent.
  void stop();
  // Per-watcher results; call after stop().
  std::vector<WatcherResult> results() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::bench
