#include "cni/run.h"

#include "cni/api.h"
#include "cni/config.h"
#include "datastore/kubeconfig.h"
#include "datastore/rest_client.h"

#include <iostream>
#include <iterator>

namespace caracal::cni {

PluginRun::PluginRun(const EnvLookup& envLookup, std::string_view input, std::string& output)
    : input_(input), output_(output) {
  inv_.env = readEnvironment(envLookup);
  if (auto doc = parseJson(input); doc && doc->isObject()) {
    version_ = doc->getString("cniVersion");
  }
  replyVersion_ = isSupportedVersion(version_) ? version_ : "1.0.0";
}

int PluginRun::fail(const Error& e) {
  output_ = errorJson(e, replyVersion_) + "\n";
  return 1;
}

std::optional<int> PluginRun::start(bool needsNetns, Logger& log) {
  const Environment& env = inv_.env;
  if (env.command == "VERSION") {
    output_ = versionInfoJson(version_) + "\n";
    return 0;
  }
  Environment checked = env;
  if (!needsNetns && checked.netns.empty()) {
    checked.netns = std::string("-");
  }
  if (auto e = checkEnvironment(checked)) {
    return fail(*e);
  }
  auto conf = parseNetConf(input_);
  if (!conf) {
    uint32_t code = conf.code() == Code::BadRequest ? kErrDecodingFailure : kErrInvalidConfig;
    return fail(Error{code, "invalid network configuration", conf.error().message()});
  }
  if (auto e = checkVersion(*conf)) {
    return fail(*e);
  }
  auto args = parseCniArgs(env.args);
  if (!args) {
    return fail(Error{kErrInvalidEnvironment, "invalid CNI_ARGS", args.error().message()});
  }
  log.configure(parseLogLevel(conf->logLevel), conf->logFilePath);
  log.setContext("ContainerID=" + env.containerId);

  inv_.args = *args;
  auto node = resolveNodename(*conf);
  if (!node) {
    return fail(Error{kErrInvalidConfig, "cannot determine the node name", node.error().message()});
  }
  inv_.node = *node;
  inv_.conf = std::move(conf).value();
  return std::nullopt;
}

Outcome<std::unique_ptr<datastore::RestClient>> PluginRun::connect() const {
  auto rest = connectRest(inv_.conf.kubeconfig);
  if (!rest) {
    return Error{kErrInvalidConfig, "cannot build an API client", rest.error().message()};
  }
  return std::move(rest).value();
}

int runOnProcess(int (*run)(const EnvLookup& env, std::string_view input, std::string& output)) {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string output;
  int rc = run(datastore::processEnv, input, output);
  std::cout << output;
  std::cout.flush();
  return rc;
}

} // namespace caracal::cni
