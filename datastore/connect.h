#pragma once
// The API client of a daemon: configuration resolved as resolveClientConfig does it (the
// --kubeconfig flag, then $KUBECONFIG, then the default admin kubeconfig), a RestClient made from
// it, and the program's User-Agent.

#include "common/result.h"
#include "datastore/rest_client.h"

#include <memory>
#include <string>

namespace caracal::datastore {

// `kubeconfig` is the --kubeconfig flag (empty: not given); `userAgent` e.g.
// "caracal-node/1.2.3". Errors carry the context "API server configuration" (nothing names a
// server, or the kubeconfig is bad) or "API client" (the client cannot be made).
Result<std::unique_ptr<RestClient>> connectRestClient(const std::string& kubeconfig,
                                                      const std::string& userAgent);

} // namespace caracal::datastore
