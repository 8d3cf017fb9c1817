#pragma once
// Running another CNI plugin (the IPAM plugin) the way a runtime does: found by name in CNI_PATH,
// network configuration on stdin, CNI_* in the environment, result (or error object) on stdout.

#include "cni/types.h"
#include "common/result.h"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caracal::cni {

// The first executable file `name` in the ':'-separated directories of `cniPath`. NotFound names
// the plugin and the directories searched.
Result<std::string> findPlugin(std::string_view name, std::string_view cniPath);

struct ExecOutput {
  int exitCode = -1; // the plugin's exit status; -1 when killed by a signal
  std::string out;   // its stdout
};

// Runs `path` with `input` on stdin and this process's environment with `envOverrides` applied;
// its stderr is this process's stderr. The plugin is killed after `timeout`.
Result<ExecOutput> execPlugin(const std::string& path, std::string_view input,
                              const std::vector<std::pair<std::string, std::string>>& envOverrides,
                              std::chrono::milliseconds timeout = std::chrono::seconds(120));

// The IPAM plugin as the main plugin sees it.
class IpamInvoker {
public:
  virtual ~IpamInvoker() = default;
  virtual Outcome<CniResult> add() = 0;
  virtual MaybeError del() = 0;
  virtual MaybeError check() = 0;
};

// Execs `pluginPath` with `config` (the main plugin's own stdin) and CNI_COMMAND set per call.
class ExecIpam : public IpamInvoker {
public:
  ExecIpam(std::string pluginPath, std::string config)
      : path_(std::move(pluginPath)), config_(std::move(config)) {}
  Outcome<CniResult> add() override;
  MaybeError del() override;
  MaybeError check() override;

private:
  Outcome<std::string> run(const char* command);

  std::string path_;
  std::string config_;
};

} // namespace caracal::cni
