#pragma once
// kubectl's Table output (meta.k8s.io/v1 Table) for any kind, from the kind's printed columns.

#include "common/value.h"

#include <string>
#include <vector>

namespace caracal::api {
struct KindInfo;
}

namespace caracal::apiserver {

// Columns: Name, the kind's columns (priority 1 shows only with -o wide), Age. Each row carries the
// object's metadata (PartialObjectMetadata) so that kubectl can add NAMESPACE with -A, or the whole
// object when `includeObject`.
Value renderTable(const api::KindInfo& kind, const std::vector<Value>& objects, bool includeObject);

// "5s", "3m", "2h", "4d", "2y" from an RFC 3339 timestamp, as kubectl prints ages; "<unknown>" if
// the timestamp is missing or malformed.
std::string ageSince(const std::string& rfc3339);

} // namespace caracal::apiserver
