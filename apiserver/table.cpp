#include "apiserver/table.h"

#include "api/registry.h"

#include <ctime>

namespace caracal::apiserver {

std::string ageSince(const std::string& ts) {
  std::tm tm{};
  if (ts.size() < 20 || !strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) {
    return "<unknown>";
  }
  std::time_t then = timegm(&tm);
  long long d = static_cast<long long>(std::time(nullptr) - then);
  if (d < 0) {
    d = 0;
  }
  if (d < 120) {
    return std::to_string(d) + "s";
  }
  if (d < 2 * 3600) {
    return std::to_string(d / 60) + "m";
  }
  if (d < 2 * 86400) {
    return std::to_string(d / 3600) + "h";
  }
  if (d < 2 * 365 * 86400) {
    return std::to_string(d / 86400) + "d";
  }
  return std::to_string(d / (365 * 86400)) + "y";
}

Value renderTable(const api::KindInfo& kind, const std::vector<Value>& objects,
                  bool includeObject) {
  Value table = Value::object();
  table["kind"] = "Table";
  table["apiVersion"] = "meta.k8s.io/v1";
  table["metadata"] = Value::object();
  Value defs = Value::array();
  auto def = [&](const std::string& name, const std::string& type, const std::string& format,
                 int priority) {
    Value d = Value::object();
    d["name"] = name;
    d["type"] = type;
    d["format"] = format;
    d["description"] = "";
    d["priority"] = priority;
    defs.push(std::move(d));
  };
  def("Name", "string", "name", 0);
  std::vector<const api::Column*> cols;
  for (const auto& c : kind.columns) {
    if (c.name == "NAME") {
      continue;
    }
    cols.push_back(&c);
    // kubectl prints headers upper-cased; send them in its usual Title form.
    std::string title;
    bool up = true;
    for (char ch : c.name) {
      title.push_back(up ? ch : static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
      up = ch == '-' || ch == ' ';
    }
    def(title, c.type, "", c.priority);
  }
  def("Age", "string", "", 0);
  table["columnDefinitions"] = std::move(defs);
  Value rows = Value::array();
  for (const auto& obj : objects) {
    Value cells = Value::array();
    cells.push(obj.getString("metadata.name"));
    for (const api::Column* c : cols) {
      std::string v = c->cell ? c->cell(obj) : std::string();
      if (c->type == "integer" && !v.empty() &&
          v.find_first_not_of("-0123456789") == std::string::npos) {
        cells.push(Value(int64_t(std::stoll(v))));
      } else {
        cells.push(v);
      }
    }
    cells.push(ageSince(obj.getString("metadata.creationTimestamp")));
    Value row = Value::object();
    row["cells"] = std::move(cells);
    if (includeObject) {
      row["object"] = obj;
    } else {
      Value partial = Value::object();
      partial["kind"] = "PartialObjectMetadata";
      partial["apiVersion"] = "meta.k8s.io/v1";
      Value meta = obj.find("metadata") ? *obj.find("metadata") : Value::object();
      meta.erase("managedFields");
      partial["metadata"] = std::move(meta);
      row["object"] = std::move(partial);
    }
    rows.push(std::move(row));
  }
  table["rows"] = std::move(rows);
  return table;
}

} // namespace caracal::apiserver
