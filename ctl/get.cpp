// get: tables with calicoctl's columns, YAML, JSON and names.
#include "common/strings.h"
#include "ctl/commands.h"

#include <ostream>

namespace caracal::ctl {

namespace {

// calicoctl prints several objects as a "<Kind>List". YAML keys in calicoctl's (sorted) order,
// JSON in its struct order.
Value listWrapper(const api::KindInfo& info, std::vector<Value> items, const std::string& rv,
                  bool forYaml) {
  Value meta = Value::object();
  if (!rv.empty()) {
    meta.set("resourceVersion", rv);
  }
  Value out = Value::object();
  if (forYaml) {
    out.set("apiVersion", info.apiVersion());
    out.set("items", Value(Value::Array(std::move(items))));
    out.set("kind", info.kind + "List");
    out.set("metadata", std::move(meta));
  } else {
    out.set("kind", info.kind + "List");
    out.set("apiVersion", info.apiVersion());
    out.set("metadata", std::move(meta));
    out.set("items", Value(Value::Array(std::move(items))));
  }
  return out;
}

} // namespace

int runGet(CtlContext& ctx, const GetOptions& opts) {
  const api::KindInfo* info = api::findByName(opts.kind);
  if (!info) {
    ctx.err() << "resource type '" << opts.kind << "' is not supported\n";
    return 1;
  }
  std::string output = opts.output.empty() ? "ps" : opts.output;
  if (output != "ps" && output != "wide" && output != "yaml" && output != "json" &&
      output != "name") {
    ctx.err() << "unrecognized output format '" << output
              << "' (allowed: ps, wide, yaml, json, name)\n";
    return 1;
  }
  if (opts.allNamespaces && !ctx.flags.ns.empty()) {
    ctx.err() << "cannot use both --namespace and --all-namespaces flags at the same time\n";
    return 1;
  }
  if (opts.allNamespaces && info->namespaced && !opts.names.empty()) {
    ctx.err() << "cannot use --all-namespaces flag for getting a single resource\n";
    return 1;
  }
  for (const auto& n : opts.names) {
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
  std::string ns;
  if (info->namespaced && !opts.allNamespaces) {
    ns = ctx.defaultNamespace();
  }

  std::vector<Value> objects;
  std::vector<std::string> errors;
  std::string listRv;
  bool single = opts.names.size() == 1;
  if (opts.names.empty()) {
    datastore::ListOptions lo;
    lo.labelSelector = opts.labelSelector;
    auto listed = (*client)->list(*info, ns, lo);
    if (!listed) {
      ctx.err() << "Failed to get resources: " << describeError(listed.error(), info->kind) << "\n";
      return 1;
    }
    objects = std::move(listed->items);
    listRv = listed->resourceVersion;
  } else {
    for (const auto& name : opts.names) {
      auto got = (*client)->get(*info, ns, name);
      if (!got) {
        errors.push_back(describeError(got.error(), resourceId(*info, ns, name)));
        continue;
      }
      objects.push_back(std::move(got).value());
    }
  }

  if (!(opts.names.size() > 0 && objects.empty())) {
    if (output == "yaml" || output == "json") {
      bool yaml = output == "yaml";
      Value doc = single && objects.size() == 1
                      ? objects.front()
                      : listWrapper(*info, std::move(objects), listRv, yaml);
      ctx.out() << (yaml ? toYaml(doc) : toJson(doc, true) + "\n");
    } else if (output == "name") {
      for (const auto& o : objects) {
        ctx.out() << toLower(info->kind) << "/" << o.getString("metadata.name") << "\n";
      }
    } else {
      bool wide = output == "wide";
      bool withNamespace = opts.allNamespaces && info->namespaced;
      std::vector<std::string> headers;
      std::vector<const api::Column*> cols;
      if (withNamespace) {
        headers.push_back("NAMESPACE");
      }
      for (const auto& c : info->columns) {
        if (c.priority == 0 || wide) {
          headers.push_back(c.name);
          cols.push_back(&c);
        }
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& o : objects) {
        std::vector<std::string> row;
        if (withNamespace) {
          row.push_back(o.getString("metadata.namespace"));
        }
        for (const auto* c : cols) {
          row.push_back(c->cell ? c->cell(o) : std::string());
        }
        rows.push_back(std::move(row));
      }
      ctx.out() << renderTable(headers, rows);
    }
  }
  for (const auto& e : errors) {
    ctx.err() << e << "\n";
  }
  return errors.empty() ? 0 : 1;
}

} // namespace caracal::ctl
