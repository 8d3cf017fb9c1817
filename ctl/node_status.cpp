#include "ctl/node_status.h"

#include "bgp/birdctl.h"
#include "common/value.h"
#include "ctl/commands.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>

namespace caracal::ctl {

namespace {

// A socket file nobody serves answers at once; a hung BIRD should not stall the command long.
constexpr std::chrono::milliseconds kBirdTimeout{3000};

// calicoctl's first line; its process check has no equivalent here (BIRD answering, or confd's
// status file, is what this command can see), so the line is printed unconditionally.
constexpr const char* kHeader = "Calico process is running.\n";

Status fieldError(const std::string& field, const std::string& expected) {
  return Status(Code::Invalid, "field \"" + field + "\" must be " + expected);
}

// Reads an optional string field into `out`.
Status optionalString(const Value& obj, const char* field, std::string& out) {
  const Value* v = obj.find(field);
  if (!v || v->isNull()) {
    return Status::ok();
  }
  if (!v->isString()) {
    return fieldError(field, "a string");
  }
  out = v->asString();
  return Status::ok();
}

// The status file for the socket that answered, else for the first candidate that has one.
std::optional<std::string> statusFileFor(const std::optional<std::string>& usedSocket,
                                         const std::vector<std::string>& candidates) {
  if (usedSocket) {
    return confdStatusPath(*usedSocket);
  }
  for (const std::string& socket : candidates) {
    std::string path = confdStatusPath(socket);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      return path;
    }
  }
  return std::nullopt;
}

// Prints the confd status block (after a blank line, as calicoctl separates its sections).
// Returns true when it reports a configuration error.
bool printConfdStatus(CtlContext& ctx, const std::optional<std::string>& path, bool birdRunning) {
  if (!path) {
    return false;
  }
  auto st = readConfdStatus(*path);
  if (!st) {
    if (st.error().code() != Code::NotFound) {
      ctx.err() << "Cannot read the BGP configuration status: " << st.error().message() << "\n";
    }
    return false;
  }
  std::string lines = formatConfdStatus(*st, birdRunning);
  if (!lines.empty()) {
    ctx.out() << "\n" << lines;
  }
  return !st->ok;
}

int runNodeStatus(CtlContext& ctx, const std::string& flag) {
  std::vector<std::string> candidates = birdSocketCandidates(flag, ctx.env().env);
  std::optional<std::string> usedSocket;
  std::optional<bgp::BirdClient> client;
  for (const std::string& path : candidates) {
    auto connected = bgp::BirdClient::connect(path, kBirdTimeout);
    if (connected) {
      usedSocket = path;
      client.emplace(std::move(connected).value());
      break;
    }
  }
  ctx.out() << kHeader;
  bool configError =
      printConfdStatus(ctx, statusFileFor(usedSocket, candidates), client.has_value());
  if (!client) {
    ctx.out() << "\nThe BGP backend process (BIRD) is not running.\n\n";
    return 1;
  }
  auto protocols = client->showProtocols();
  if (!protocols) {
    ctx.err() << "Error querying BIRD at " << *usedSocket << ": " << protocols.error().message()
              << "\n";
    return 1;
  }
  ctx.out() << "\n" << bgp::formatNodeStatus(bgp::peerRows(*protocols));
  return configError ? 1 : 0;
}

} // namespace

std::vector<std::string> birdSocketCandidates(const std::string& flag,
                                              const datastore::EnvLookup& env) {
  if (!flag.empty()) {
    return {flag};
  }
  if (env) {
    std::optional<std::string> fromEnv = env(kBirdSocketEnv);
    if (fromEnv && !fromEnv->empty()) {
      return {*fromEnv};
    }
  }
  return {kCalicoBirdSocket, kSystemBirdSocket};
}

std::string confdStatusPath(const std::string& socketPath) {
  std::filesystem::path dir = std::filesystem::path(socketPath).parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  return (dir / kConfdStatusFile).string();
}

Result<ConfdStatus> parseConfdStatus(std::string_view json) {
  auto doc = parseJson(json);
  if (!doc) {
    return Status(Code::Invalid, "not valid JSON: " + doc.error().message());
  }
  if (!doc->isObject()) {
    return Status(Code::Invalid, "not a JSON object");
  }
  ConfdStatus st;
  const Value* ok = doc->find("ok");
  if (!ok || !ok->isBool()) {
    return fieldError("ok", "true or false");
  }
  st.ok = ok->asBool();
  RETURN_IF_ERROR(optionalString(*doc, "node", st.node));
  RETURN_IF_ERROR(optionalString(*doc, "time", st.time));
  RETURN_IF_ERROR(optionalString(*doc, "error", st.error));
  RETURN_IF_ERROR(optionalString(*doc, "lastGoodTime", st.lastGoodTime));
  RETURN_IF_ERROR(optionalString(*doc, "outcome", st.outcome));
  if (const Value* w = doc->find("warnings"); w && !w->isNull()) {
    if (!w->isArray()) {
      return fieldError("warnings", "a list of strings");
    }
    for (const Value& item : w->asArray()) {
      if (!item.isString()) {
        return fieldError("warnings", "a list of strings");
      }
      st.warnings.push_back(item.asString());
    }
  }
  return st;
}

Result<ConfdStatus> readConfdStatus(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status(Code::Unavailable, path + ": is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT || !std::filesystem::exists(path, ec)) {
      return Status(Code::NotFound, path + ": no such file");
    }
    return Status(Code::Unavailable, path + ": " + std::strerror(err));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return Status(Code::Unavailable, path + ": read error");
  }
  auto st = parseConfdStatus(content.str());
  if (!st) {
    return Status(st.error().code(), path + ": " + st.error().message());
  }
  return st;
}

std::string formatConfdStatus(const ConfdStatus& st, bool birdRunning) {
  std::string out;
  if (!st.ok) {
    out += "BGP configuration error: " + (st.error.empty() ? "(no message)" : st.error) + "\n";
    if (birdRunning) {
      if (st.lastGoodTime.empty()) {
        out += "(BIRD keeps running the configuration it was started with; no valid "
               "configuration has been written yet)\n";
      } else {
        out += "(BIRD keeps running its last valid configuration, from " + st.lastGoodTime + ")\n";
      }
    }
  }
  for (const std::string& w : st.warnings) {
    out += "Warning: " + w + "\n";
  }
  return out;
}

void addNodeCommand(CLI::App& app, NodeCommand& cmd) {
  cmd.node = app.add_subcommand("node", "Calico node management");
  cmd.node->require_subcommand(1);
  cmd.status = cmd.node->add_subcommand(
      "status", "Show the BGP peers of the BIRD on this host and the BGP configuration status");
  cmd.status->add_option("--bird-socket", cmd.birdSocket,
                         std::string("BIRD control socket (default: $") + kBirdSocketEnv +
                             ", else " + kCalicoBirdSocket + ", else " + kSystemBirdSocket + ")");
}

bool nodeParsed(const NodeCommand& cmd) { return cmd.node != nullptr && cmd.node->parsed(); }

int runNode(CtlContext& ctx, const NodeCommand& cmd) {
  if (cmd.status->parsed()) {
    return runNodeStatus(ctx, cmd.birdSocket);
  }
  ctx.err() << "node needs a subcommand: status\n";
  return 1;
}

} // namespace caracal::ctl
