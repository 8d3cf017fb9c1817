#include "confd/writer.h"

#include "bgp/birdctl.h"
#include "common/strings.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace caracal::confd {

namespace {

std::string errnoText(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// Reads `path` into `out`; `exists` is false (and OK) when there is no such file.
Status readFile(const std::string& path, std::string& out, bool& exists) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      exists = false;
      return Status::ok();
    }
    return Status(Code::Internal, errnoText("open " + path, errno));
  }
  exists = true;
  out.clear();
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      ::close(fd);
      return Status(Code::Internal, errnoText("read " + path, e));
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status::ok();
}

Status writeAndSync(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status(Code::Internal, errnoText("create " + path, errno));
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      ::close(fd);
      return Status(Code::Internal, errnoText("write " + path, e));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return Status(Code::Internal, errnoText("fsync " + path, e));
  }
  if (::close(fd) != 0) {
    return Status(Code::Internal, errnoText("close " + path, errno));
  }
  return Status::ok();
}

Status syncDirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status(Code::Internal, errnoText("open " + dir, errno));
  }
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) {
    return Status(Code::Internal, errnoText("fsync " + dir, e));
  }
  return Status::ok();
}

} // namespace

const char* writeOutcomeName(WriteOutcome o) {
  switch (o) {
  case WriteOutcome::Unchanged:
    return "Unchanged";
  case WriteOutcome::Written:
    return "Written";
  case WriteOutcome::Reloaded:
    return "Reloaded";
  }
  return "?";
}

Status validateBirdConfig(const std::string& birdBinary, const std::string& path) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status(Code::Internal, errnoText("pipe", errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> args = {birdBinary, "-p", "-c", path};
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, birdBinary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status(Code::Internal, errnoText("cannot run " + birdBinary, rc));
  }
  std::string output;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return Status(Code::Internal, errnoText("waitpid", errno));
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return Status::ok();
  }
  std::string message = trim(output);
  if (message.empty()) {
    message = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                : "killed by signal " + std::to_string(WTERMSIG(status));
  }
  return Status(Code::Invalid, "bird rejected the configuration: " + message);
}

Result<WriteOutcome> ConfigWriter::write(const std::string& text) {
  const std::string& path = options_.configPath;
  std::string current;
  bool exists = false;
  RETURN_IF_ERROR(readFile(path, current, exists));
  if (exists && current == text) {
    return WriteOutcome::Unchanged;
  }

  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  Status st = writeAndSync(tmp, text);
  if (st.isOk()) {
    st = validateBirdConfig(options_.birdBinary, tmp);
  }
  if (st.isOk() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Status(Code::Internal, errnoText("rename " + tmp + " to " + path, errno));
  }
  if (!st.isOk()) {
    ::unlink(tmp.c_str());
    return st;
  }
  RETURN_IF_ERROR(syncDirectoryOf(path));

  if (options_.socketPath.empty()) {
    return WriteOutcome::Written;
  }
  auto client = bgp::BirdClient::connect(options_.socketPath, options_.timeout);
  if (!client) {
    if (client.code() == Code::Unavailable) {
      return WriteOutcome::Written; // BIRD is not running; it reads the file when it starts
    }
    return client.error();
  }
  RETURN_IF_ERROR(client->configure().withContext("bird configure"));
  return WriteOutcome::Reloaded;
}

} // namespace caracal::confd
