#pragma once
// Random selectors and label sets over a small vocabulary, for the property and replay tests.

#include "api/selector.h"

#include <random>
#include <string>
#include <vector>

namespace caracal::felix::calc::testing {

inline const std::vector<std::string> kKeys = {"a", "b", "app", "pcns.env", "has", "not"};
inline const std::vector<std::string> kValues = {"x", "y", "xy", ""};

inline const std::string& pick(std::mt19937& rng, const std::vector<std::string>& from) {
  return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
}

inline std::string quoted(const std::string& v) { return "'" + v + "'"; }

inline std::string randomSelectorText(std::mt19937& rng, int depth = 0);

inline std::string randomTerm(std::mt19937& rng, int depth) {
  const std::string& k = pick(rng, kKeys);
  const int choice = std::uniform_int_distribution<int>(0, depth < 2 ? 12 : 10)(rng);
  switch (choice) {
  case 0:
    return "all()";
  case 1:
    return "has(" + k + ")";
  case 2:
    return "!has(" + k + ")";
  case 3:
    return k + " == " + quoted(pick(rng, kValues));
  case 4:
    return k + " != " + quoted(pick(rng, kValues));
  case 5:
    return k + " in {" + quoted(pick(rng, kValues)) + ", " + quoted(pick(rng, kValues)) + "}";
  case 6:
    return k + " not in {" + quoted(pick(rng, kValues)) + "}";
  case 7:
    return k + " contains " + quoted(pick(rng, kValues));
  case 8:
    return k + " starts with " + quoted(pick(rng, kValues));
  case 9:
    return k + " ends with \"y\"";
  case 10:
    return "global()";
  case 11:
    return "!(" + randomSelectorText(rng, depth + 1) + ")";
  default:
    return "(" + randomSelectorText(rng, depth + 1) + ")";
  }
}

inline std::string randomSelectorText(std::mt19937& rng, int depth) {
  const int terms = std::uniform_int_distribution<int>(1, 3)(rng);
  std::string out = randomTerm(rng, depth);
  for (int i = 1; i < terms; ++i) {
    out += std::uniform_int_distribution<int>(0, 1)(rng) ? " && " : " || ";
    out += randomTerm(rng, depth);
  }
  return out;
}

inline api::Labels randomLabels(std::mt19937& rng, size_t maxSize = 3) {
  api::Labels out;
  const size_t n = std::uniform_int_distribution<size_t>(0, maxSize)(rng);
  for (size_t i = 0; i < n; ++i) {
    out[pick(rng, kKeys)] = pick(rng, kValues);
  }
  return out;
}

} // namespace caracal::felix::calc::testing
