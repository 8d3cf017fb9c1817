#pragma once
// The few API calls the plugins make, behind an interface so that the ADD/DEL/CHECK logic can be
// tested against an in-memory fake. The real one is a RestClient (caracal-apiserver or
// kube-apiserver) built from the configuration's kubeconfig.

#include "api/registry.h"
#include "common/result.h"
#include "common/value.h"

#include <memory>
#include <string>
#include <string_view>

namespace caracal::datastore {
class RestClient;
}

namespace caracal::cni {

class Api {
public:
  virtual ~Api() = default;
  // Errors keep the API's codes: NotFound, AlreadyExists, Conflict, Unavailable, ...
  virtual Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                            std::string_view name) = 0;
  virtual Result<Value> create(const api::KindInfo& kind, const Value& obj) = 0;
  // metadata.resourceVersion of `obj` must match the stored one.
  virtual Result<Value> update(const api::KindInfo& kind, const Value& obj) = 0;
  virtual Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name) = 0;
  // RFC 7386 merge patch.
  virtual Result<Value> mergePatch(const api::KindInfo& kind, std::string_view ns,
                                   std::string_view name, const Value& patch) = 0;
};

// The kinds the plugins use.
struct Kinds {
  const api::KindInfo* pod;
  const api::KindInfo* ns;
  const api::KindInfo* workloadEndpoint;
  const api::KindInfo* calicoNode; // projectcalico.org/v3 Node
  const api::KindInfo* node;       // v1 Node
};
const Kinds& kinds();

// A REST client for `kubeconfig` ("" -> $KUBECONFIG, then the default admin kubeconfig).
Result<std::unique_ptr<datastore::RestClient>> connectRest(const std::string& kubeconfig);
// The Api over a RestClient (which must outlive it).
std::unique_ptr<Api> makeRestApi(datastore::RestClient& client);

} // namespace caracal::cni
