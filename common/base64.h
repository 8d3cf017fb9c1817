#pragma once
// Base64 (RFC 4648) encoding and decoding, shared by every component.
//
// Encoding uses the standard alphabet with padding (section 4), or the URL and file name safe
// alphabet without padding (section 5) for tokens. Decoding reads the standard alphabet only, in
// one of two modes:
//
//   Strict   what Kubernetes accepts for Secret `data` values (Go's base64.StdEncoding without
//            line breaks): the length is a multiple of four, padding is required and any other
//            character, whitespace included, is an error.
//   Lenient  what kubeconfig files and humans write: ASCII whitespace (space, tab, CR, LF) is
//            skipped and padding may be left out, but padding that is present must be right.
//
// Bits left over after the last whole byte are ignored in both modes, as Go does. Errors are
// Code::Invalid, with a message starting "invalid base64 data" that names the offset (in the
// input as given) of the first bad character.

#include "common/result.h"

#include <string>
#include <string_view>

namespace caracal {

enum class Base64Mode {
  Strict,
  Lenient,
};

// Standard alphabet, padded with '='.
std::string base64Encode(std::string_view data);
// URL and file name safe alphabet ('-' and '_'), no padding.
std::string base64UrlEncode(std::string_view data);
// Decodes standard base64 as `mode` describes (see above).
Result<std::string> base64Decode(std::string_view in, Base64Mode mode);

} // namespace caracal
