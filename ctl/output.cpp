// Wording and table layout shared by the commands.
#include "ctl/commands.h"

#include <algorithm>

namespace caracal::ctl {

namespace {

// Display width: UTF-8 code points, as Go's tabwriter counts them.
size_t displayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

constexpr size_t kMinWidth = 5;
constexpr size_t kPadding = 3;

} // namespace

std::string resourceId(const api::KindInfo& info, const std::string& ns, const std::string& name) {
  if (info.namespaced && !ns.empty()) {
    return info.kind + "(" + ns + "/" + name + ")";
  }
  return info.kind + "(" + name + ")";
}

std::string resourceId(const api::KindInfo& info, const Value& obj) {
  return resourceId(info, obj.getString("metadata.namespace"), obj.getString("metadata.name"));
}

std::string describeError(const Status& st, const std::string& id) {
  std::string msg = st.message();
  for (const auto& cause : st.causes()) {
    if (msg.find(cause.str()) == std::string::npos) {
      msg += "; " + cause.str();
    }
  }
  switch (st.code()) {
  case Code::NotFound:
    return "resource does not exist: " + id + " with error: " + msg;
  case Code::AlreadyExists:
    return "resource already exists: " + id;
  case Code::Conflict:
    return "update conflict: " + id + ": " + msg;
  default:
    return msg;
  }
}

std::string renderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size(), 0);
  auto measure = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], displayWidth(cells[i]));
    }
  };
  measure(headers);
  for (const auto& r : rows) {
    measure(r);
  }
  for (auto& w : widths) {
    w = std::max(w + kPadding, kMinWidth);
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : std::string();
      out += cell;
      out.append(widths[i] - displayWidth(cell), ' ');
    }
    out += '\n';
  };
  line(headers);
  for (const auto& r : rows) {
    line(r);
  }
  out += '\n';
  return out;
}

} // namespace caracal::ctl
