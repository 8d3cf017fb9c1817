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
    ASSIGN_OR_RETURN(auto it, stored(kind, key(kind, ns, name), ""));
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
    ASSIGN_OR_RETURN(Value v, prepare(kind, obj));
    Key k = keyOf(kind, v);
    std::lock_guard<std::mutex> lock(mu_);
    if (objects_.count(k)) {
      return Status(Code::AlreadyExists,
                    kind.plural + "." + kind.group + " \"" + std::get<2>(k) + "\" already exists");
    }
    return objects_[k] = stamp(std::move(v), nullptr);
  }

  Result<Value> update(const api::KindInfo& kind, const Value& obj) override {
    ASSIGN_OR_RETURN(Value v, prepare(kind, obj));
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto it,
                     stored(kind, keyOf(kind, v), v.getString("metadata.resourceVersion")));
    RETURN_IF_ERROR(api::validateUpdate(kind, it->second, v));
    return it->second = stamp(std::move(v), &it->second);
  }

  Status remove(const api::KindInfo& kind, std::string_view ns, std::string_view name,
                std::string_view resourceVersion) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto it, stored(kind, key(kind, ns, name), resourceVersion));
    objects_.erase(it);
    return Status::ok();
  }

private:
  using Key = std::tuple<std::string, std::string, std::string>; // kind, namespace, name
  using Objects = std::map<Key, Value>;

  static std::string kindKey(const api::KindInfo& kind) {
    return kind.apiVersion() + "/" + kind.kind;
  }
  static Key key(const api::KindInfo& kind, std::string_view ns, std::string_view name) {
    return Key{kindKey(kind), kind.namespaced ? std::string(ns) : "", std::string(name)};
  }
  static Key keyOf(const api::KindInfo& kind, const Value& obj) {
    return key(kind, obj.getString("metadata.namespace"), obj.getString("metadata.name"));
  }
  // `obj` validated and defaulted as the apiserver would, keeping the caller's resourceVersion.
  static Result<Value> prepare(const api::KindInfo& kind, const Value& obj) {
    if (!obj.isObject()) {
      return Status(Code::BadRequest, "object must be a JSON object");
    }
    Value v = obj;
    RETURN_IF_ERROR(api::normalize(kind, v));
    return v;
  }
  // The stored object at `k`, which must exist and, when `resourceVersion` is set, have it.
  // The caller holds mu_.
  Result<Objects::iterator> stored(const api::KindInfo& kind, const Key& k,
                                   std::string_view resourceVersion) {
    auto it = objects_.find(k);
    const std::string& name = std::get<2>(k);
    if (it == objects_.end()) {
      return Status(Code::NotFound, kind.plural + "." + kind.group + " \"" + name + "\" not found");
    }
    if (!resourceVersion.empty() &&
        resourceVersion != it->second.getString("metadata.resourceVersion")) {
      return Status(Code::Conflict, "Operation cannot be fulfilled on " + kind.plural + "." +
                                        kind.group + " \"" + name +
                                        "\": the object has been modified; please apply your "
                                        "changes to the latest version and try again");
    }
    return it;
  }
  // `v` with the next resourceVersion, and the uid and creationTimestamp of `previous` (the
  // object it replaces) or new ones. The caller holds mu_.
  Value stamp(Value v, const Value* previous) {
    Value& meta = v["metadata"];
    meta.set("resourceVersion", std::to_string(++revision_));
    if (previous) {
      meta.set("uid", previous->getString("metadata.uid"));
      meta.set("creationTimestamp", previous->getString("metadata.creationTimestamp"));
    } else {
      meta.set("uid", "uid-" + std::to_string(revision_));
      meta.set("creationTimestamp", "2025-01-01T00:00:00Z");
    }
    return v;
  }

  std::mutex mu_;
  std::map<Key, Value> objects_;
  int64_t revision_ = 0;
};

} // namespace

std::unique_ptr<Store> makeMemoryStore() { return std::make_unique<MemoryStore>(); }

} // namespace caracal::ipam
