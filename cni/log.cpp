#include "cni/log.h"

#include "common/strings.h"

#include <chrono>
#include <ctime>
#include <unistd.h>

namespace caracal::cni {

LogLevel parseLogLevel(std::string_view name) {
  std::string n = toLower(name);
  if (n == "debug") {
    return LogLevel::Debug;
  }
  if (n == "warning" || n == "warn") {
    return LogLevel::Warning;
  }
  if (n == "error" || n == "fatal" || n == "panic") {
    return LogLevel::Error;
  }
  if (n == "none") {
    return LogLevel::None;
  }
  return LogLevel::Info;
}

Logger::Logger(std::string component) : component_(std::move(component)) {}

Logger::~Logger() {
  if (file_ && file_ != stderr) {
    std::fclose(file_);
  }
}

void Logger::configure(LogLevel level, const std::string& filePath) {
  level_ = level;
  if (file_ && file_ != stderr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  if (!filePath.empty()) {
    file_ = std::fopen(filePath.c_str(), "a");
    if (!file_) {
      std::fprintf(stderr, "%s: cannot open log file %s; logging to stderr\n", component_.c_str(),
                   filePath.c_str());
    }
  }
}

void Logger::write(LogLevel level, std::string_view msg) {
  if (level < level_ || level_ == LogLevel::None) {
    return;
  }
  static const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int millis = int(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  FILE* out = file_ ? file_ : stderr;
  std::fprintf(out, "%s.%03dZ [%s][%s %d] %s%s%.*s\n", ts, millis, kNames[int(level)],
               component_.c_str(), int(::getpid()), context_.c_str(), context_.empty() ? "" : " ",
               int(msg.size()), msg.data());
  std::fflush(out);
}

} // namespace caracal::cni
