#pragma once
// caracalctl: the calicoctl-style command line, as a library.
//
//   caracalctl [global flags] apply|create|replace|delete -f FILE|DIR|- [-R] [--skip-exists]
//              [--skip-not-exists]
//   caracalctl delete KIND NAME... [-n NS] [--skip-not-exists]
//   caracalctl get KIND [NAME...] [-n NS | -A] [-l SELECTOR] [-o ps|wide|yaml|json|name]
//   caracalctl patch KIND NAME -p PATCH [--type strategic|merge|json]
//   caracalctl label KIND NAME key=value [--overwrite] | key --remove
//   caracalctl selector EXPR [--labels k=v,...]
//   caracalctl ipam show [--show-blocks] [--ip=X] | check | release --ip=X | configure ...
//   caracalctl node status [--bird-socket PATH]
//   caracalctl version
// Global flags: --server, --token, --kubeconfig, --context, --certificate-authority,
// --insecure-skip-tls-verify, -n/--namespace.
//
// Results go to `out`, errors to `err`; the exit code is 0 on success and 1 on any failure. Output
// text follows calicoctl (docs/design/caracalctl.md lists every message).

#include "common/result.h"
#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace caracal::ctl {

// What the commands take from the outside world; tests replace each piece.
struct CtlEnv {
  datastore::EnvLookup env = datastore::processEnv;
  std::istream* in = nullptr; // "-f -" reads here; nullptr means std::cin
  // Builds the client once the configuration is resolved.
  std::function<Result<std::unique_ptr<datastore::RestClient>>(const datastore::ClientConfig&)>
      makeClient = datastore::RestClient::fromConfig;
  std::string defaultKubeconfig = datastore::kDefaultAdminKubeconfig;
  // Pause between retries after an update conflict.
  std::function<void(std::chrono::milliseconds)> sleep;
};

int runCaracalctl(int argc, char** argv, std::ostream& out, std::ostream& err);
int runCaracalctl(int argc, char** argv, std::ostream& out, std::ostream& err, const CtlEnv& env);
// Convenience for tests: `args` excludes the program name.
int runCaracalctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const CtlEnv& env);

} // namespace caracal::ctl
