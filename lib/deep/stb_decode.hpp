// stb_image's full decode of JPEG, PNG and BMP, as the deep check needs it: over a reader that
// records reading past the end of the data (where stb_image goes on with zeros), and with every
// allocation counted against a budget. stb_image's implementation lives in stb_decode.cc alone,
// compiled without UBSan (its own undefined shifts are not facegate's to fix).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace facegate::detail {

/// The stb_image readers that the deep check uses.
enum class StbFormat : std::uint8_t { jpeg, png, bmp };

/// What stb_image made of the data.
struct StbOutcome {
  bool header_read = false;    ///< its header reader accepted the data (width, height are set)
  bool decoded = false;        ///< its full decode returned pixels
  bool read_past_end = false;  ///< it asked for bytes after the end of the data
  bool over_budget = false;    ///< an allocation was refused: it would have passed the budget
  std::uint32_t width = 0;     ///< by stb_image's own header reader
  std::uint32_t height = 0;    ///< by stb_image's own header reader
  std::string failure;         ///< stbi_failure_reason() when header_read or decoded is false
};

/// Reads the header with stb_image's reader for `format`, then, when its width x height is at
/// most `max_pixels`, decodes the whole image in the components it stores (no conversion) and
/// frees the pixels. No allocation may take what stb_image holds past `budget_bytes`.
StbOutcome stb_decode(StbFormat format, std::span<const std::byte> bytes, std::uint64_t max_pixels,
                      std::uint64_t budget_bytes);

}  // namespace facegate::detail
