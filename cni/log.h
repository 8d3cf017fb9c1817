#pragma once
// A small logger for the plugins. A plugin's stdout belongs to the CNI protocol, so logs go to
// `log_file_path` when set, else to stderr. Lines: "2024-05-01T10:00:00.123Z [INFO][caracal] msg".

#include <cstdio>
#include <string>
#include <string_view>

namespace caracal::cni {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3, None = 4 };
// debug, info, warning/warn, error, fatal/panic (as error), none.
LogLevel parseLogLevel(std::string_view name);

class Logger {
public:
  // Logs to stderr at Info until configure() is called.
  explicit Logger(std::string component);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Sets the level and the file (appended to; created with its directory missing -> stderr).
  void configure(LogLevel level, const std::string& filePath);
  // Adds a prefix to every following line (e.g. "ContainerID=abc Pod=ns/web-0").
  void setContext(std::string context) { context_ = std::move(context); }

  void debug(std::string_view msg) { write(LogLevel::Debug, msg); }
  void info(std::string_view msg) { write(LogLevel::Info, msg); }
  void warning(std::string_view msg) { write(LogLevel::Warning, msg); }
  void error(std::string_view msg) { write(LogLevel::Error, msg); }
  bool enabled(LogLevel level) const { return level >= level_; }

private:
  void write(LogLevel level, std::string_view msg);

  std::string component_;
  std::string context_;
  LogLevel level_ = LogLevel::Info;
  FILE* file_ = nullptr; // owned when != stderr
};

} // namespace caracal::cni
