#include "formats/webp.hpp"

#include <cstdio>

namespace facegate::detail {
namespace {

// RFC 9649 section 2.4: "RIFF", file size (4), "WEBP"; then chunks of fourcc (4), payload size
// (4, little-endian), payload (section 2.3).
constexpr std::uint64_t kFirstChunkOffset = 12;
constexpr std::uint32_t kChunkHeaderLength = 8;
constexpr std::uint64_t kFirstPayloadOffset = kFirstChunkOffset + kChunkHeaderLength;
// RFC 6386 section 9.1 and 19.1: frame tag (3), start code (3), width (2), height (2).
constexpr std::uint32_t kVp8FrameHeaderLength = 10;
// RFC 9649 section 3.2: signature (1), then 14 + 14 + 1 + 3 bits.
constexpr std::uint32_t kVp8lHeaderLength = 5;
// RFC 9649 section 2.7: flags (1), reserved (3), canvas width-1 (3), canvas height-1 (3).
constexpr std::uint32_t kVp8xPayloadLength = 10;

char printable(std::uint8_t c) { return c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?'; }

}  // namespace

Step WebpParser::start(ImageInfo&) { return Step::need(kFirstChunkOffset, kChunkHeaderLength); }

Step WebpParser::step(const Window& window, ImageInfo& info) {
  switch (stage_) {
    case Stage::first_chunk_header: return read_first_chunk_header(window, info);
    case Stage::vp8: return read_vp8(window, info);
    case Stage::vp8l: return read_vp8l(window, info);
    case Stage::vp8x: return read_vp8x(window, info);
  }
  return Step::fail(ErrorCode::invalid_call, "internal error: unknown webp parser stage");
}

// RFC 9649 sections 2.5-2.7: a simple file's first chunk is "VP8 " or "VP8L"; an extended
// file's is "VP8X".
Step WebpParser::read_first_chunk_header(const Window& window, ImageInfo& info) {
  const auto& b = window.bytes;
  const std::uint32_t payload_size = le32(b, 4);
  std::uint32_t needed = 0;
  if (has_text(b, 0, "VP8 ")) {
    info.subtype = "vp8";
    stage_ = Stage::vp8;
    needed = kVp8FrameHeaderLength;
  } else if (has_text(b, 0, "VP8L")) {
    info.subtype = "vp8l";
    stage_ = Stage::vp8l;
    needed = kVp8lHeaderLength;
  } else if (has_text(b, 0, "VP8X")) {
    info.subtype = "vp8x";
    stage_ = Stage::vp8x;
    needed = kVp8xPayloadLength;
  } else {
    return unexpected_first_chunk(b.first(4));
  }
  if (payload_size < needed) {
    return Step::malformed("webp: first chunk too small for its header (RFC 9649 section 2)");
  }
  return Step::need(kFirstPayloadOffset, needed);
}

Step WebpParser::unexpected_first_chunk(std::span<const std::byte> fourcc) {
  std::snprintf(message_.data(), message_.size(),
                "webp: first chunk is '%c%c%c%c', not VP8 , VP8L or VP8X (RFC 9649 section 2)",
                printable(u8(fourcc, 0)), printable(u8(fourcc, 1)), printable(u8(fourcc, 2)),
                printable(u8(fourcc, 3)));
  return Step::malformed(message_.data());
}

// RFC 6386 section 9.1: a 3-byte frame tag whose bit 0 is 0 for a key frame; section 9.1 and
// 19.1: a key frame then has the start code 9D 01 2A and two little-endian 16-bit fields whose
// low 14 bits are width and height and top 2 bits a scale (upscaling hint, not the size).
Step WebpParser::read_vp8(const Window& window, ImageInfo& info) {
  const auto& b = window.bytes;
  if ((u8(b, 0) & 1) != 0) {
    return Step::malformed("webp: VP8 frame is not a key frame (RFC 6386 section 9.1)");
  }
  if (u8(b, 3) != 0x9D || u8(b, 4) != 0x01 || u8(b, 5) != 0x2A) {
    return Step::malformed("webp: bad VP8 start code, expected 9D 01 2A (RFC 6386 section 9.1)");
  }
  const std::uint32_t width = le16(b, 6) & 0x3FFFu;
  const std::uint32_t height = le16(b, 8) & 0x3FFFu;
  if (width == 0 || height == 0) return Step::malformed("webp: zero VP8 width or height");
  info.width = width;
  info.height = height;
  return Step::done();
}

// RFC 9649 section 3.2: signature 0x2F, then little-endian bits: 14 bits width-1, 14 bits
// height-1, 1 bit alpha_is_used, 3 bits version_number, which must be 0.
Step WebpParser::read_vp8l(const Window& window, ImageInfo& info) {
  const auto& b = window.bytes;
  if (u8(b, 0) != 0x2F) {
    return Step::malformed("webp: bad VP8L signature, expected 0x2F (RFC 9649 section 3.2)");
  }
  const std::uint32_t bits = le32(b, 1);
  if ((bits >> 29) != 0) {
    return Step::malformed("webp: VP8L version is not 0 (RFC 9649 section 3.2)");
  }
  info.width = (bits & 0x3FFFu) + 1;
  info.height = ((bits >> 14) & 0x3FFFu) + 1;
  return Step::done();
}

// RFC 9649 section 2.7: flags byte (bit 1 animation, bit 3 EXIF, bit 4 alpha, counting from the
// least significant bit), 24 reserved bits, then 24-bit canvas width-1 and height-1.
Step WebpParser::read_vp8x(const Window& window, ImageInfo& info) {
  const auto& b = window.bytes;
  constexpr std::uint8_t kAnimationFlag = 0x02;
  const std::uint32_t width = le24(b, 4) + 1;
  const std::uint32_t height = le24(b, 7) + 1;
  // Section 2.7: "The product of Canvas Width and Canvas Height MUST be at most 2^32 - 1."
  if (std::uint64_t{width} * height > UINT32_MAX) {
    return Step::malformed("webp: VP8X canvas area exceeds 2^32-1 (RFC 9649 section 2.7)");
  }
  info.width = width;
  info.height = height;
  info.animated = (u8(b, 0) & kAnimationFlag) != 0;
  return Step::done();
}

}  // namespace facegate::detail
