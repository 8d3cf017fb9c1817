#pragma once
// Small string helpers shared by every component.

#include <string>
#include <string_view>
#include <vector>

namespace caracal {

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string trim(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);
std::string toLower(std::string_view s);
// Levenshtein distance, for "did you mean" suggestions.
size_t editDistance(std::string_view a, std::string_view b);
// The candidate closest to `word` (case-insensitive), or "" when none is close enough to suggest.
std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates);

} // namespace caracal
