#include "cni/api.h"

#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"
#include "ipam/ipam.h"

#include <cassert>

namespace caracal::cni {

const Kinds& kinds() {
  static const Kinds k = [] {
    Kinds out{};
    out.pod = api::findByKind("v1", "Pod");
    out.ns = api::findByKind("v1", "Namespace");
    out.workloadEndpoint = api::findByKind("projectcalico.org/v3", "WorkloadEndpoint");
    out.calicoNode = api::findByKind("projectcalico.org/v3", "Node");
    out.node = api::findByKind("v1", "Node");
    assert(out.pod && out.ns && out.workloadEndpoint && out.calicoNode && out.node);
    return out;
  }();
  return k;
}

Result<std::unique_ptr<datastore::RestClient>> connectRest(const std::string& kubeconfig) {
  datastore::ConfigOverrides flags;
  flags.kubeconfig = kubeconfig;
  auto cfg = datastore::resolveClientConfig(flags, datastore::processEnv);
  if (!cfg) {
    return cfg.error().withContext("kubernetes.kubeconfig");
  }
  auto client = datastore::RestClient::fromConfig(*cfg);
  if (!client) {
    return client.error().withContext("connecting to " + cfg->server);
  }
  (*client)->setUserAgent("caracal-cni/" CARACAL_VERSION);
  return std::move(client).value();
}

namespace {

// Reads and writes go through the IPAM store over the same client; merge patches go to the client.
class RestApi : public Api {
public:
  explicit RestApi(datastore::RestClient& client)
      : client_(client), store_(ipam::makeRestStore(client)) {}

  Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                    std::string_view name) override {
    return store_->get(kind, ns, name);
  }
  Result<Value> create(const api::KindInfo& kind, const Value& obj) override {
    return store_->create(kind, obj);
  }
  Result<Value> update(const api::KindInfo& kind, const Value& obj) override {
    return store_->update(kind, obj);
  }
  Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name) override {
    return store_->remove(kind, ns, name);
  }
  Result<Value> mergePatch(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                           const Value& patch) override {
    return client_.patch(kind, ns, name, datastore::PatchType::Merge, toJson(patch));
  }

private:
  datastore::RestClient& client_;
  std::unique_ptr<ipam::Store> store_;
};

} // namespace

std::unique_ptr<Api> makeRestApi(datastore::RestClient& client) {
  return std::make_unique<RestApi>(client);
}

} // namespace caracal::cni
