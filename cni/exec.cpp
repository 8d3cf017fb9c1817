#include "cni/exec.h"

#include "common/strings.h"
#include "common/subprocess.h"

#include <map>
#include <sys/stat.h>
#include <unistd.h>

extern char** environ;

namespace caracal::cni {

Result<std::string> findPlugin(std::string_view name, std::string_view cniPath) {
  std::vector<std::string> searched;
  for (const std::string& dir : split(cniPath, ':')) {
    if (dir.empty()) {
      continue;
    }
    searched.push_back(dir);
    std::string path = dir + "/" + std::string(name);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return Status(Code::NotFound, "plugin " + jsonQuote(name) + " not found in CNI_PATH [" +
                                    join(searched, ":") + "]");
}

Result<ExecOutput> execPlugin(const std::string& path, std::string_view input,
                              const std::vector<std::pair<std::string, std::string>>& envOverrides,
                              std::chrono::milliseconds timeout) {
  // The child's environment: ours, with the overrides replacing or adding variables.
  std::map<std::string, std::string> overrides(envOverrides.begin(), envOverrides.end());
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (overrides.count(std::string(kv.substr(0, kv.find('='))))) {
      continue;
    }
    env.emplace_back(kv);
  }
  for (const auto& [k, v] : overrides) {
    env.push_back(k + "=" + v);
  }
  ProcessOptions opts;
  opts.env = std::move(env);
  opts.timeout = timeout;
  ASSIGN_OR_RETURN(ProcessResult r, runProcess({path}, input, opts));
  return ExecOutput{r.exitCode, std::move(r.out)};
}

// ---- ExecIpam

Outcome<std::string> ExecIpam::run(const char* command) {
  auto out = execPlugin(path_, config_, {{"CNI_COMMAND", command}});
  if (!out) {
    return errorFromStatus(kErrIpam, std::string("IPAM plugin ") + command + " failed",
                           out.error());
  }
  if (out->exitCode != 0) {
    if (auto err = parseError(out->out)) {
      // Keep the IPAM plugin's own code and words; say where they came from.
      err->msg = "IPAM plugin: " + err->msg;
      return *err;
    }
    return Error{kErrIpam,
                 std::string("IPAM plugin ") + command + " exited with status " +
                     std::to_string(out->exitCode),
                 "plugin " + path_ + ", output: " + trim(out->out)};
  }
  return std::move(out->out);
}

Outcome<CniResult> ExecIpam::add() {
  auto out = run("ADD");
  if (!out) {
    return out.error();
  }
  auto doc = parseJson(out.value());
  if (!doc) {
    return Error{kErrDecodingFailure, "cannot decode the IPAM plugin's result",
                 doc.error().message()};
  }
  auto result = parseResult(*doc);
  if (!result) {
    return Error{kErrDecodingFailure, "cannot decode the IPAM plugin's result",
                 result.error().message()};
  }
  return std::move(result).value();
}

MaybeError ExecIpam::del() {
  auto out = run("DEL");
  if (!out) {
    return out.error();
  }
  return std::nullopt;
}

MaybeError ExecIpam::check() {
  auto out = run("CHECK");
  if (!out) {
    return out.error();
  }
  return std::nullopt;
}

} // namespace caracal::cni
