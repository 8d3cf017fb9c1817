// Reading resources from files, directories and standard input, and checking them before anything
// is sent: a manifest with one bad document changes nothing.
#include "common/strings.h"
#include "ctl/commands.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace caracal::ctl {

namespace fs = std::filesystem;

namespace {

bool isManifestFile(const fs::path& p) {
  std::string ext = toLower(p.extension().string());
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

Result<std::string> readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::NotFound, "cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool isListDoc(const Value& doc) {
  if (!doc.isObject() || !doc.has("items")) {
    return false;
  }
  std::string kind = doc.getString("kind");
  return kind == "List" || (kind.size() > 4 && endsWith(kind, "List"));
}

Status parseInto(const std::string& name, std::string_view text, std::vector<ManifestDoc>& out) {
  auto docs = parseDocuments(text);
  if (!docs) {
    return Status(Code::Invalid, name + ": " + docs.error().message());
  }
  size_t index = 0;
  size_t before = out.size();
  for (auto& doc : *docs) {
    if (isListDoc(doc)) {
      const Value* items = doc.find("items");
      if (!items->isArray()) {
        return Status(Code::Invalid, name + ": items: expected a list");
      }
      std::string listKind = doc.getString("kind");
      std::string itemKind = listKind == "List" ? "" : listKind.substr(0, listKind.size() - 4);
      std::string apiVersion = doc.getString("apiVersion");
      for (const auto& item : items->asArray()) {
        ManifestDoc md{name, index++, item, nullptr};
        if (md.obj.isObject()) {
          if (!itemKind.empty() && !md.obj.has("kind")) {
            md.obj.set("kind", itemKind);
          }
          if (!apiVersion.empty() && !md.obj.has("apiVersion") && listKind != "List") {
            md.obj.set("apiVersion", apiVersion);
          }
        }
        out.push_back(std::move(md));
      }
      continue;
    }
    out.push_back(ManifestDoc{name, index++, std::move(doc), nullptr});
  }
  if (out.size() == before) {
    return Status(Code::Invalid, "No resources specified in file " + name);
  }
  return Status::ok();
}

} // namespace

Result<std::vector<ManifestDoc>> loadManifests(const std::string& path, bool recursive,
                                               std::istream& in) {
  std::vector<ManifestDoc> out;
  if (path == "-") {
    std::ostringstream ss;
    ss << in.rdbuf();
    RETURN_IF_ERROR(parseInto("-", ss.str(), out));
    return out;
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> files;
    if (recursive) {
      for (auto it = fs::recursive_directory_iterator(path, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && isManifestFile(it->path())) {
          files.push_back(it->path().string());
        }
      }
    } else {
      for (auto it = fs::directory_iterator(path, ec); !ec && it != fs::directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file(ec) && isManifestFile(it->path())) {
          files.push_back(it->path().string());
        }
      }
    }
    if (ec) {
      return Status(Code::NotFound, "cannot read directory " + path + ": " + ec.message());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      return Status(Code::Invalid, "No resources specified in directory " + path);
    }
    for (const auto& f : files) {
      ASSIGN_OR_RETURN(std::string text, readAll(f));
      RETURN_IF_ERROR(parseInto(f, text, out));
    }
    return out;
  }
  ASSIGN_OR_RETURN(std::string text, readAll(path));
  RETURN_IF_ERROR(parseInto(path, text, out));
  return out;
}

std::string docLine(const std::string& file, size_t index, const FieldCause& cause) {
  return file + ":" + std::to_string(index) + ": " + cause.str();
}

std::vector<std::string> validateManifests(std::vector<ManifestDoc>& docs,
                                           const std::string& cliNamespace) {
  std::vector<std::string> lines;
  for (auto& doc : docs) {
    auto report = [&](std::string field, std::string message) {
      lines.push_back(
          docLine(doc.file, doc.index, FieldCause{std::move(field), std::move(message)}));
    };
    doc.info = nullptr;
    if (!doc.obj.isObject()) {
      report("", std::string("expected an object, got ") + doc.obj.typeName());
      continue;
    }
    std::string apiVersion = doc.obj.getString("apiVersion");
    std::string kind = doc.obj.getString("kind");
    if (apiVersion.empty()) {
      report("apiVersion", "Required value");
    }
    if (kind.empty()) {
      report("kind", "Required value");
    }
    if (apiVersion.empty() || kind.empty()) {
      continue;
    }
    const api::KindInfo* info = api::findByKind(apiVersion, kind);
    if (!info) {
      report("kind",
             "resource type '" + kind + "' is not supported in apiVersion \"" + apiVersion + "\"");
      continue;
    }
    std::string ns = doc.obj.getString("metadata.namespace");
    if (info->namespaced) {
      if (ns.empty()) {
        doc.obj["metadata"].set("namespace", cliNamespace.empty() ? "default" : cliNamespace);
      } else if (!cliNamespace.empty() && ns != cliNamespace) {
        report("metadata.namespace",
               "resource namespace does not match client namespace. " + ns + " != " + cliNamespace);
        continue;
      }
    } else if (!ns.empty()) {
      report("metadata.namespace",
             "namespace should not be specified for a non-namespaced resource. " + info->kind +
                 " is not a namespaced resource");
      continue;
    }
    Value copy = doc.obj;
    Status st = api::normalize(*info, copy);
    if (!st.isOk()) {
      if (st.causes().empty()) {
        report("", st.message());
      }
      for (const auto& cause : st.causes()) {
        lines.push_back(docLine(doc.file, doc.index, cause));
      }
      continue;
    }
    doc.info = info;
  }
  return lines;
}

} // namespace caracal::ctl
