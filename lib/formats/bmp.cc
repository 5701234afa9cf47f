#include "formats/bmp.hpp"

#include <limits>

namespace facegate::detail {
namespace {

// BITMAPFILEHEADER is 14 bytes: "BM", file size (4), two reserved (2 each), pixel offset (4).
// The DIB header follows; its first field is its own size (4 bytes), then width and height.
constexpr std::uint64_t kDibHeaderOffset = 14;
constexpr std::uint32_t kDibHeaderSizeLength = 4;
constexpr std::uint64_t kWidthOffset = kDibHeaderOffset + kDibHeaderSizeLength;
constexpr std::uint32_t kCoreSizeLength = 4;  // 2 x uint16
constexpr std::uint32_t kInfoSizeLength = 8;  // 2 x int32

// DIB header sizes of no published version that ImageMagick (ReadBMPImage) still decodes: it
// reads every header of 13 to 124 bytes other than 12 as a BITMAPINFOHEADER, whose width and
// height come first. From 16 bytes on the header holds the bit count too.
constexpr std::uint32_t kSmallestUnknownHeaderRead = 16;
constexpr std::uint32_t kLargestHeader = 124;
constexpr std::string_view kUnknownHeaderSize =
    "bmp: a DIB header size of no published version, its width and height read as in "
    "BITMAPINFOHEADER as ImageMagick does";

std::int32_t as_signed(std::uint32_t value) { return static_cast<std::int32_t>(value); }

}  // namespace

Step BmpParser::start(ImageInfo&) { return Step::need(kDibHeaderOffset, kDibHeaderSizeLength); }

Step BmpParser::step(const Window& window, ImageInfo& info) {
  switch (stage_) {
    case Stage::dib_header_size: return read_dib_header_size(window, info);
    case Stage::core_size: return read_core_size(window, info);
    case Stage::info_size: return read_info_size(window, info);
  }
  return Step::fail(ErrorCode::invalid_call, "internal error: unknown bmp parser stage");
}

// The DIB header size names the header (Microsoft "Bitmap Header Types"; the OS/2 2.x header
// from the OS/2 Presentation Manager reference, whole (64) or its first 16 bytes; 52 and 56 are
// Adobe's V2/V3 extensions).
Step BmpParser::read_dib_header_size(const Window& window, ImageInfo& info) {
  const std::uint32_t size = le32(window.bytes, 0);
  switch (size) {
    case 12:
      info.subtype = "os2-core";  // BITMAPCOREHEADER (Windows 2.x, OS/2 1.x)
      stage_ = Stage::core_size;
      return Step::need(kWidthOffset, kCoreSizeLength);
    case 16: info.subtype = "os2-v2"; break;  // OS/2 2.x, the fields after cBitCount omitted
    case 40: info.subtype = "info"; break;  // BITMAPINFOHEADER
    case 52: info.subtype = "v2"; break;    // BITMAPV2INFOHEADER (+ RGB masks)
    case 56: info.subtype = "v3"; break;    // BITMAPV3INFOHEADER (+ alpha mask)
    case 64: info.subtype = "os2-v2"; break;  // OS/2 2.x BITMAPINFOHEADER2
    case 108: info.subtype = "v4"; break;   // BITMAPV4HEADER
    case 124: info.subtype = "v5"; break;   // BITMAPV5HEADER
    default:
      // No published BMP version has another size. Beyond what ImageMagick reads, the layout
      // of the rest of the header is unknown: malformed rather than unsupported.
      if (size < kSmallestUnknownHeaderRead || size > kLargestHeader) {
        return Step::malformed("bmp: unknown DIB header size, below 16 (and not 12) or above 124");
      }
      note_leniency(info, kUnknownHeaderSize);
      break;
  }
  stage_ = Stage::info_size;
  return Step::need(kWidthOffset, kInfoSizeLength);
}

// BITMAPCOREHEADER: bcWidth and bcHeight are unsigned 16-bit; there is no top-down form.
Step BmpParser::read_core_size(const Window& window, ImageInfo& info) {
  const std::uint16_t width = le16(window.bytes, 0);
  const std::uint16_t height = le16(window.bytes, 2);
  if (width == 0 || height == 0) return Step::malformed("bmp: zero width or height");
  info.width = width;
  info.height = height;
  return Step::done();
}

// BITMAPINFOHEADER and later (and OS/2 2.x): biWidth and biHeight are signed 32-bit. A negative
// height means rows are stored top-down; its magnitude is the height. A negative width has no
// meaning (Microsoft BITMAPINFOHEADER docs).
Step BmpParser::read_info_size(const Window& window, ImageInfo& info) {
  const std::int32_t width = as_signed(le32(window.bytes, 0));
  const std::int32_t height = as_signed(le32(window.bytes, 4));
  if (width == 0 || height == 0) return Step::malformed("bmp: zero width or height");
  if (width < 0) return Step::malformed("bmp: negative width");
  if (height == std::numeric_limits<std::int32_t>::min()) {
    return Step::malformed("bmp: height -2^31 has no positive counterpart");
  }
  info.width = static_cast<std::uint32_t>(width);
  info.height = static_cast<std::uint32_t>(height < 0 ? -height : height);
  return Step::done();
}

}  // namespace facegate::detail
