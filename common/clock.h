#pragma once
// Wall-clock timestamps in the formats the API uses.

#include <ctime>
#include <string>

namespace caracal {

// RFC 3339 UTC with second precision ("2026-11-27T17:30:00Z"), as Kubernetes writes timestamps.
std::string formatRfc3339(std::time_t t);
// formatRfc3339 of now.
std::string nowRfc3339();

} // namespace caracal
