// Reference readers that the fuzzers compare the probe with (docs/design.md#the-probe-contract:
// stb_image and libwebp are oracles in tests and fuzzers, not header parsers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace facegate::fuzz {

/// An oracle's answer. Width and height are signed because stb_image reports the height of a
/// top-down BMP as the header's negative number.
struct OracleAnswer {
  std::int64_t width = 0;      ///< as reported
  std::int64_t height = 0;     ///< as reported
  bool read_past_end = false;  ///< it read bytes past the input's end (as zeros) to answer
};

/// The stb_image readers that serve as oracles.
enum class StbReader { jpeg, png, bmp };

/// stbi_info's answer from the one reader of `format`; nullopt when that reader fails.
/// stb_image reads missing bytes as zeros: read_past_end tells when it did.
std::optional<OracleAnswer> stb_info(StbReader format, std::span<const std::byte> bytes);

/// libwebp's WebPGetInfo; nullopt when libwebp fails. It never reads past the end: it fails
/// when the bytes it needs are missing.
std::optional<OracleAnswer> libwebp_info(std::span<const std::byte> bytes);

}  // namespace facegate::fuzz
