#include "common/subprocess.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace caracal {

namespace {

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

} // namespace

Result<ProcessResult> runProcess(const std::vector<std::string>& argvIn, std::string_view input,
                                 const ProcessOptions& options) {
  if (argvIn.empty()) {
    return Status(Code::Invalid, "runProcess: empty command");
  }
  // A child that exits before reading all of its stdin must not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args = argvIn;
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> envStrings;
  std::vector<char*> envp;
  if (options.env) {
    envStrings = *options.env;
    for (std::string& s : envStrings) {
      envp.push_back(s.data());
    }
    envp.push_back(nullptr);
  }

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
    if (options.captureStderr) {
      ::dup2(outPipe[1], 2);
    }
    char** env = options.env ? envp.data() : environ;
    if (args[0].find('/') != std::string::npos) {
      ::execve(args[0].c_str(), argv.data(), env);
    } else {
      ::execvpe(args[0].c_str(), argv.data(), env);
    }
    ::_exit(127);
  }
  closeFd(inPipe[0]);
  closeFd(outPipe[1]);
  ::fcntl(inPipe[1], F_SETFL, O_NONBLOCK);

  ProcessResult result;
  size_t written = 0;
  if (input.empty()) {
    closeFd(inPipe[1]);
  }
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
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
        closeFd(inPipe[1]); // the child stopped reading; its output tells why
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
    return Status(Code::Timeout, args[0] + " did not finish within " +
                                     std::to_string(options.timeout.count()) +
                                     " ms and was killed");
  }
  if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
    if (result.exitCode == 127 && result.out.empty()) {
      return Status(Code::Internal, "cannot execute " + args[0]);
    }
  }
  return result;
}

} // namespace caracal
