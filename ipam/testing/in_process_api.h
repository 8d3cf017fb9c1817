#pragma once
// A real caracal-apiserver handler (in-memory engine) behind the HttpTransport seam, for tests that
// want the server's validation and compare-and-swap without a process or a socket. Thread-safe as
// the handler is; watches are not supported.

#include "apiserver/handler.h"
#include "datastore/engine.h"
#include "datastore/rest_client.h"

#include <memory>

namespace caracal::ipam::testing {

class InProcessApi {
public:
  InProcessApi();
  ~InProcessApi();

  // A client of this server; the server must outlive it.
  std::unique_ptr<datastore::RestClient> client();
  datastore::HttpTransportPtr transport();
  // The bearer token the server accepts (for clients built over a wrapped transport()).
  static const char* token();

private:
  datastore::EnginePtr engine_;
  std::unique_ptr<apiserver::Handler> handler_;
};

} // namespace caracal::ipam::testing
