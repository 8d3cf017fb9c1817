#pragma once
// caracalctl ipam: calicoctl's IPAM commands over ipam::Ipam.
//
//   caracalctl ipam show [--show-blocks] [--ip=X]
//   caracalctl ipam check [--show-problem-ips] [-o report.json]
//   caracalctl ipam release --ip=X [--ip=Y...] [--force] | --from-report=report.json
//   caracalctl ipam configure [--strictaffinity=true|false] [--max-blocks-per-host=N]
//
// Exit codes: 0 on success (show of an unassigned address included), 1 on any failure, and for
// check, 1 when it found a problem. Output text is listed in docs/design/ipam.md.

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace caracal::ctl {

class CtlContext;

struct IpamOptions {
  // show
  bool showBlocks = false;
  std::string ip;
  // check
  bool showProblemIps = false;
  std::string output; // report file
  // release
  std::vector<std::string> releaseIps;
  std::string fromReport;
  bool force = false;
  // configure
  std::string strictAffinity; // "true" / "false"; "" when not given
  std::optional<int> maxBlocksPerHost;
};

struct IpamCommand {
  CLI::App* ipam = nullptr;
  CLI::App* show = nullptr;
  CLI::App* check = nullptr;
  CLI::App* release = nullptr;
  CLI::App* configure = nullptr;
  IpamOptions opts;
};

// Adds `ipam` and its subcommands to `app`; `cmd` receives the parsed options.
void addIpamCommand(CLI::App& app, IpamCommand& cmd);
// True when the command line named `ipam`.
bool ipamParsed(const IpamCommand& cmd);
// Runs the parsed ipam subcommand.
int runIpam(CtlContext& ctx, const IpamCommand& cmd);

// calicoctl's boxed table (olekukonko/tablewriter defaults): '+'/'-'/'|' borders, headers
// centred, numeric cells right-aligned and the rest left-aligned.
std::string renderBoxTable(const std::vector<std::string>& headers,
                           const std::vector<std::vector<std::string>>& rows);

} // namespace caracal::ctl
