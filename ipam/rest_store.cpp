// The Store over the REST client. Deletes with a resourceVersion carry it as a Kubernetes
// DeleteOptions precondition, which the apiserver checks atomically with the delete.
#include "datastore/rest_client.h"
#include "ipam/ipam.h"

namespace caracal::ipam {

namespace {

class RestStore : public Store {
public:
  explicit RestStore(datastore::RestClient& client) : client_(client) {}

  Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                    std::string_view name) override {
    return client_.get(kind, ns, name);
  }

  Result<std::vector<Value>> list(const api::KindInfo& kind, std::string_view ns) override {
    ASSIGN_OR_RETURN(datastore::ObjectList l, client_.list(kind, ns));
    return std::move(l.items);
  }

  Result<Value> create(const api::KindInfo& kind, const Value& obj) override {
    return client_.create(kind, obj);
  }

  Result<Value> update(const api::KindInfo& kind, const Value& obj) override {
    return client_.update(kind, obj);
  }

  Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                std::string_view resourceVersion) override {
    if (resourceVersion.empty()) {
      return client_.remove(kind, ns, name).status();
    }
    Value opts = Value::object();
    opts.set("apiVersion", "v1");
    opts.set("kind", "DeleteOptions");
    Value pre = Value::object();
    pre.set("resourceVersion", std::string(resourceVersion));
    opts.set("preconditions", std::move(pre));
    datastore::HttpRequest req;
    req.method = "DELETE";
    req.target = datastore::RestClient::itemPath(kind, ns, name);
    req.body = toJson(opts);
    req.setHeader("Content-Type", "application/json");
    return client_.requestJson(std::move(req)).status();
  }

private:
  datastore::RestClient& client_;
};

} // namespace

std::unique_ptr<Store> makeRestStore(datastore::RestClient& client) {
  return std::make_unique<RestStore>(client);
}

} // namespace caracal::ipam
