#include "formats/png.hpp"

namespace facegate::detail {
namespace {

// PNG spec (ISO/IEC 15948, W3C PNG third edition) 5.2: an 8-byte signature, then chunks.
constexpr std::uint64_t kFirstChunkOffset = 8;
// 5.3: a chunk is length (4) + type (4) + data (length) + CRC (4).
constexpr std::uint32_t kChunkHeaderLength = 8;
constexpr std::uint32_t kChunkCrcLength = 4;
// 11.2.2: IHDR holds exactly 13 bytes.
constexpr std::uint32_t kIhdrLength = 13;
// 5.3 (chunk length) and 11.2.2 (width, height): PNG four-byte unsigned integers are at most
// 2^31-1 (7.1).
constexpr std::uint32_t kMaxPngInteger = 0x7FFF'FFFF;

// 5.4: chunk type bytes are ASCII letters A-Z and a-z.
bool is_chunk_type(std::span<const std::byte> type) {
  for (std::size_t i = 0; i < 4; ++i) {
    const auto c = u8(type, i);
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

// 11.2.2 Table 11.1: the bit depths allowed for each colour type.
bool is_valid_depth_for_colour_type(std::uint8_t bit_depth, std::uint8_t colour_type) {
  switch (colour_type) {
    case 0:  // greyscale
      return bit_depth == 1 || bit_depth == 2 || bit_depth == 4 || bit_depth == 8 ||
             bit_depth == 16;
    case 3:  // indexed-colour
      return bit_depth == 1 || bit_depth == 2 || bit_depth == 4 || bit_depth == 8;
    case 2:  // truecolour
    case 4:  // greyscale with alpha
    case 6:  // truecolour with alpha
      return bit_depth == 8 || bit_depth == 16;
    default: return false;
  }
}

}  // namespace

Step PngParser::start(ImageInfo&) {
  return Step::need(kFirstChunkOffset, kChunkHeaderLength);
}

Step PngParser::step(const Window& window, ImageInfo& info) {
  switch (stage_) {
    case Stage::first_chunk_header: return read_first_chunk_header(window, info);
    case Stage::ihdr_body: return read_ihdr_body(window, info);
    case Stage::chunk_header: return read_chunk_header(window, info);
  }
  return Step::fail(ErrorCode::invalid_call, "internal error: unknown png parser stage");
}

Step PngParser::skip_chunk(std::uint64_t chunk_offset, std::uint32_t data_length) {
  const std::uint64_t chunk_length =
      std::uint64_t{kChunkHeaderLength} + data_length + kChunkCrcLength;
  if (chunk_offset > UINT64_MAX - chunk_length) {
    return Step::malformed("png chunk offset overflows");
  }
  return Step::need(chunk_offset + chunk_length, kChunkHeaderLength);
}

Step PngParser::read_first_chunk_header(const Window& window, ImageInfo& info) {
  const std::uint32_t length = be32(window.bytes, 0);
  if (length > kMaxPngInteger) {
    return Step::malformed("png chunk length exceeds 2^31-1 (PNG spec 5.3)");
  }
  // Apple's "CgBI" variant (iOS-optimized PNG) puts a CgBI chunk before IHDR.
  if (has_text(window.bytes, 4, "CgBI") && !seen_cgbi_) {
    seen_cgbi_ = true;
    info.subtype = "cgbi";
    return skip_chunk(window.offset, length);
  }
  if (!has_text(window.bytes, 4, "IHDR")) {
    return Step::malformed("png: IHDR is not the first chunk (PNG spec 5.6, 11.2.2)");
  }
  if (length != kIhdrLength) {
    return Step::malformed("png: IHDR length is not 13 (PNG spec 11.2.2)");
  }
  stage_ = Stage::ihdr_body;
  return Step::need(window.offset + kChunkHeaderLength, kIhdrLength);
}

// PNG spec 11.2.2: width (4), height (4), bit depth, colour type, compression method,
// filter method, interlace method (1 each).
Step PngParser::read_ihdr_body(const Window& window, ImageInfo& info) {
  const auto& b = window.bytes;
  const std::uint32_t width = be32(b, 0);
  const std::uint32_t height = be32(b, 4);
  if (width == 0 || height == 0) {
    return Step::malformed("png: zero width or height in IHDR (PNG spec 11.2.2)");
  }
  if (width > kMaxPngInteger || height > kMaxPngInteger) {
    return Step::malformed("png: IHDR width or height exceeds 2^31-1 (PNG spec 11.2.2)");
  }
  if (!is_valid_depth_for_colour_type(u8(b, 8), u8(b, 9))) {
    return Step::malformed("png: invalid bit depth and colour type in IHDR (PNG spec 11.2.2)");
  }
  if (u8(b, 10) != 0 || u8(b, 11) != 0 || u8(b, 12) > 1) {
    return Step::malformed(
        "png: unknown compression, filter or interlace method in IHDR (PNG spec 11.2.2)");
  }
  info.width = width;
  info.height = height;
  stage_ = Stage::chunk_header;
  return skip_chunk(window.offset - kChunkHeaderLength, kIhdrLength);
}

Step PngParser::read_chunk_header(const Window& window, ImageInfo& info) {
  const std::uint32_t length = be32(window.bytes, 0);
  if (length > kMaxPngInteger) {
    return Step::malformed("png chunk length exceeds 2^31-1 (PNG spec 5.3)");
  }
  if (!is_chunk_type(window.bytes.subspan(4, 4))) {
    return Step::malformed("png chunk type is not four ASCII letters (PNG spec 5.4)");
  }
  // The image data starts: nothing the header can still say comes after it.
  if (has_text(window.bytes, 4, "IDAT")) return Step::done();
  // APNG spec: acTL marks an animated PNG and must appear before the first IDAT.
  if (has_text(window.bytes, 4, "acTL")) info.animated = true;
  return skip_chunk(window.offset, length);
}

}  // namespace facegate::detail
