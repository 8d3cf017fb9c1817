// apply, create, replace and delete: from files, and delete by name.
#include "ctl/commands.h"

#include <map>
#include <ostream>

namespace caracal::ctl {

namespace {

using datastore::RestClient;

constexpr int kUpdateAttempts = 5;

struct Verb {
  const char* present;
  const char* past;
};

Verb verbOf(FileAction a) {
  switch (a) {
  case FileAction::Apply:
    return {"apply", "applied"};
  case FileAction::Create:
    return {"create", "created"};
  case FileAction::Replace:
    return {"replace", "replaced"};
  case FileAction::Delete:
    return {"delete", "deleted"};
  }
  return {"apply", "applied"};
}

// What create sends: only the metadata a user may set.
Value createForm(const Value& obj) {
  Value out = obj;
  Value meta = Value::object();
  if (const Value* m = obj.find("metadata")) {
    for (const char* key : {"name", "generateName", "namespace", "labels", "annotations"}) {
      if (const Value* v = m->find(key)) {
        meta.set(key, *v);
      }
    }
  }
  out.set("metadata", std::move(meta));
  return out;
}

// What replace sends: the stored metadata (so resourceVersion, uid and timestamps match), with the
// labels and annotations of the new object laid over the stored ones, as calicoctl does.
Value mergeForUpdate(const Value& stored, const Value& obj) {
  Value out = obj;
  Value meta = stored.find("metadata") ? *stored.find("metadata") : Value::object();
  for (const char* key : {"labels", "annotations"}) {
    const Value* mine = obj.path(std::string("metadata.") + key);
    if (!mine || !mine->isObject()) {
      continue;
    }
    Value& merged = meta[key];
    if (!merged.isObject()) {
      merged = Value::object();
    }
    for (const auto& kv : mine->asObject()) {
      merged.set(kv.first, kv.second);
    }
  }
  out.set("metadata", std::move(meta));
  return out;
}

std::chrono::milliseconds backoff(int attempt) {
  return std::chrono::milliseconds(200 * (attempt + 1));
}

// Replaces an existing object: with the resourceVersion the user gave (no retry; stale is an
// error), or with the current one, retrying when another writer wins the race.
Result<Value> replaceObject(CtlContext& ctx, RestClient& client, const api::KindInfo& info,
                            const Value& obj) {
  std::string ns = obj.getString("metadata.namespace");
  std::string name = obj.getString("metadata.name");
  std::string rv = obj.getString("metadata.resourceVersion");
  if (!rv.empty()) {
    ASSIGN_OR_RETURN(Value current, client.get(info, ns, name));
    std::string latest = current.getString("metadata.resourceVersion");
    if (latest != rv) {
      return Status(Code::Conflict,
                    "Resource version '" + rv + "' is out of date (latest: " + latest +
                        "). Update the resource YAML/JSON in order to make changes.");
    }
    return client.update(info, mergeForUpdate(current, obj));
  }
  Status last;
  for (int attempt = 0; attempt < kUpdateAttempts; ++attempt) {
    ASSIGN_OR_RETURN(Value current, client.get(info, ns, name));
    auto r = client.update(info, mergeForUpdate(current, obj));
    if (r.code() != Code::Conflict) {
      return r;
    }
    last = r.error();
    if (attempt + 1 < kUpdateAttempts) {
      ctx.sleep(backoff(attempt));
    }
  }
  return last;
}

Status applyOne(CtlContext& ctx, RestClient& client, FileAction action,
                const FileCommandOptions& opts, const ManifestDoc& doc) {
  const api::KindInfo& info = *doc.info;
  switch (action) {
  case FileAction::Apply: {
    auto created = client.create(info, createForm(doc.obj));
    if (created.code() != Code::AlreadyExists) {
      return created.status();
    }
    return replaceObject(ctx, client, info, doc.obj).status();
  }
  case FileAction::Create: {
    auto created = client.create(info, createForm(doc.obj));
    if (created.code() == Code::AlreadyExists && opts.skipExists) {
      return Status::ok();
    }
    return created.status();
  }
  case FileAction::Replace:
    return replaceObject(ctx, client, info, doc.obj).status();
  case FileAction::Delete: {
    auto removed = client.remove(info, doc.obj.getString("metadata.namespace"),
                                 doc.obj.getString("metadata.name"));
    if (removed.code() == Code::NotFound && opts.skipNotExists) {
      return Status::ok();
    }
    return removed.status();
  }
  }
  return Status::ok();
}

std::string kindPhrase(const std::string& singleKind) {
  return singleKind.empty() ? std::string() : " '" + singleKind + "'";
}

} // namespace

int runFileCommand(CtlContext& ctx, FileAction action, const FileCommandOptions& opts) {
  Verb verb = verbOf(action);
  auto loaded = loadManifests(opts.filename, opts.recursive, ctx.in());
  if (!loaded) {
    ctx.err() << loaded.error().message() << "\n";
    return 1;
  }
  std::vector<ManifestDoc> docs = std::move(loaded).value();

  std::vector<std::string> invalid = validateManifests(docs, ctx.flags.ns);
  if (!invalid.empty()) {
    size_t bad = 0;
    for (const auto& d : docs) {
      bad += d.info ? 0 : 1;
    }
    for (const auto& line : invalid) {
      ctx.err() << line << "\n";
    }
    ctx.err() << "Failed to " << verb.present << " any resources: " << bad << " of " << docs.size()
              << " resource(s) invalid\n";
    return 1;
  }

  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return 1;
  }

