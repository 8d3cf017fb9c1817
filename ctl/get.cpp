// get: tables with calicoctl's columns, YAML, JSON and names.
#include "common/strings.h"
#include "ctl/commands.h"

#include <functional>
#include <optional>
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

// calicoctl's AS number when the default BGPConfiguration sets none (first private-use ASN).
constexpr const char* kDefaultAsNumber = "64512";

// An AS number as calicoctl prints it: decimal; a value stored some other way as it is.
std::string asNumberText(const Value* v) {
  if (!v || v->isNull()) {
    return "";
  }
  if (v->isInt()) {
    return std::to_string(v->asInt());
  }
  return v->isString() ? v->asString() : toJson(*v);
}

// The cluster-wide AS number, read once from the default BGPConfiguration the first time a row
// needs it, as calicoctl's `config "asnumber"` template function does: its spec.asNumber, else
// 64512 (also when there is no default BGPConfiguration), "unknown" when it cannot be read.
class ClusterAsNumber {
public:
  explicit ClusterAsNumber(datastore::RestClient& client) : client_(client) {}

  const std::string& get() {
    if (!value_) {
      value_ = fetch();
    }
    return *value_;
  }

private:
  std::string fetch() {
    const api::KindInfo* info = api::findByKind("projectcalico.org/v3", "BGPConfiguration");
    if (!info) {
      return "unknown";
    }
    auto got = client_.get(*info, "", "default");
    if (!got) {
      return got.error().code() == Code::NotFound ? kDefaultAsNumber : "unknown";
    }
    std::string asn = asNumberText(got->path("spec.asNumber"));
    return asn.empty() ? kDefaultAsNumber : asn;
  }

  datastore::RestClient& client_;
  std::optional<std::string> value_;
};

using Cell = std::function<std::string(const Value&)>;

// Cells where calicoctl's table differs from the model's column (which serves kubectl's tables
// too and sees one object only); null when the model's cell is right.
Cell calicoctlCell(const api::KindInfo& info, const api::Column& col, ClusterAsNumber& clusterAs) {
  if (info.group != "projectcalico.org") {
    return nullptr;
  }
  if (info.kind == "Node" && col.name == "ASN") {
    // Only nodes with a BGP spec have one; without their own it is inherited, in parentheses.
    return [&clusterAs](const Value& o) -> std::string {
      if (!o.path("spec.bgp")) {
        return "";
      }
      std::string own = asNumberText(o.path("spec.bgp.asNumber"));
      return own.empty() ? "(" + clusterAs.get() + ")" : own;
    };
  }
  if (info.kind == "BGPPeer" && col.name == "ASN") {
    // calicoctl prints the field's zero value for peers without one (peerSelector peers).
    return [](const Value& o) -> std::string {
      std::string asn = asNumberText(o.path("spec.asNumber"));
      return asn.empty() ? "0" : asn;
    };
  }
  return nullptr;
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
      ClusterAsNumber clusterAs(**client);
      std::vector<std::string> headers;
      std::vector<Cell> cells;
      if (withNamespace) {
        headers.push_back("NAMESPACE");
      }
      for (const auto& c : info->columns) {
        if (c.priority == 0 || wide) {
          headers.push_back(c.name);
          Cell cell = calicoctlCell(*info, c, clusterAs);
          cells.push_back(cell ? std::move(cell) : c.cell);
        }
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& o : objects) {
        std::vector<std::string> row;
        if (withNamespace) {
          row.push_back(o.getString("metadata.namespace"));
        }
        for (const auto& cell : cells) {
          row.push_back(cell ? cell(o) : std::string());
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
