#include "cni/exec.h"

#include "common/strings.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace caracal::cni {

namespace {

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

} // namespace

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
  // A plugin that exits before reading all of its stdin must not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  // The child's environment: ours, with the overrides replacing or adding variables.
  std::map<std::string, std::string> overrides(envOverrides.begin(), envOverrides.end());
  std::vector<std::string> envStrings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    std::string key(kv.substr(0, eq));
    if (overrides.count(key)) {
      continue;
    }
    envStrings.emplace_back(kv);
  }
  for (const auto& [k, v] : overrides) {
    envStrings.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  for (auto& s : envStrings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::string argv0 = path;
  char* argv[] = {argv0.data(), nullptr};

  int inPipe[2] = {-1, -1};
  int outPipe[2] = {-1, -1};
  if (::pipe2(inPipe, O_CLOEXEC) != 0) {
    return Status(Code::Internal, errnoText("pipe"));
  }
  if (::pipe2(outPipe, O_CLOEXEC) != 0) {
    closeFd(inPipe[0]);
    closeFd(inPipe[1]);
    return Status(Code::Internal, errnoText("pipe"));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    closeFd(inPipe[0]);
    closeFd(inPipe[1]);
    closeFd(outPipe[0]);
    closeFd(outPipe[1]);
    return Status(Code::Internal, std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::dup2(inPipe[0], 0);
    ::dup2(outPipe[1], 1);
    ::execve(path.c_str(), argv, envp.data());
    ::_exit(127);
  }
  closeFd(inPipe[0]);
  closeFd(outPipe[1]);
  ::fcntl(inPipe[1], F_SETFL, O_NONBLOCK);

  ExecOutput result;
  size_t written = 0;
  if (input.empty()) {
    closeFd(inPipe[1]);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timedOut = false;
  while (outPipe[0] >= 0) {
    pollfd fds[2];
    int n = 0;
    fds[n++] = {outPipe[0], POLLIN, 0};
    if (inPipe[1] >= 0) {
      fds[n++] = {inPipe[1], POLLOUT, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    int rc = ::poll(fds, n, int(std::min<int64_t>(left, 1000)));
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if (n > 1 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::write(inPipe[1], input.data() + written, input.size() - written);
      if (w > 0) {
        written += size_t(w);
      }
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        closeFd(inPipe[1]); // the plugin stopped reading; its output tells why
      } else if (written == input.size()) {
        closeFd(inPipe[1]);
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[8192];
      ssize_t r = ::read(outPipe[0], buf, sizeof(buf));
      if (r > 0) {
        result.out.append(buf, size_t(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        closeFd(outPipe[0]);
      }
    }
  }
  closeFd(inPipe[1]);
  closeFd(outPipe[0]);
  if (timedOut) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timedOut) {
    return Status(Code::Timeout, path + " did not finish within " +
                                     std::to_string(timeout.count()) + " ms and was killed");
  }
  if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
    if (result.exitCode == 127 && result.out.empty()) {
      return Status(Code::Internal, "cannot execute " + path);
    }
  }
  return result;
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
