#pragma once
// HTTP/1.1 transport under the REST client.
//
// `HttpTransport` is the narrow seam between the REST client and the network: one request in, one
// response out (`send`), plus a streaming call for watches that hands the body over line by line
// (`stream`). The real implementation (`makeBeastTransport`) speaks HTTP/1.1 over plain TCP or TLS
// with Boost.Beast, keeps idle connections for reuse, and verifies the server certificate against
// the configured CA and the host name or IP address in the server URL. Tests substitute in-memory
// fakes.
//
// Errors: a failure to connect, a TLS failure or a broken connection is Code::Unavailable; a
// timeout is Code::Timeout; a response body over the configured limit is Code::TooLarge. An HTTP
// error status is NOT an error at this layer: it is returned as a response for the caller to
// decode.
//
// Threading: transports are safe to use from several threads at once; each call uses its own
// connection (idle keep-alive connections are shared through a pool).

#include "common/result.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caracal::datastore {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target; // origin form: "/apis/projectcalico.org/v3/ippools?limit=500"
  HttpHeaders headers;
  std::string body;

  // Replaces any header of that name (case-insensitive) or adds it.
  void setHeader(std::string_view name, std::string value);
  // The value of a header (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;

  // The value of a header (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const;
  bool isSuccess() const { return status >= 200 && status < 300; }
};

// Stops a running `stream()` from another thread. cancel() is idempotent and may be called before,
// during or after the stream; a stream started with an already cancelled token returns at once.
class StreamCancel {
public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

  // For transports: installs the action that interrupts blocking I/O (run by cancel()), and removes
  // it again before the I/O objects it refers to are destroyed. Returns false (and installs
  // nothing) when already cancelled.
  bool setInterrupt(std::function<void()> fn);
  void clearInterrupt();

private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::function<void()> interrupt_;
};

struct StreamOptions {
  // Deadline for the whole stream, from the start of the call; zero means no deadline.
  std::chrono::milliseconds timeout{0};
  // Optional cancellation token.
  std::shared_ptr<StreamCancel> cancel;
};

// Called once per complete line of a streamed body (without the newline). Returning false stops the
// stream. Empty lines are skipped.
using LineCallback = std::function<bool(std::string_view line)>;

class HttpTransport {
public:
  virtual ~HttpTransport() = default;

  // Sends one request and reads the whole response.
  virtual Result<HttpResponse> send(const HttpRequest& req) = 0;

  // Sends one request and, when the status is 2xx, delivers the body line by line as it arrives.
  // Returns the response head (status, headers; the body is empty) once the server ends the body,
  // the callback returns false, or the stream is cancelled. When the status is not 2xx, no line is
  // delivered and the whole (size-limited) body is returned in the response. Reaching the deadline
  // gives Code::Timeout.
  virtual Result<HttpResponse> stream(const HttpRequest& req, const LineCallback& onLine,
                                      const StreamOptions& opts) = 0;
};
using HttpTransportPtr = std::unique_ptr<HttpTransport>;

constexpr size_t kDefaultMaxBodyBytes = size_t(512) << 20; // big lists fit

struct TransportConfig {
  std::string server;                 // "https://host:port[/prefix]" or "http://host:port"
  std::string caPem;                  // trusted CA certificates (PEM); empty: system roots
  bool insecureSkipTlsVerify = false; // no certificate or host name checks at all
  std::string clientCertPem;          // optional client certificate chain (PEM)
  std::string clientKeyPem;           // its private key (PEM)
  std::chrono::milliseconds connectTimeout{10000};
  std::chrono::milliseconds requestTimeout{60000}; // whole send(): connect, write and read
  size_t maxBodyBytes = kDefaultMaxBodyBytes;      // send() bodies and single streamed lines
  size_t maxIdleConnections = 4;
};

// The parts of a server URL. IPv6 literals are given in brackets in the URL and stored without.
struct ServerUrl {
  bool tls = true;
  std::string host;       // "127.0.0.1", "::1", "api.example"
  std::string port;       // "6443"; defaulted from the scheme when absent
  std::string pathPrefix; // "" or "/some/prefix" (no trailing slash)

  bool hostIsIp() const;
  // "host:port" as sent in the Host header (brackets around IPv6, default ports omitted).
  std::string hostHeader() const;
};

// Parses "http(s)://host[:port][/prefix]". Errors are Code::Invalid naming what is wrong.
Result<ServerUrl> parseServerUrl(std::string_view url);

// The Boost.Beast transport. Fails when the URL is malformed or the TLS material does not load.
Result<HttpTransportPtr> makeBeastTransport(const TransportConfig& cfg);

} // namespace caracal::datastore
