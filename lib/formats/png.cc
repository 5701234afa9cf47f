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

// Departures from the PNG spec that libpng refuses and Pillow (PngImagePlugin) decodes: it
// reads the chunks before IHDR like any others, matches chunk types as \w\w\w\w, reads the
// first 13 bytes of a longer IHDR, ignores its compression method byte and takes any interlace
// method other than 0 for Adam7.
constexpr std::string_view kChunkBeforeIhdr =
    "png: chunks before IHDR (PNG spec 5.6: IHDR first), skipped as Pillow does; libpng refuses "
    "them";
constexpr std::string_view kChunkTypeNotLetters =
    "png: a chunk type with a digit or '_' (PNG spec 5.4: letters only), skipped as Pillow does; "
    "libpng refuses it";
constexpr std::string_view kLongIhdr =
    "png: IHDR longer than 13 bytes (PNG spec 11.2.2), its first 13 read as Pillow does; libpng "
    "refuses it";
constexpr std::string_view kCompressionMethod =
    "png: IHDR compression method is not 0 (PNG spec 11.2.2), ignored as Pillow does; libpng "
    "refuses it";
constexpr std::string_view kInterlaceMethod =
    "png: IHDR interlace method above 1 (PNG spec 11.2.2), taken for Adam7 as Pillow does; "
    "libpng refuses it";

bool is_letter(std::uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool is_word_character(std::uint8_t c) {
  return is_letter(c) || (c >= '0' && c <= '9') || c == '_';
}

// 5.4: chunk type bytes are ASCII letters A-Z and a-z; digits and '_' are read with a note. False
// for anything else.
bool read_chunk_type(std::span<const std::byte> type, ImageInfo& info) {
  bool letters = true;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto c = u8(type, i);
    if (!is_word_character(c)) return false;
    letters = letters && is_letter(c);
  }
  if (!letters) note_leniency(info, kChunkTypeNotLetters);
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
    case Stage::before_ihdr: return read_chunk_header_before_ihdr(window, info);
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

Step PngParser::read_chunk_header_before_ihdr(const Window& window, ImageInfo& info) {
  const std::uint32_t length = be32(window.bytes, 0);
  if (length > kMaxPngInteger) {
    return Step::malformed("png chunk length exceeds 2^31-1 (PNG spec 5.3)");
  }
  if (has_text(window.bytes, 4, "IHDR")) {
    if (length < kIhdrLength) {
      return Step::malformed("png: IHDR length is below 13 (PNG spec 11.2.2)");
    }
    if (length > kIhdrLength) note_leniency(info, kLongIhdr);
    ihdr_length_ = length;
    stage_ = Stage::ihdr_body;
    return Step::need(window.offset + kChunkHeaderLength, kIhdrLength);
  }
  // Apple's "CgBI" variant (iOS-optimized PNG) puts a CgBI chunk before IHDR.
  if (window.offset == kFirstChunkOffset && has_text(window.bytes, 4, "CgBI")) {
    info.subtype = "cgbi";
    return skip_chunk(window.offset, length);
  }
  if (has_text(window.bytes, 4, "IDAT") || has_text(window.bytes, 4, "IEND")) {
    return Step::malformed("png: image data or IEND before IHDR (PNG spec 5.6, 11.2.2)");
  }
  if (!read_chunk_type(window.bytes.subspan(4, 4), info)) {
    return Step::malformed("png: the first chunk is not IHDR, and its type is not four ASCII "
                           "letters (PNG spec 5.4, 5.6)");
  }
  note_leniency(info, kChunkBeforeIhdr);
  return skip_chunk(window.offset, length);
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
  if (u8(b, 11) != 0) {
    return Step::malformed("png: unknown filter method in IHDR (PNG spec 11.2.2)");
  }
  if (u8(b, 10) != 0) note_leniency(info, kCompressionMethod);
  if (u8(b, 12) > 1) note_leniency(info, kInterlaceMethod);
  info.width = width;
  info.height = height;
  stage_ = Stage::chunk_header;
  return skip_chunk(window.offset - kChunkHeaderLength, ihdr_length_);
}

Step PngParser::read_chunk_header(const Window& window, ImageInfo& info) {
  const std::uint32_t length = be32(window.bytes, 0);
  if (length > kMaxPngInteger) {
    return Step::malformed("png chunk length exceeds 2^31-1 (PNG spec 5.3)");
  }
  if (!read_chunk_type(window.bytes.subspan(4, 4), info)) {
    return Step::malformed("png chunk type is not four ASCII letters (PNG spec 5.4)");
  }
  // The image data starts: nothing the header can still say comes after it.
  if (has_text(window.bytes, 4, "IDAT")) return Step::done();
  // APNG spec: acTL marks an animated PNG and must appear before the first IDAT.
  if (has_text(window.bytes, 4, "acTL")) info.animated = true;
  return skip_chunk(window.offset, length);
}

}  // namespace facegate::detail
