// Png header parser (see parser.hpp for the window contract).
#pragma once

#include <cstdint>

#include "formats/parser.hpp"

namespace facegate::detail {

/// Reads the Png header: IHDR (dimensions), Apple's CgBI variant, and acTL (animation).
///
/// Windows: the first chunk's header at offset 8 (Apple's CgBI chunk may come first, and other
/// chunks, which Pillow reads, with a leniency note), the first 13 bytes of the IHDR body, then
/// one 8-byte chunk header (length + type) per chunk up to the first IDAT. Chunk bodies and CRCs
/// other than IHDR's are skipped, never read.
class PngParser {
 public:
  /// First window; the sniffer has seen this format's magic at offset 0.
  Step start(ImageInfo& info);
  /// Consumes the window asked for by the previous Step.
  Step step(const Window& window, ImageInfo& info);

 private:
  enum class Stage : std::uint8_t {
    before_ihdr,   // chunk headers up to IHDR's: CgBI, or chunks that Pillow skips
    ihdr_body,     // the first 13 bytes of IHDR
    chunk_header,  // walking to the first IDAT
  };

  Step read_chunk_header_before_ihdr(const Window& window, ImageInfo& info);
  Step read_ihdr_body(const Window& window, ImageInfo& info);
  Step read_chunk_header(const Window& window, ImageInfo& info);
  /// Asks for the header of the chunk after the one whose header starts at `chunk_offset`.
  Step skip_chunk(std::uint64_t chunk_offset, std::uint32_t data_length);

  Stage stage_ = Stage::before_ihdr;
  std::uint32_t ihdr_length_ = 0;  // IHDR's length field: 13, or more (read with a note)
};

}  // namespace facegate::detail
