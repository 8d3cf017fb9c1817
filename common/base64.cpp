#include "common/base64.h"

#include <cstdint>
#include <cstdio>

namespace caracal {
namespace {

constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(std::string_view data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(data[i])) << 16 | uint32_t(uint8_t(data[i + 1])) << 8 |
                 uint32_t(uint8_t(data[i + 2]));
    for (int shift = 18; shift >= 0; shift -= 6) {
      out.push_back(alphabet[(v >> shift) & 63]);
    }
  }
  size_t rest = data.size() - i;
  if (rest == 0) {
    return out;
  }
  uint32_t v = uint32_t(uint8_t(data[i])) << 16;
  if (rest == 2) {
    v |= uint32_t(uint8_t(data[i + 1])) << 8;
  }
  out.push_back(alphabet[(v >> 18) & 63]);
  out.push_back(alphabet[(v >> 12) & 63]);
  if (rest == 2) {
    out.push_back(alphabet[(v >> 6) & 63]);
  }
  if (pad) {
    out.append(3 - rest, '=');
  }
  return out;
}

// The 6-bit value of a standard-alphabet character, or -1.
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

bool isSkippedSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

Status badAt(std::string_view what, char c, size_t offset) {
  char shown[16];
  if (c >= 0x21 && c <= 0x7e) {
    std::snprintf(shown, sizeof shown, "'%c'", c);
  } else {
    std::snprintf(shown, sizeof shown, "0x%02x", unsigned(uint8_t(c)));
  }
  return Status(Code::Invalid, "invalid base64 data: " + std::string(what) + " " + shown +
                                   " at offset " + std::to_string(offset));
}

} // namespace

std::string base64Encode(std::string_view data) { return encode(data, kStdAlphabet, true); }

std::string base64UrlEncode(std::string_view data) { return encode(data, kUrlAlphabet, false); }

Result<std::string> base64Decode(std::string_view in, Base64Mode mode) {
  const bool lenient = mode == Base64Mode::Lenient;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  size_t chars = 0; // alphabet characters so far
  size_t pad = 0;   // '=' so far
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (lenient && isSkippedSpace(c)) {
      continue;
    }
    if (c == '=') {
      // Padding completes a group of four that holds two or three characters.
      if (chars % 4 < 2 || chars % 4 + pad >= 4) {
        return badAt("misplaced padding", c, i);
      }
      ++pad;
      continue;
    }
    int v = sextet(c);
    if (v < 0) {
      return badAt("unexpected character", c, i);
    }
    if (pad > 0) {
      return badAt("data after padding", c, i);
    }
    acc = ((acc << 6) | uint32_t(v)) & 0xffffff;
    bits += 6;
    ++chars;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  if (chars % 4 == 1) {
    return Status(Code::Invalid, "invalid base64 data: truncated input");
  }
  if ((pad > 0 || !lenient) && (chars + pad) % 4 != 0) {
    return Status(Code::Invalid, pad > 0 ? "invalid base64 data: incomplete padding"
                                         : "invalid base64 data: missing padding");
  }
  return out;
}

} // namespace caracal
