#include "datastore/connect.h"

#include "datastore/kubeconfig.h"

namespace caracal::datastore {

Result<std::unique_ptr<RestClient>> connectRestClient(const std::string& kubeconfig,
                                                      const std::string& userAgent) {
  ConfigOverrides ov;
  ov.kubeconfig = kubeconfig;
  auto cfg = resolveClientConfig(ov, processEnv);
  if (!cfg) {
    return cfg.error().withContext("API server configuration");
  }
  auto client = RestClient::fromConfig(*cfg);
  if (!client) {
    return client.error().withContext("API client");
  }
  (*client)->setUserAgent(userAgent);
  return std::move(client).value();
}

} // namespace caracal::datastore
