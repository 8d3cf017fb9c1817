#pragma once
// caracalctl node status: the BGP peer table of the BIRD running on this host, as calicoctl prints
// it.
//
//   caracalctl node status [--bird-socket PATH]
//
// The control socket is --bird-socket, else $CARACAL_BIRD_SOCKET, else the first of
// /var/run/calico/bird.ctl and /var/run/bird/bird.ctl that answers. Output on success:
//   Calico process is running.
//
//   IPv4 BGP status
//   +--------------+-------------------+-------+----------+-------------+
//   ...
// When no socket answers: "The BGP backend process (BIRD) is not running." and exit code 1.

#include "datastore/kubeconfig.h"

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace caracal::ctl {

class CtlContext;

inline constexpr const char* kCalicoBirdSocket = "/var/run/calico/bird.ctl";
inline constexpr const char* kSystemBirdSocket = "/var/run/bird/bird.ctl";
inline constexpr const char* kBirdSocketEnv = "CARACAL_BIRD_SOCKET";

struct NodeCommand {
  CLI::App* node = nullptr;
  CLI::App* status = nullptr;
  std::string birdSocket; // --bird-socket; "" when not given
};

// Adds `node` and `node status` to `app`; `cmd` receives the parsed options.
void addNodeCommand(CLI::App& app, NodeCommand& cmd);
bool nodeParsed(const NodeCommand& cmd);
int runNode(CtlContext& ctx, const NodeCommand& cmd);

// The sockets to try, in order: the flag alone, else the environment variable alone, else the two
// default paths.
std::vector<std::string> birdSocketCandidates(const std::string& flag,
                                              const datastore::EnvLookup& env);

} // namespace caracal::ctl
