// Bmp header parser (see parser.hpp for the window contract).
#pragma once

#include <cstdint>

#include "formats/parser.hpp"

namespace facegate::detail {

/// Reads the Bmp header: the DIB header's size names its layout, then width and height.
///
/// Windows: the DIB header size field at offset 14 (after the 14-byte BITMAPFILEHEADER, which
/// holds nothing needed here), then width and height at offset 18.
class BmpParser {
 public:
  /// First window; the sniffer has seen this format's magic at offset 0.
  Step start(ImageInfo& info);
  /// Consumes the window asked for by the previous Step.
  Step step(const Window& window, ImageInfo& info);

 private:
  enum class Stage : std::uint8_t {
    dib_header_size,  // which DIB header follows
    core_size,        // BITMAPCOREHEADER: 16-bit unsigned width and height
    info_size,        // BITMAPINFOHEADER and its successors: 32-bit signed width and height
  };

  Step read_dib_header_size(const Window& window, ImageInfo& info);
  static Step read_core_size(const Window& window, ImageInfo& info);
  static Step read_info_size(const Window& window, ImageInfo& info);

  Stage stage_ = Stage::dib_header_size;
};

}  // namespace facegate::detail
