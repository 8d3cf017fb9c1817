// patch, label, version and selector; the per-invocation context.
#include "ctl/commands.h"

#include "api/selector.h"
#include "common/strings.h"

#include <iostream>
#include <thread>

#ifndef CARACAL_VERSION
#define CARACAL_VERSION "0.0.0"
#endif
#ifndef CARACAL_GIT_COMMIT
#define CARACAL_GIT_COMMIT ""
#endif

namespace caracal::ctl {

std::istream& CtlContext::in() { return env_.in ? *env_.in : std::cin; }

Result<datastore::RestClient*> CtlContext::client() {
  if (client_) {
    return client_.get();
  }
  auto cfg = datastore::resolveClientConfig(flags.config, env_.env, env_.defaultKubeconfig);
  if (!cfg) {
    return cfg.error();
  }
  auto made = env_.makeClient ? env_.makeClient(*cfg) : datastore::RestClient::fromConfig(*cfg);
  if (!made) {
    return made.error();
  }
  client_ = std::move(made).value();
  client_->setUserAgent(std::string("caracalctl/") + CARACAL_VERSION);
  return client_.get();
}

void CtlContext::sleep(std::chrono::milliseconds d) const {
  if (env_.sleep) {
    env_.sleep(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

int runPatch(CtlContext& ctx, const std::string& kind, const std::string& name,
             const std::string& patch, const std::string& type) {
  const api::KindInfo* info = api::findByName(kind);
  if (!info) {
    ctx.err() << "resource type '" << kind << "' is not supported\n";
    return 1;
  }
  auto pt = datastore::parsePatchType(type);
  if (!pt || *pt == datastore::PatchType::Apply) {
    ctx.err() << "unknown patch type \"" << type << "\" (allowed: json, merge, strategic)\n";
    return 1;
  }
  auto body = parseJson(patch);
  if (!body) {
    ctx.err() << "Failed to patch '" << info->kind
              << "' resource: the patch is not valid JSON: " << body.error().message() << "\n";
    return 1;
  }
  if (*pt == datastore::PatchType::Json ? !body->isArray() : !body->isObject()) {
    ctx.err() << "Failed to patch '" << info->kind << "' resource: a " << type
              << " patch must be a JSON " << (body->isArray() ? "object" : "array") << "\n";
    return 1;
  }
  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return 1;
  }
  std::string ns = info->namespaced ? ctx.defaultNamespace() : "";
  auto r = (*client)->patch(*info, ns, name, *pt, patch);
  if (!r) {
    ctx.err() << "Failed to patch '" << info->kind
              << "' resource: " << describeError(r.error(), resourceId(*info, ns, name)) << "\n";
    return 1;
  }
  ctx.out() << "Successfully patched 1 '" << info->kind << "' resource\n";
  return 0;
}

int runLabel(CtlContext& ctx, const LabelOptions& opts) {
  std::string key = opts.label;
  std::string value;
  if (opts.remove && opts.overwrite) {
    ctx.err() << "--overwrite and --remove cannot be used together\n";
    return 1;
  }
  if (!opts.remove) {
    std::vector<std::string> kv = split(opts.label, '=');
    if (kv.size() != 2 || kv[0].empty()) {
      ctx.err() << "invalid label " << opts.label << "\n";
      return 1;
    }
    key = kv[0];
    value = kv[1];
  }
  const api::KindInfo* info = api::findByName(opts.kind);
  if (!info) {
    ctx.err() << "resource type '" << opts.kind << "' is not supported\n";
    return 1;
  }
  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return 1;
  }
  std::string ns = info->namespaced ? ctx.defaultNamespace() : "";
  const std::string what = opts.kind + " " + opts.name;
  bool overwritten = false;
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = (*client)->get(*info, ns, opts.name);
    if (!got) {
      ctx.err() << "failed to get " << what << ", error "
                << describeError(got.error(), resourceId(*info, ns, opts.name)) << "\n";
      return 1;
    }
    const Value* labels = got->path("metadata.labels");
    const Value* old = labels ? labels->find(key) : nullptr;
    Value change;
    if (opts.remove) {
      if (!old) {
        ctx.err() << "cannot remove label of " << what << ", key " << key << " does not exist\n";
        return 1;
      }
      change = Value();
    } else {
      if (old) {
        if (!opts.overwrite && old->asString() != value) {
          ctx.err() << "failed to update label of " << what << ", key " << key
                    << " is already present. please use '--overwrite' to set a new value.\n";
          return 1;
        }
        overwritten = true;
      }
      change = Value(value);
    }
    // A merge patch that names the resourceVersion it was computed from: the server refuses it
    // (Conflict) when the object changed in between, and we start over.
    Value patch = Value::object();
    Value& meta = patch["metadata"];
    meta.set("resourceVersion", got->getString("metadata.resourceVersion"));
    meta["labels"].set(key, std::move(change));
    auto r = (*client)->patch(*info, ns, opts.name, datastore::PatchType::Merge, toJson(patch));
    if (r) {
      if (opts.remove) {
        ctx.out() << "Successfully removed label " << key << " from " << what << "\n";
      } else if (overwritten) {
        ctx.out() << "Successfully updated label " << key << " on " << what << "\n";
      } else {
        ctx.out() << "Successfully set label " << key << " on " << what << "\n";
      }
      return 0;
    }
    last = r.error();
    if (r.code() != Code::Conflict) {
      break;
    }
    ctx.sleep(std::chrono::milliseconds(200 * (attempt + 1)));
  }
  ctx.err() << "failed to update " << what
            << ", label not changed: " << describeError(last, resourceId(*info, ns, opts.name))
            << "\n";
  return 1;
}

int runVersion(CtlContext& ctx) {
  ctx.out() << "Client Version:    v" << CARACAL_VERSION << "\n";
  std::string commit = CARACAL_GIT_COMMIT;
  if (!commit.empty()) {
    ctx.out() << "Git commit:        " << commit << "\n";
  }
  auto client = ctx.client();
  if (!client) {
    ctx.err() << "Unable to retrieve Cluster Version or Type: " << client.error().message() << "\n";
    return 1;
  }
  auto v = (*client)->version();
  if (!v) {
    ctx.err() << "Unable to retrieve Cluster Version or Type: " << v.error().message() << "\n";
    return 1;
  }
  std::string version = v->getString("gitVersion");
  if (version.empty() && !v->getString("major").empty()) {
    version = "v" + v->getString("major") + "." + v->getString("minor");
  }
  std::string type;
  if (const api::KindInfo* ci = api::findByKind("projectcalico.org/v3", "ClusterInformation")) {
    if (auto info = (*client)->get(*ci, "", "default")) {
      type = info->getString("spec.clusterType");
      if (version.empty()) {
        version = info->getString("spec.calicoVersion");
      }
    }
  }
  ctx.out() << "Cluster Version:   " << (version.empty() ? "unknown" : version) << "\n";
  ctx.out() << "Cluster Type:      " << (type.empty() ? "unknown" : type) << "\n";
  return 0;
}

namespace {

Result<api::Labels> parseLabelList(const std::string& text) {
  api::Labels out;
  for (const auto& part : split(text, ',')) {
    std::string item = trim(part);
    if (item.empty()) {
      continue;
    }
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(Code::Invalid, "invalid label \"" + item + "\" (expected key=value)");
    }
    out[trim(item.substr(0, eq))] = trim(item.substr(eq + 1));
  }
  return out;
}

std::string labelText(const Value& v) {
  if (v.isString()) {
    return v.asString();
  }
  return toJson(v);
}

} // namespace

