#pragma once
// The HTTP/1.1 transport of caracal-apiserver (Boost.Beast), TLS by default.
//
// I/O runs on a small io_context pool; every request is handed to a worker pool (a store write may
// wait for a group commit) and its reply posted back to the connection's strand. Limits: request
// bodies over `bodyLimit` get 413, a request that does not arrive within `requestTimeout` closes
// the connection, and a watch whose client falls more than `watchQueueLimit` bytes behind is ended
// with an ERROR event saying so — the server never buffers without bound for a slow watcher.

#include "apiserver/handler.h"
#include "common/result.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace caracal::apiserver {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6443; // 0 picks a free port
  bool tls = true;
  std::string certPem; // serving certificate chain (tls)
  std::string keyPem;  // its key (tls)
  size_t bodyLimit = 3 * 1024 * 1024;
  std::chrono::seconds requestTimeout{60};
  size_t watchQueueLimit = 16 * 1024 * 1024;
  int ioThreads = 2;
  int workerThreads = 32;
};

class HttpServer {
public:
  HttpServer(Handler& handler, ServerOptions opts);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; errors name the address.
  Status start();
  // The bound port (after start()).
  uint16_t port() const;
  // Stops accepting, closes connections and joins every thread.
  void stop();

  struct Impl; // public so that the transport's connection classes can reach it

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::apiserver
