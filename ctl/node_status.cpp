#include "ctl/node_status.h"

#include "bgp/birdctl.h"
#include "ctl/commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <ostream>

namespace caracal::ctl {

namespace {

// A socket file nobody serves answers at once; a hung BIRD should not stall the command long.
constexpr std::chrono::milliseconds kBirdTimeout{3000};

int runNodeStatus(CtlContext& ctx, const std::string& flag) {
  std::vector<std::string> candidates = birdSocketCandidates(flag, ctx.env().env);
  for (const std::string& path : candidates) {
    auto client = bgp::BirdClient::connect(path, kBirdTimeout);
    if (!client) {
      continue;
    }
    auto protocols = client->showProtocols();
    if (!protocols) {
      ctx.err() << "Error querying BIRD at " << path << ": " << protocols.error().message() << "\n";
      return 1;
    }
    ctx.out() << "Calico process is running.\n\n"
              << bgp::formatNodeStatus(bgp::peerRows(*protocols));
    return 0;
  }
  ctx.out() << "The BGP backend process (BIRD) is not running.\n";
  return 1;
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

void addNodeCommand(CLI::App& app, NodeCommand& cmd) {
  cmd.node = app.add_subcommand("node", "Calico node management");
  cmd.node->require_subcommand(1);
  cmd.status = cmd.node->add_subcommand("status", "Show the BGP peers of the BIRD on this host");
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
