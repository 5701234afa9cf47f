// facegate: the deep check. After a header passes, the whole image is decoded, so that a file
// whose header is fine but whose data is cut short or corrupt is found before it is sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "facegate/export.h"
#include "facegate/probe.hpp"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// Bounds of a deep decode. Nothing larger is allocated or read.
struct DeepLimits {
  /// Largest width x height decoded, by the probe's header and by the decoder's own reading of
  /// it; a larger image is refused before any pixel memory is allocated. The default is
  /// 7000 x 7000, the largest image any built-in model accepts.
  std::uint64_t max_pixels = 49'000'000;
  /// An animated WebP: largest canvas width x height times frames decoded (every frame is
  /// decoded onto the whole canvas), which bounds the time an animation can take.
  std::uint64_t max_animation_pixels = 490'000'000;
  /// deep_decode_file: largest file read; the file is read whole into memory. A larger file is
  /// refused unread. Also the largest URL body the Checker downloads for a deep decode
  /// (CheckerOptions::deep_urls).
  std::uint64_t max_file_bytes = 128 << 20;
};

/// What a deep decode found.
enum class DeepOutcome : std::uint8_t {
  ok,           ///< decoded to the end: the data is complete and the decoder accepts it
  corrupt,      ///< the data ends early or the decoder rejects it (the finding image.corrupt)
  refused,      ///< not decoded: above a DeepLimits bound or the memory bound
  not_checked,  ///< not decoded: a format or variant the decoders cannot read (reason says which)
  io,           ///< deep_decode_file: the file could not be read
};

/// Stable snake_case name of an outcome ("ok", "corrupt", "refused", "not_checked", "io").
std::string_view deep_outcome_name(DeepOutcome outcome) noexcept;

/// The result of a deep decode.
struct DeepResult {
  DeepOutcome outcome = DeepOutcome::ok;  ///< what was found
  /// Why, when not ok: the decoder's own reason ("stb_image: bad huffman code", "libwebp:
  /// VP8_STATUS_NOT_ENOUGH_DATA") or facegate's ("the data ends before the image does: ...",
  /// "PNG chunk IDAT at offset 33: CRC mismatch", a limit and the value above it).
  std::string reason;
  std::uint64_t microseconds = 0;  ///< time in the decoders (steady clock), reading excluded
  std::uint64_t pixels = 0;        ///< pixels decoded (width x height x frames); 0 when none
  /// True when the image decoded.
  bool ok() const noexcept { return outcome == DeepOutcome::ok; }
};

/// The most memory, in bytes, that a deep decode of an image with this header may allocate
/// beyond its input bytes: for limiting decodes in flight by memory. It is
/// bytes_per_pixel x (width + 32) x (height + 32) + 3 x file_bytes + 1 MiB, with 15 bytes a
/// pixel for JPEG (4 components of samples and progressive coefficients, and the output), 20
/// for PNG (16-bit RGBA: inflated rows, output and an interlace pass), 4 for BMP and 16 for
/// WebP (an animation's two canvases and a lossless frame's own buffer); the margins cover
/// JPEG's MCU padding, stb_image's growing buffer of PNG IDAT data (up to 3 x the file while
/// it grows) and the decoders' tables. stb_image's allocations are held to this bound (a
/// decode that needs more is refused: a zlib stream in a PNG that inflates past the image's
/// rows); libwebp's are bounded by the image's dimensions and not counted one by one.
std::uint64_t deep_memory_bound(const ImageInfo& header, std::uint64_t file_bytes) noexcept;

/// Decodes a whole image held in memory, whose header the probe read as `header`.
///
/// JPEG, PNG and BMP are decoded with stb_image, WebP with libwebp (WebPDecode, or
/// WebPAnimDecoder for every frame of an animation). Corrupt means:
/// - the decoder fails on the data (its reason is given);
/// - the data ends before the image does: stb_image asks for bytes past the end, where it
///   would read zeros and go on, or skips past it (a JPEG cut before its EOI marker, a BMP
///   short of pixel rows or of its last row's padding), or libwebp runs out of data;
/// - PNG: a chunk's CRC does not match, a chunk runs past the end, or the data ends before
///   IEND (stb_image itself checks no CRC).
/// Damage that leaves the data decodable (a flipped bit in a JPEG's entropy-coded data, with
/// no checksum to show it) is not found, nor damage to bytes the decoder does not read (after
/// a JPEG's EOI or a PNG's IEND; a BMP's ICC profile after its pixel rows).
///
/// Not checked: formats other than JPEG, PNG, BMP and WebP; JPEG other than baseline,
/// extended and progressive Huffman coding (the header's subtype), 12-bit JPEG, JPEG with a
/// height given by DNL, JPEG of other than 1, 3 or 4 components, BMP with RLE, JPEG or PNG
/// compression, BMP info headers of 52 and 64 bytes: stb_image does not decode them, so they
/// are reported as not checked rather than corrupt.
///
/// Refused: header.width x header.height, or the decoder's own reading of them, above
/// limits.max_pixels; an animation above limits.max_animation_pixels; a decode that needs more
/// than deep_memory_bound(). The decoders' memory is freed before this returns. Safe to call
/// from many threads at once.
DeepResult deep_decode(std::span<const std::byte> bytes, const ImageInfo& header,
                       const DeepLimits& limits = {});

/// Reads the file at `path` whole (at most limits.max_file_bytes, or refused unread), then
/// deep_decode()s it. An unreadable file is DeepOutcome::io with the path and the reason.
DeepResult deep_decode_file(const std::filesystem::path& path, const ImageInfo& header,
                            const DeepLimits& limits = {});

}  // namespace facegate
FACEGATE_PUBLIC_END
