// stb_image is compiled here with only the readers of the formats it is an oracle for, and
// stb_info asks the one reader of the format named: stbi_info tries the readers in turn and,
// over callbacks, "rewinds" only its 128-byte buffer, so after a JPEG failure past byte 128
// the BMP reader went on from the middle of the file and answered for a JPEG (fuzz CI, 2026-11).
#include "oracles.hpp"

#include <webp/decode.h>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_FAILURE_STRINGS
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#include <stb/stb_image.h>

#include "deep/stb_reader.hpp"

namespace facegate::fuzz {

std::optional<OracleAnswer> stb_info(StbReader format, std::span<const std::byte> bytes) {
  stbi_io_callbacks callbacks{detail::stb_read_callback, detail::stb_skip_callback,
                              detail::stb_eof_callback};
  detail::StbCallbackReader reader{bytes};
  // stb_image's internal per-format entry points, visible in this translation unit because
  // the implementation is compiled here (STB_IMAGE_STATIC).
  stbi__context context;
  stbi__start_callbacks(&context, &callbacks, &reader);
  int width = 0;
  int height = 0;
  int components = 0;
  int ok = 0;
  switch (format) {
    case StbReader::jpeg: ok = stbi__jpeg_info(&context, &width, &height, &components); break;
    case StbReader::png: ok = stbi__png_info(&context, &width, &height, &components); break;
    case StbReader::bmp: ok = stbi__bmp_info(&context, &width, &height, &components); break;
  }
  if (ok == 0) return std::nullopt;
  return OracleAnswer{width, height, reader.read_past_end};
}

std::optional<OracleAnswer> libwebp_info(std::span<const std::byte> bytes) {
  int width = 0;
  int height = 0;
  if (WebPGetInfo(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), &width,
                  &height) == 0) {
    return std::nullopt;
  }
  return OracleAnswer{width, height, false};
}

}  // namespace facegate::fuzz
