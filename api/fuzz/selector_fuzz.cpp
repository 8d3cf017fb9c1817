// libFuzzer target for the selector language. For every input that parses:
//   - validateSelector agrees,
//   - the canonical form parses again and prints identically (str() is a fixed point),
//   - the original and the re-parsed selector agree on a handful of label maps.
// For every input that does not parse, the error is Code::Invalid and names a column.
// Any inconsistency aborts, which libFuzzer reports as a crash.

#include "api/selector.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

using caracal::Code;
using caracal::api::Labels;
using caracal::api::Selector;

[[noreturn]] void die(const char* what, std::string_view input, std::string_view detail) {
  std::fprintf(stderr, "selector_fuzz: %s\n  input: [%.*s]\n  detail: [%.*s]\n", what,
               static_cast<int>(input.size()), input.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

const std::vector<Labels>& labelMaps() {
  // Short names, so that the fuzzer's random labels hit them often.
  static const std::vector<Labels> maps = {
      {},
      {{"a", ""}},
      {{"a", "x"}},
      {{"a", "x"}, {"b", "y"}},
      {{"a", "y"}, {"b", "x\""}, {"c", "xy'z"}},
      {{"app", "web"}, {"env", "prod"}, {"x", "a"}, {"y", "b"}, {"z", ""}},
  };
  return maps;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto first = Selector::parse(input);
  const caracal::Status valid = caracal::api::validateSelector(input);
  if (!first) {
    const std::string& msg = first.error().message();
    if (first.code() != Code::Invalid) {
      die("parse error with a code other than Invalid", input, msg);
    }
    if (msg.rfind("column ", 0) != 0) {
      die("parse error without a column", input, msg);
    }
    if (valid.isOk() || valid.message() != msg) {
      die("validateSelector disagrees with parse", input, valid.message());
    }
    return 0;
  }
  if (!valid.isOk()) {
    die("validateSelector rejects what parse accepts", input, valid.message());
  }
  const std::string& canonical = first->str();
  auto second = Selector::parse(canonical);
  if (!second) {
    die("canonical form does not parse", input, canonical + " -> " + second.error().message());
  }
  if (second->str() != canonical) {
    die("canonical form is not a fixed point", input, canonical + " -> " + second->str());
  }
  for (const Labels& labels : labelMaps()) {
    if (first->matches(labels) != second->matches(labels)) {
      die("canonical form evaluates differently", input, canonical);
    }
  }
  return 0;
}
