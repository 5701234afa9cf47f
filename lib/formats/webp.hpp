// Webp header parser (see parser.hpp for the window contract).
#pragma once

#include <array>
#include <cstdint>

#include "formats/parser.hpp"

namespace facegate::detail {

/// Reads the Webp header: the first chunk's kind ("VP8 " lossy, "VP8L" lossless, "VP8X"
/// extended) and the dimensions and animation flag it carries.
///
/// Windows: the first chunk's header at offset 12 (after "RIFF" size "WEBP", which the sniffer
/// matched), then the few payload bytes holding the dimensions.
class WebpParser {
 public:
  /// First window; the sniffer has seen this format's magic at offset 0.
  Step start(ImageInfo& info);
  /// Consumes the window asked for by the previous Step.
  Step step(const Window& window, ImageInfo& info);

 private:
  enum class Stage : std::uint8_t { first_chunk_header, vp8, vp8l, vp8x };

  Step read_first_chunk_header(const Window& window, ImageInfo& info);
  static Step read_vp8(const Window& window, ImageInfo& info);
  static Step read_vp8l(const Window& window, ImageInfo& info);
  static Step read_vp8x(const Window& window, ImageInfo& info);
  /// A malformed step whose message names the unexpected first chunk's fourcc.
  Step unexpected_first_chunk(std::span<const std::byte> fourcc);

  Stage stage_ = Stage::first_chunk_header;
  // Text of the unexpected-chunk message. The driver copies a step's message at once, so a
  // message held here lives long enough.
  std::array<char, 96> message_{};
};

}  // namespace facegate::detail
