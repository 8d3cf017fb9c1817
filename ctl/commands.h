#pragma once
// Private to caracalctl: the command implementations and the helpers they share. The command line
// itself (CLI11) is wired in ctl.cpp; each command here takes already parsed options.

#include "api/registry.h"
#include "ctl/ctl.h"
#include "datastore/rest_client.h"

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caracal::ctl {

struct GlobalFlags {
  datastore::ConfigOverrides config;
  std::string ns; // -n/--namespace; "" when not given
};

// Per-invocation state: flags, streams and the client, created on first use.
class CtlContext {
public:
  CtlContext(const CtlEnv& env, std::ostream& out, std::ostream& err)
      : env_(env), out_(out), err_(err) {}

  GlobalFlags flags;
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  std::istream& in();
  const CtlEnv& env() const { return env_; }

  // Resolves the configuration and connects; the error is already worded for the user.
  Result<datastore::RestClient*> client();
  // The namespace for namespaced kinds when none is given elsewhere: -n, else "default".
  std::string defaultNamespace() const { return flags.ns.empty() ? "default" : flags.ns; }
  void sleep(std::chrono::milliseconds d) const;

private:
  const CtlEnv& env_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<datastore::RestClient> client_;
};

// ---- manifests (manifest.cpp) ----

// One resource read from a file: the document, or one item of a List document.
struct ManifestDoc {
  std::string file; // as given ("-" for standard input)
  size_t index = 0; // 0-based position among the resources of that file, after List expansion
  Value obj;        // as written, plus the namespace filled in for namespaced kinds
  const api::KindInfo* info = nullptr; // set once validated
};

// Reads FILE, every *.yaml/*.yml/*.json in DIR (sorted; subdirectories with `recursive`), or
// standard input for "-". Lists (`List`, `<Kind>List`) are expanded. Errors name the file.
Result<std::vector<ManifestDoc>> loadManifests(const std::string& path, bool recursive,
                                               std::istream& in);

// Checks every document (kind known, namespace rules, api::normalize) and fills in the namespace
// of namespaced kinds from `cliNamespace` or "default". Returns one line per problem, formatted
// "FILE:INDEX: field.path: message"; empty when all are valid.
std::vector<std::string> validateManifests(std::vector<ManifestDoc>& docs,
                                           const std::string& cliNamespace);

// "FILE:INDEX: " + cause.str()
std::string docLine(const std::string& file, size_t index, const FieldCause& cause);

// ---- shared wording (output.cpp) ----

// calicoctl's identifier of a resource: "IPPool(pool1)" or "NetworkPolicy(ns/name)".
std::string resourceId(const api::KindInfo& info, const std::string& ns, const std::string& name);
std::string resourceId(const api::KindInfo& info, const Value& obj);
// An error from the server in calicoctl's words: "resource does not exist: IPPool(x) with error:
// ...", "resource already exists: IPPool(x)", "update conflict: IPPool(x): ..."; otherwise the
// server's message (with any field causes it lacks appended).
std::string describeError(const Status& st, const std::string& id);

// Go text/tabwriter as calicoctl configures it (min width 5, padding 3, every cell terminated):
// each cell is padded to its column's width plus 3, lines keep their trailing spaces, and the
// table is followed by one empty line.
std::string renderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);

// ---- commands ----

enum class FileAction { Apply, Create, Replace, Delete };
struct FileCommandOptions {
  std::string filename;
  bool recursive = false;
  bool skipExists = false;    // create
  bool skipNotExists = false; // delete
};
int runFileCommand(CtlContext& ctx, FileAction action, const FileCommandOptions& opts);

int runDeleteByName(CtlContext& ctx, const std::string& kind, const std::vector<std::string>& names,
                    bool skipNotExists);

struct GetOptions {
  std::string kind;
  std::vector<std::string> names;
  bool allNamespaces = false;
  std::string labelSelector;
  std::string output = "ps";
};
int runGet(CtlContext& ctx, const GetOptions& opts);

int runPatch(CtlContext& ctx, const std::string& kind, const std::string& name,
             const std::string& patch, const std::string& type);

struct LabelOptions {
  std::string kind;
  std::string name;
  std::string label; // "key=value", or "key" with remove
  bool overwrite = false;
  bool remove = false;
};
int runLabel(CtlContext& ctx, const LabelOptions& opts);

int runVersion(CtlContext& ctx);

int runSelector(CtlContext& ctx, const std::string& expr, const std::optional<std::string>& labels);

} // namespace caracal::ctl
