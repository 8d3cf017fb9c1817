#include "common/base64.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <random>
#include <utility>

namespace caracal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr Base64Mode kModes[] = {Base64Mode::Strict, Base64Mode::Lenient};

// RFC 4648 section 10.
const std::pair<std::string_view, std::string_view> kRfcVectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const auto& [plain, encoded] : kRfcVectors) {
    EXPECT_EQ(base64Encode(plain), encoded) << plain;
  }
}

TEST(Base64, DecodesRfc4648VectorsInBothModes) {
  for (Base64Mode mode : kModes) {
    for (const auto& [plain, encoded] : kRfcVectors) {
      auto d = base64Decode(encoded, mode);
      ASSERT_TRUE(d) << encoded << ": " << d.error().message();
      EXPECT_EQ(*d, plain);
    }
  }
}

TEST(Base64, UrlEncodingUsesSafeAlphabetWithoutPadding) {
  EXPECT_EQ(base64UrlEncode(""), "");
  EXPECT_EQ(base64UrlEncode("f"), "Zg");
  EXPECT_EQ(base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode("\xfb\xff\xbf"), "+/+/");
  EXPECT_EQ(base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64UrlEncode(std::string(32, '\xff')).size(), 43u);
}

TEST(Base64, RoundTripsBinaryData) {
  std::mt19937 rng(11);
  for (size_t len = 0; len < 100; ++len) {
    std::string data(len, '\0');
    for (char& ch : data) {
      ch = char(rng() & 0xff);
    }
    std::string encoded = base64Encode(data);
    EXPECT_EQ(encoded.size() % 4, 0u);
    for (Base64Mode mode : kModes) {
      auto d = base64Decode(encoded, mode);
      ASSERT_TRUE(d) << encoded;
      EXPECT_EQ(*d, data);
    }
  }
}

TEST(Base64, LenientSkipsWhitespaceAndAcceptsMissingPadding) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"Zm9v\nYmFy\r\n", "foobar"},
      {" Zm 9v\tYg = = ", "foob"},
      {"Zm8", "fo"},
      {"Zg", "f"},
      {"Zm9vYmE", "fooba"},
      {"\n\n", ""},
  };
  for (const auto& [in, plain] : cases) {
    auto d = base64Decode(in, Base64Mode::Lenient);
    ASSERT_TRUE(d) << in << ": " << d.error().message();
    EXPECT_EQ(*d, plain);
  }
}

TEST(Base64, StrictRejectsWhitespaceAndMissingPadding) {
  for (std::string_view in : {"Zm9v\nYmFy", " Zm9v", "Zm9v ", "Zm8", "Zg", "Zm9vYmE"}) {
    auto d = base64Decode(in, Base64Mode::Strict);
    EXPECT_FALSE(d) << in;
    EXPECT_EQ(d.code(), Code::Invalid) << in;
  }
}

TEST(Base64, IgnoresLeftoverBitsLikeGo) {
  // "Zh==" carries non-zero bits after the one byte it encodes; Go's StdEncoding accepts it.
  for (Base64Mode mode : kModes) {
    auto d = base64Decode("Zh==", mode);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, "f");
  }
}

TEST(Base64, RejectsMalformedInputInBothModes) {
  for (Base64Mode mode : kModes) {
    for (std::string_view bad :
         {"Zm9v!", "Zg=x", "Z", "Zm9vY", "Zg===", "Zm8==", "Zm9v_-",
          "====", "=Zg=", "Zg==Zg==", "Zm9v=", "Zg=", "Zm9vY===", "a$b=", "aGVs=bG8"}) {
      auto d = base64Decode(bad, mode);
      EXPECT_FALSE(d) << bad;
      EXPECT_EQ(d.code(), Code::Invalid) << bad;
      EXPECT_THAT(d.status().message(), StartsWith("invalid base64 data")) << bad;
    }
  }
}

TEST(Base64, ErrorsNameTheOffsetInTheInput) {
  struct Case {
    std::string_view in;
    Base64Mode mode;
    std::string_view message;
  };
  const Case cases[] = {
      {"Zm9v!", Base64Mode::Strict, "unexpected character '!' at offset 4"},
      // Skipped whitespace still counts towards the offset.
      {"Zm9v\n  Y$", Base64Mode::Lenient, "unexpected character '$' at offset 8"},
      {"Zm9v\n", Base64Mode::Strict, "unexpected character 0x0a at offset 4"},
      {"Zg==Zg==", Base64Mode::Lenient, "data after padding 'Z' at offset 4"},
      {"Zm8==", Base64Mode::Lenient, "misplaced padding '=' at offset 4"},
      {"Zm9vY", Base64Mode::Lenient, "truncated input"},
      {"Zm8", Base64Mode::Strict, "missing padding"},
      {"Zg=", Base64Mode::Lenient, "incomplete padding"},
  };
  for (const Case& c : cases) {
    auto d = base64Decode(c.in, c.mode);
    ASSERT_FALSE(d) << c.in;
    EXPECT_EQ(d.error().message(), "invalid base64 data: " + std::string(c.message)) << c.in;
  }
}

} // namespace
} // namespace caracal
