#include "common/clock.h"

namespace caracal {

std::string formatRfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string nowRfc3339() { return formatRfc3339(std::time(nullptr)); }

} // namespace caracal