int runSelector(CtlContext& ctx, const std::string& expr,
                const std::optional<std::string>& labels) {
  auto sel = api::Selector::parse(expr);
  if (!sel) {
    ctx.err() << "invalid selector \"" << expr << "\": " << sel.error().message() << "\n";
    return 1;
  }
  if (labels) {
    auto parsed = parseLabelList(*labels);
    if (!parsed) {
      ctx.err() << "--labels: " << parsed.error().message() << "\n";
      return 1;
    }
    ctx.out() << (sel->matches(*parsed) ? "true" : "false") << "\n";
    return 0;
  }
  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return 1;
  }
  std::vector<std::vector<std::string>> rows;
  for (const char* kind : {"WorkloadEndpoint", "HostEndpoint"}) {
    const api::KindInfo* info = api::findByKind("projectcalico.org/v3", kind);
    if (!info) {
      continue;
    }
    auto listed = (*client)->list(*info, "");
    if (!listed) {
      ctx.err() << "Failed to list " << info->kind
                << " resources: " << describeError(listed.error(), info->kind) << "\n";
      return 1;
    }
    for (const auto& obj : listed->items) {
      api::Labels l;
      if (const Value* stored = obj.path("metadata.labels")) {
        for (const auto& kv : stored->asObject()) {
          l[kv.first] = labelText(kv.second);
        }
      }
      std::string ns = obj.getString("metadata.namespace");
      if (info->namespaced) {
        // The labels Calico adds to every workload endpoint, when not stored already.
        if (!ns.empty()) {
          l.emplace("projectcalico.org/namespace", ns);
        }
        std::string orch = obj.getString("spec.orchestrator");
        if (!orch.empty()) {
          l.emplace("projectcalico.org/orchestrator", orch);
        }
        std::string sa = obj.getString("spec.serviceAccountName");
        if (!sa.empty()) {
          l.emplace("projectcalico.org/serviceaccount", sa);
        }
      }
      if (sel->matches(l)) {
        rows.push_back({info->kind, ns, obj.getString("metadata.name")});
      }
    }
  }
  ctx.out() << renderTable({"KIND", "NAMESPACE", "NAME"}, rows);
  return 0;
}

} // namespace caracal::ctl