  std::map<std::string, int> kinds;
  for (const auto& d : docs) {
    kinds[d.info->kind]++;
  }
  std::string singleKind = kinds.size() == 1 ? kinds.begin()->first : "";

  size_t handled = 0;
  std::vector<std::string> failures;
  for (const auto& doc : docs) {
    Status st = applyOne(ctx, **client, action, opts, doc);
    if (st.isOk()) {
      ++handled;
      continue;
    }
    failures.push_back(doc.file + ":" + std::to_string(doc.index) + ": " +
                       describeError(st, resourceId(*doc.info, doc.obj)));
    if (action == FileAction::Replace) {
      break; // replace stops at the first failure, as calicoctl does
    }
  }

  if (failures.empty()) {
    ctx.out() << "Successfully " << verb.past << " " << handled << kindPhrase(singleKind)
              << " resource(s)\n";
    return 0;
  }
  if (handled > 0) {
    ctx.out() << "Partial success: " << verb.past
              << (action == FileAction::Replace ? " the first " : " ") << handled << " out of "
              << docs.size() << kindPhrase(singleKind) << " resources:\n";
  } else if (docs.size() == 1) {
    ctx.err() << "Failed to " << verb.present << kindPhrase(singleKind) << " resource:\n";
  } else {
    ctx.err() << "Failed to " << verb.present << " any" << kindPhrase(singleKind)
              << " resources:\n";
  }
  for (const auto& f : failures) {
    ctx.err() << f << "\n";
  }
  return 1;
}

int runDeleteByName(CtlContext& ctx, const std::string& kind, const std::vector<std::string>& names,
                    bool skipNotExists) {
  const api::KindInfo* info = api::findByName(kind);
  if (!info) {
    ctx.err() << "resource type '" << kind << "' is not supported\n";
    return 1;
  }
  if (names.empty()) {
    ctx.err() << "No resources specified\n";
    return 1;
  }
  for (const auto& n : names) {
    if (n.empty()) {
      ctx.err() << "resource name may not be empty\n";
      return 1;
    }
  }
  auto client = ctx.client();
  if (!client) {
    ctx.err() << client.error().message() << "\n";
    return 1;
  }
  std::string ns = info->namespaced ? ctx.defaultNamespace() : "";
  size_t deleted = 0;
  std::vector<std::string> failures;
  for (const auto& name : names) {
    auto r = (*client)->remove(*info, ns, name);
    if (r || (r.code() == Code::NotFound && skipNotExists)) {
      ++deleted;
      continue;
    }
    failures.push_back("Failed to delete '" + info->kind +
                       "' resource: " + describeError(r.error(), resourceId(*info, ns, name)));
  }
  if (deleted > 0) {
    ctx.out() << "Successfully deleted " << deleted << " '" << info->kind << "' resource(s)\n";
  }
  for (const auto& f : failures) {
    ctx.err() << f << "\n";
  }
  return failures.empty() ? 0 : 1;
}

} // namespace caracal::ctl
