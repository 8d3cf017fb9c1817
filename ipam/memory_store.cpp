// The in-memory Store: one map under one mutex, a store-wide revision counter as resourceVersion,
// and the same checks the apiserver applies to a write (api::normalize, validateUpdate), so that
// tests catch objects a real server would refuse.
#include "api/registry.h"
#include "ipam/ipam.h"

#include <mutex>
#include <tuple>

namespace caracal::ipam {

namespace {

class MemoryStore : public Store {
public:
  Result<Value> get(const api::KindInfo& kind, std::string_view ns,
                    std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key(kind, ns, name));
    if (it == objects_.end()) {
      return notFound(kind, name);
    }
    return it->second;
  }

  Result<std::vector<Value>> list(const api::KindInfo& kind, std::string_view ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Value> out;
    std::string kk = kindKey(kind);
    for (auto it = objects_.lower_bound(Key{kk, "", ""}); it != objects_.end(); ++it) {
      if (std::get<0>(it->first) != kk) {
        break;
      }
      if (!ns.empty() && std::get<1>(it->first) != ns) {
        continue;
      }
      out.push_back(it->second);
    }
    return out;
  }

  Result<Value> create(const api::KindInfo& kind, const Value& obj) override {
    Value v = obj;
    RETURN_IF_ERROR(prepare(kind, v));
    std::string name = v.getString("metadata.name");
    std::string ns = kind.namespaced ? v.getString("metadata.namespace") : "";
    std::lock_guard<std::mutex> lock(mu_);
    Key k = key(kind, ns, name);
    if (objects_.count(k)) {
      return Status(Code::AlreadyExists,
                    kind.plural + "." + kind.group + " \"" + name + "\" already exists");
    }
    Value& meta = v["metadata"];
    meta.set("resourceVersion", std::to_string(++revision_));
    meta.set("uid", "uid-" + std::to_string(revision_));
    meta.set("creationTimestamp", "2025-01-01T00:00:00Z");
    objects_[k] = v;
    return v;
  }

  Result<Value> update(const api::KindInfo& kind, const Value& obj) override {
    Value v = obj;
    RETURN_IF_ERROR(prepare(kind, v));
    std::string name = v.getString("metadata.name");
    std::string ns = kind.namespaced ? v.getString("metadata.namespace") : "";
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key(kind, ns, name));
    if (it == objects_.end()) {
      return notFound(kind, name);
    }
    std::string rv = v.getString("metadata.resourceVersion");
    if (!rv.empty() && rv != it->second.getString("metadata.resourceVersion")) {
      return conflict(kind, name);
    }
    RETURN_IF_ERROR(api::validateUpdate(kind, it->second, v));
    Value& meta = v["metadata"];
    meta.set("resourceVersion", std::to_string(++revision_));
    meta.set("uid", it->second.getString("metadata.uid"));
    meta.set("creationTimestamp", it->second.getString("metadata.creationTimestamp"));
    it->second = v;
    return v;
  }

  Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                std::string_view resourceVersion) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key(kind, ns, name));
    if (it == objects_.end()) {
      return notFound(kind, name);
    }
    if (!resourceVersion.empty() &&
        resourceVersion != it->second.getString("metadata.resourceVersion")) {
      return conflict(kind, name);
    }
    objects_.erase(it);
    return Status::ok();
  }

private:
  using Key = std::tuple<std::string, std::string, std::string>; // kind, namespace, name

  static std::string kindKey(const api::KindInfo& kind) {
    return kind.apiVersion() + "/" + kind.kind;
  }
  static Key key(const api::KindInfo& kind, std::string_view ns, std::string_view name) {
    return Key{kindKey(kind), kind.namespaced ? std::string(ns) : "", std::string(name)};
  }
  static Status notFound(const api::KindInfo& kind, std::string_view name) {
    return Status(Code::NotFound,
                  kind.plural + "." + kind.group + " \"" + std::string(name) + "\" not found");
  }
  static Status conflict(const api::KindInfo& kind, std::string_view name) {
    return Status(Code::Conflict, "Operation cannot be fulfilled on " + kind.plural + "." +
                                      kind.group + " \"" + std::string(name) +
                                      "\": the object has been modified; please apply your "
                                      "changes to the latest version and try again");
  }
  // Validates and defaults `v` as the apiserver would, keeping the caller's resourceVersion.
  static Status prepare(const api::KindInfo& kind, Value& v) {
    if (!v.isObject()) {
      return Status(Code::BadRequest, "object must be a JSON object");
    }
    return api::normalize(kind, v);
  }

  std::mutex mu_;
  std::map<Key, Value> objects_;
  int64_t revision_ = 0;
};

} // namespace

std::unique_ptr<Store> makeMemoryStore() { return std::make_unique<MemoryStore>(); }

} // namespace caracal::ipam
