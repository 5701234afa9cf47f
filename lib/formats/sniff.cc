#include "formats/sniff.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "formats/parser.hpp"

namespace facegate::detail {
namespace {

bool starts_with_bytes(std::span<const std::byte> head, std::initializer_list<std::uint8_t> magic) {
  if (head.size() < magic.size()) return false;
  std::size_t i = 0;
  for (std::uint8_t m : magic) {
    if (u8(head, i++) != m) return false;
  }
  return true;
}

// ISO BMFF (ISO/IEC 14496-12): [size:4]["ftyp"][major brand:4][minor version:4][compatible brands]
// HEIF brands from ISO/IEC 23008-12; AVIF brands from the AV1 Image File Format spec.
Format sniff_bmff(std::span<const std::byte> head) {
  constexpr std::array<std::string_view, 8> heif_brands = {"heic", "heix", "hevc", "hevx",
                                                           "heim", "heis", "mif1", "msf1"};
  auto is_avif_brand = [&](std::size_t i) {
    return has_text(head, i, "avif") || has_text(head, i, "avis");
  };
  if (is_avif_brand(8)) return Format::avif;
  bool heif = false;
  for (auto brand : heif_brands) heif = heif || has_text(head, 8, brand);
  if (!heif) return Format::unknown;
  // A generic major brand (mif1, msf1) with "avif" among the compatible brands is AVIF.
  std::uint32_t box_size = be32(head, 0);
  std::size_t end = box_size < head.size() ? box_size : head.size();
  for (std::size_t i = 16; i + 4 <= end; i += 4) {
    if (is_avif_brand(i)) return Format::avif;
  }
  return Format::heif;
}

// SVG is text: an optional UTF-8 byte-order mark and white space, then an XML declaration,
// a doctype or the <svg> element itself. XML is the only text image format we know of.
bool looks_like_svg(std::span<const std::byte> head) {
  std::size_t i = starts_with_bytes(head, {0xEF, 0xBB, 0xBF}) ? 3 : 0;
  while (i < head.size()) {
    auto c = u8(head, i);
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    ++i;
  }
  return has_text(head, i, "<svg") || has_text(head, i, "<?xml") ||
         has_text(head, i, "<!DOCTYPE svg");
}

}  // namespace

bool cut_inside_signature(std::span<const std::byte> head, Format sniffed) noexcept {
  // An ISO BMFF file cut inside its ftyp box: the brands that tell HEIF from AVIF (and an
  // ftyp box from an ICO directory, whose count bytes could be "ft") are not all there.
  // Formats whose magic sniff_format checks before "ftyp" are settled by that magic.
  const bool settled_before_ftyp = sniffed == Format::jpeg || sniffed == Format::png ||
                                   sniffed == Format::webp || sniffed == Format::bmp ||
                                   sniffed == Format::gif || sniffed == Format::tiff;
  if (!settled_before_ftyp && head.size() > 4 && head.size() < kSniffLength) {
    const std::size_t seen = std::min<std::size_t>(head.size() - 4, 4);
    if (has_text(head, 4, std::string_view("ftyp").substr(0, seen)) &&
        (head.size() < 12 || be32(head, 0) > head.size())) {
      return true;
    }
  }
  if (sniffed != Format::unknown) return false;
  // The parsed formats' signatures; '?' stands for any byte (the RIFF chunk size).
  static constexpr std::string_view kParsedMagics[] = {
      {"\xFF\xD8", 2}, {"\x89PNG\r\n\x1A\n", 8}, {"RIFF????WEBP", 12}, {"BM", 2}};
  auto matches = [&](std::string_view magic) {
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (magic[i] != '?' && u8(head, i) != static_cast<unsigned char>(magic[i])) return false;
    }
    return true;
  };
  for (std::string_view magic : kParsedMagics) {
    if (!head.empty() && head.size() < magic.size() && matches(magic)) return true;
  }
  return false;
}

Format sniff_format(std::span<const std::byte> head) noexcept {
  // SOI alone (T.81 B.2.1), as libvips and libjpeg take it: libjpeg skips bytes between SOI and
  // the next marker (the parser notes that as a leniency).
  if (starts_with_bytes(head, {0xFF, 0xD8})) return Format::jpeg;
  if (starts_with_bytes(head, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return Format::png;
  if (has_text(head, 0, "RIFF") && has_text(head, 8, "WEBP")) return Format::webp;
  if (has_text(head, 0, "BM")) return Format::bmp;
  if (has_text(head, 0, "GIF87a") || has_text(head, 0, "GIF89a")) return Format::gif;
  // TIFF and BigTIFF, both byte orders (TIFF 6.0 section 2; BigTIFF uses 43).
  if (starts_with_bytes(head, {'I', 'I', 42, 0}) || starts_with_bytes(head, {'M', 'M', 0, 42}) ||
      starts_with_bytes(head, {'I', 'I', 43, 0}) || starts_with_bytes(head, {'M', 'M', 0, 43})) {
    return Format::tiff;
  }
  if (has_text(head, 4, "ftyp") && head.size() >= 12) {
    if (Format f = sniff_bmff(head); f != Format::unknown) return f;
  }
  // JPEG XL: bare codestream FF 0A, or the ISO BMFF container's signature box (ISO/IEC 18181-2).
  if (starts_with_bytes(head, {0xFF, 0x0A}) ||
      starts_with_bytes(head, {0, 0, 0, 0x0C, 'J', 'X', 'L', ' ', 0x0D, 0x0A, 0x87, 0x0A})) {
    return Format::jxl;
  }
  if (has_text(head, 0, "8BPS")) return Format::psd;
  // ICO and CUR: reserved 0, type 1 (icon) or 2 (cursor), then a non-zero image count.
  if (head.size() >= 6 && be16(head, 0) == 0 && (le16(head, 2) == 1 || le16(head, 2) == 2) &&
      le16(head, 4) != 0) {
    return Format::ico;
  }
  if (looks_like_svg(head)) return Format::svg;
  return Format::unknown;
}

}  // namespace facegate::detail
