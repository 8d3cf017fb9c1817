// caracal-controller: the cluster-wide reconcilers. Today: Kubernetes NetworkPolicy to Calico
// NetworkPolicy (controller/policy_controller.h). Runs until SIGTERM or SIGINT.
#include "common/signals.h"
#include "controller/policy_controller.h"
#include "datastore/connect.h"
#include "felix/syncer.h"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  using namespace caracal;
  std::string kubeconfig;
  std::string logLevel = "info";
  int resyncSeconds = 300;
  CLI::App app{"caracal-controller: keeps Calico NetworkPolicies knp.default.<name> in step with "
               "Kubernetes NetworkPolicies"};
  app.add_option("--kubeconfig", kubeconfig,
                 "kubeconfig of the API server (default: $KUBECONFIG, then "
                 "/var/lib/caracal/admin.kubeconfig)");
  app.add_option("--log-level", logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error"}));
  app.add_option("--resync-seconds", resyncSeconds,
                 "period of the full comparison of every policy (0: only at start)")
      ->check(CLI::Range(0, 86400));
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("caracal-controller");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(logLevel == "warning" ? "warn" : logLevel));

  // Signals are taken synchronously by the main thread: block them before any thread starts.
  BlockedSignals sigs{SIGTERM, SIGINT};

  auto client = datastore::connectRestClient(kubeconfig, "caracal-controller/" CARACAL_VERSION);
  if (!client) {
    spdlog::error("{}", client.error().message());
    return 1;
  }

  std::unique_ptr<controller::PolicyWriter> writer = controller::makeRestPolicyWriter(**client);
  std::unique_ptr<felix::ListWatchSource> source = felix::makeRestListWatchSource(**client);
  felix::Syncer syncer(*source, controller::PolicyController::kinds());
  controller::ControllerOptions opts;
  opts.resyncInterval = std::chrono::seconds(resyncSeconds);
  controller::PolicyController policies(*writer, opts);
  policies.attach(syncer);
  policies.start();
  syncer.start();
  spdlog::info("caracal-controller " CARACAL_VERSION " started");

  int sig = sigs.wait();
  spdlog::info("signal {}: stopping", sig);
  syncer.stop(); // no callback after this
  policies.stop();
  return 0;
}
