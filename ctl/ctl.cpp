// The command line: CLI11 parsing of the global flags and every subcommand, then dispatch. CLI11
// reports parse errors by exceptions; they stay inside this file.
#include "ctl/ctl.h"

#include "ctl/commands.h"
#include "ctl/ipam.h"
#include "ctl/node_status.h"

#include <CLI/CLI.hpp>
#include <ostream>

namespace caracal::ctl {

namespace {

const char* kDescription =
    "caracalctl: manage caracal resources (projectcalico.org/v3 and the Kubernetes kinds caracal "
    "serves) the way calicoctl does.\n\n"
    "The API server is taken from --server/--token, else $CARACAL_SERVER/$CARACAL_TOKEN, else\n"
    "--kubeconfig, else $KUBECONFIG, else /var/lib/caracal/admin.kubeconfig.";

void addFileOptions(CLI::App* sub, FileCommandOptions& o, bool required) {
  auto* f = sub->add_option("-f,--filename", o.filename,
                            "File, directory or '-' (standard input) with YAML or JSON resources");
  if (required) {
    f->required();
  }
  sub->add_flag("-R,--recursive", o.recursive, "Process the directory given in -f recursively");
}

} // namespace

int runCaracalctl(int argc, char** argv, std::ostream& out, std::ostream& err) {
  return runCaracalctl(argc, argv, out, err, CtlEnv{});
}

int runCaracalctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const CtlEnv& env) {
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.push_back("caracalctl");
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  return runCaracalctl(static_cast<int>(storage.size()), argv.data(), out, err, env);
}

int runCaracalctl(int argc, char** argv, std::ostream& out, std::ostream& err, const CtlEnv& env) {
  CtlContext ctx(env, out, err);
  GlobalFlags& g = ctx.flags;

  CLI::App app(kDescription, "caracalctl");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--server", g.config.server, "API server URL (https://host:port)");
  app.add_option("--token", g.config.token, "Bearer token for the API server");
  app.add_option("--kubeconfig", g.config.kubeconfig, "Path to a kubeconfig file");
  app.add_option("--context", g.config.context, "The kubeconfig context to use");
  app.add_option("--certificate-authority", g.config.certificateAuthority,
                 "Path to the CA certificate(s) (PEM) that signed the server's certificate");
  app.add_flag("--insecure-skip-tls-verify", g.config.insecureSkipTlsVerify,
               "Do not verify the server's certificate (insecure)");
  app.add_option("-n,--namespace", g.ns,
                 "Namespace of namespaced resources (default: \"default\")");

  FileCommandOptions applyOpts, createOpts, replaceOpts, deleteOpts;
  auto* apply = app.add_subcommand("apply", "Create or replace resources by filename or stdin");
  addFileOptions(apply, applyOpts, true);
  auto* create = app.add_subcommand("create", "Create resources by filename or stdin");
  addFileOptions(create, createOpts, true);
  create->add_flag("--skip-exists", createOpts.skipExists,
                   "Skip over and treat as successful any resources that already exist");
  auto* replace = app.add_subcommand("replace", "Replace existing resources by filename or stdin");
  addFileOptions(replace, replaceOpts, true);

  auto* del = app.add_subcommand("delete", "Delete resources by filename, stdin, or kind and name");
  addFileOptions(del, deleteOpts, false);
  std::string deleteKind;
  std::vector<std::string> deleteNames;
  del->add_option("kind", deleteKind, "Resource kind (when not using -f)");
  del->add_option("names", deleteNames, "Resource names");
  del->add_flag("-s,--skip-not-exists", deleteOpts.skipNotExists,
                "Skip over and treat as successful any resources that do not exist");

  GetOptions getOpts;
  auto* get = app.add_subcommand("get", "Display resources");
  get->add_option("kind", getOpts.kind, "Resource kind (ippool, bgppeer, gnp, ...)")->required();
  get->add_option("names", getOpts.names, "Resource names (default: all)");
  get->add_flag("-A,--all-namespaces", getOpts.allNamespaces,
                "List namespaced resources of every namespace");
  get->add_option("-l,--selector", getOpts.labelSelector,
                  "Label selector (k8s syntax) to filter on");
  get->add_option("-o,--output", getOpts.output, "Output format: ps, wide, yaml, json or name");

  std::string patchKind, patchName, patchBody, patchType = "strategic";
  auto* patch = app.add_subcommand("patch", "Patch a resource in place");
  patch->add_option("kind", patchKind, "Resource kind")->required();
  patch->add_option("name", patchName, "Resource name")->required();
  patch->add_option("-p,--patch", patchBody, "The patch, as JSON")->required();
  patch->add_option("-t,--type", patchType, "Patch type: strategic (default), merge or json");

  LabelOptions labelOpts;
  auto* label = app.add_subcommand("label", "Set or remove a label on a resource");
  label->add_option("kind", labelOpts.kind, "Resource kind")->required();
  label->add_option("name", labelOpts.name, "Resource name")->required();
  label->add_option("label", labelOpts.label, "key=value, or key with --remove")->required();
  label->add_flag("--overwrite", labelOpts.overwrite, "Replace the value of an existing label");
  label->add_flag("--remove", labelOpts.remove, "Remove the label");

  std::string selectorExpr, selectorLabels;
  auto* selector = app.add_subcommand(
      "selector", "Evaluate a selector against labels, or list the endpoints it selects");
  selector->add_option("expression", selectorExpr, "Selector expression")->required();
  auto* labelsOpt =
      selector->add_option("--labels", selectorLabels, "Labels to test: k=v,k2=v2 (may be empty)");

  auto* version = app.add_subcommand("version", "Print client and cluster versions");

  IpamCommand ipamCmd;
  addIpamCommand(app, ipamCmd);
  NodeCommand nodeCmd;
  addNodeCommand(app, nodeCmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e, out, err);
    return rc == 0 ? 0 : 1;
  }

  if (apply->parsed()) {
    return runFileCommand(ctx, FileAction::Apply, applyOpts);
  }
  if (create->parsed()) {
    return runFileCommand(ctx, FileAction::Create, createOpts);
  }
  if (replace->parsed()) {
    return runFileCommand(ctx, FileAction::Replace, replaceOpts);
  }
  if (del->parsed()) {
    if (!deleteOpts.filename.empty()) {
      if (!deleteKind.empty()) {
        err << "delete takes either -f or KIND NAME..., not both\n";
        return 1;
      }
      return runFileCommand(ctx, FileAction::Delete, deleteOpts);
    }
    if (deleteKind.empty()) {
      err << "delete needs -f FILE or KIND NAME...\n";
      return 1;
    }
    return runDeleteByName(ctx, deleteKind, deleteNames, deleteOpts.skipNotExists);
  }
  if (get->parsed()) {
    return runGet(ctx, getOpts);
  }
  if (patch->parsed()) {
    return runPatch(ctx, patchKind, patchName, patchBody, patchType);
  }
  if (label->parsed()) {
    return runLabel(ctx, labelOpts);
  }
  if (selector->parsed()) {
    std::optional<std::string> labels;
    if (labelsOpt->count() > 0) {
      labels = selectorLabels;
    }
    return runSelector(ctx, selectorExpr, labels);
  }
  if (version->parsed()) {
    return runVersion(ctx);
  }
  if (ipamParsed(ipamCmd)) {
    return runIpam(ctx, ipamCmd);
  }
  if (nodeParsed(nodeCmd)) {
    return runNode(ctx, nodeCmd);
  }
  err << "no command given\n";
  return 1;
}

} // namespace caracal::ctl
