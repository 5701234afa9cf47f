// stb_image is compiled here with only the readers of the formats it is an oracle for, and
// stb_info asks the one reader of the format named: stbi_info tries the readers in turn and,
// over callbacks, "rewinds" only its 128-byte buffer, so after a JPEG failure past byte 128
// the BMP reader went on from the middle of the file and answered for a JPEG (fuzz CI, 2026-11).
#include "oracles.hpp"

#include <algorithm>
#include <cstring>

#include <webp/decode.h>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_FAILURE_STRINGS
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#include <stb/stb_image.h>

namespace facegate::fuzz {

namespace {

// stb_image reads through these callbacks, so that we see when it wants bytes past the end:
// it then calls read() once more, gets 0 and goes on with zeros (stbi__refill_buffer).
struct CallbackReader {
  std::span<const std::byte> bytes;
  std::size_t position = 0;
  bool read_past_end = false;
};

int read_callback(void* user, char* data, int size) {
  auto& reader = *static_cast<CallbackReader*>(user);
  const std::size_t count =
      std::min(static_cast<std::size_t>(size), reader.bytes.size() - reader.position);
  if (count == 0) {
    reader.read_past_end = true;
    return 0;
  }
  std::memcpy(data, reader.bytes.data() + reader.position, count);
  reader.position += count;
  return static_cast<int>(count);
}

void skip_callback(void* user, int count) {  // stb_image skips forward only (stbi__skip)
  auto& reader = *static_cast<CallbackReader*>(user);
  reader.position += std::min(static_cast<std::size_t>(count), reader.bytes.size() - reader.position);
}

int eof_callback(void* user) {
  const auto& reader = *static_cast<CallbackReader*>(user);
  return reader.position == reader.bytes.size() ? 1 : 0;
}

}  // namespace

std::optional<OracleAnswer> stb_info(StbReader format, std::span<const std::byte> bytes) {
  stbi_io_callbacks callbacks{read_callback, skip_callback, eof_callback};
  CallbackReader reader{bytes};
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
