#pragma once
// The frame both plugin processes share: the reply version, VERSION, the checks of the
// environment, the configuration and CNI_ARGS, the logger, the node name, the API client, and the
// dispatch of ADD, DEL and CHECK to a plugin object.

#include "cni/log.h"
#include "cni/plugin.h"
#include "cni/types.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace caracal::datastore {
class RestClient;
}

namespace caracal::cni {

class PluginRun {
public:
  // `output` receives the reply. An error reply carries the requested cniVersion when it is
  // supported, else 1.0.0.
  PluginRun(const EnvLookup& envLookup, std::string_view input, std::string& output);

  // Writes `e` as the error reply; returns the exit code (1).
  int fail(const Error& e);

  // Answers VERSION; otherwise checks the environment (CNI_NETNS only when `needsNetns`), parses
  // the configuration and CNI_ARGS, configures `log` from the configuration with the context
  // "ContainerID=<id>", and fills invocation() (env, args, node and conf). Returns the exit code
  // when the run ends here, nullopt when the plugin goes on.
  std::optional<int> start(bool needsNetns, Logger& log);

  Invocation& invocation() { return inv_; }

  // A REST client for the configuration's kubeconfig.
  Outcome<std::unique_ptr<datastore::RestClient>> connect() const;

  // Runs the environment's command (ADD, DEL or CHECK) on `plugin` and writes its reply; returns
  // the exit code.
  template <typename P> int dispatch(P& plugin, Logger& log) {
    if (inv_.env.command == "ADD") {
      auto r = plugin.add(inv_);
      if (!r) {
        log.error("ADD failed: " + r.error().msg + ": " + r.error().details);
        return fail(r.error());
      }
      output_ = resultJson(*r, inv_.conf.cniVersion) + "\n";
      return 0;
    }
    MaybeError e = inv_.env.command == "DEL" ? plugin.del(inv_) : plugin.check(inv_);
    if (e) {
      return fail(*e);
    }
    output_.clear();
    return 0;
  }

private:
  std::string_view input_;
  std::string& output_;
  std::string version_;      // as requested
  std::string replyVersion_; // for error replies
  Invocation inv_;
};

// Runs `run` on the process's environment, stdin and stdout; returns its exit code.
int runOnProcess(int (*run)(const EnvLookup& env, std::string_view input, std::string& output));

} // namespace caracal::cni
