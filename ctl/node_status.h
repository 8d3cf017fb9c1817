#pragma once
// caracalctl node status: the BGP peer table of the BIRD running on this host, as calicoctl prints
// it, plus the state of the last BGP configuration render (confd-status.json).
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
//
// confd writes `confd-status.json` next to the socket (contracts: caracal-node --bird-run-dir).
// The file is read from the directory of the socket that answered; when none answers, from the
// directory of the first candidate that has one. When it reports a failed render, the lines
//   BGP configuration error: <error>
//   (BIRD keeps running its last valid configuration, from <lastGoodTime>)
// are printed between the first line and the peer tables, and the exit code is 1. Warnings are
// printed there as "Warning: <w>" whatever the outcome. A missing file adds nothing (a BIRD not
// managed by caracal); an unreadable or malformed one is reported on stderr and otherwise ignored.
//
// When no socket answers: "Calico process is running.", a blank line, "The BGP backend process
// (BIRD) is not running.", a blank line (calicoctl's layout), and exit code 1.

#include "common/result.h"
#include "datastore/kubeconfig.h"

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace caracal::ctl {

class CtlContext;

inline constexpr const char* kCalicoBirdSocket = "/var/run/calico/bird.ctl";
inline constexpr const char* kSystemBirdSocket = "/var/run/bird/bird.ctl";
inline constexpr const char* kBirdSocketEnv = "CARACAL_BIRD_SOCKET";
inline constexpr const char* kConfdStatusFile = "confd-status.json";

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

// confd-status.json, as confd writes it after every render attempt.
struct ConfdStatus {
  std::string node;
  std::string time; // of this attempt (RFC 3339 UTC)
  bool ok = true;   // false: the render or BIRD's validation of it failed
  std::string error;
  std::vector<std::string> warnings;
  std::string lastGoodTime; // when the running configuration was last written ("" never)
  std::string outcome;      // "Unchanged" | "Written" | "Reloaded"
};

// `<directory of socketPath>/confd-status.json`.
std::string confdStatusPath(const std::string& socketPath);

// Parses the file's content. Invalid, with a message naming the problem, when it is not JSON, not
// an object, lacks the boolean "ok" or has a field of the wrong type.
Result<ConfdStatus> parseConfdStatus(std::string_view json);

// Reads and parses `path`. NotFound when the file does not exist; other read failures are
// Unavailable; parse failures as parseConfdStatus. Messages name the file.
Result<ConfdStatus> readConfdStatus(const std::string& path);

// The lines node status prints for `st` (each ending in '\n'; "" when ok without warnings).
// `birdRunning` false leaves out the line about BIRD keeping its last configuration.
std::string formatConfdStatus(const ConfdStatus& st, bool birdRunning);

} // namespace caracal::ctl
