// Png header parser (see parser.hpp for the window contract).
#pragma once

#include <cstdint>

#include "formats/parser.hpp"

namespace facegate::detail {

/// Reads the Png header: IHDR (dimensions), Apple's CgBI variant, and acTL (animation).
///
/// Windows: the first chunk's header at offset 8 (an optional CgBI chunk may come first), the
/// 13-byte IHDR body, then one 8-byte chunk header (length + type) per chunk up to the first
/// IDAT. Chunk bodies and CRCs after IHDR are skipped, never read.
class PngParser {
 public:
  /// First window; the sniffer has seen this format's magic at offset 0.
  Step start(ImageInfo& info);
  /// Consumes the window asked for by the previous Step.
  Step step(const Window& window, ImageInfo& info);

 private:
  enum class Stage : std::uint8_t {
    first_chunk_header,  // CgBI or IHDR
    ihdr_body,           // the 13 bytes of IHDR
    chunk_header,        // walking to the first IDAT
  };

  Step read_first_chunk_header(const Window& window, ImageInfo& info);
  Step read_ihdr_body(const Window& window, ImageInfo& info);
  Step read_chunk_header(const Window& window, ImageInfo& info);
  /// Asks for the header of the chunk after the one whose header starts at `chunk_offset`.
  Step skip_chunk(std::uint64_t chunk_offset, std::uint32_t data_length);

  Stage stage_ = Stage::first_chunk_header;
  bool seen_cgbi_ = false;
};

}  // namespace facegate::detail
