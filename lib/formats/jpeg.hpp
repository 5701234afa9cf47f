// Jpeg header parser (see parser.hpp for the window contract).
#pragma once

#include "formats/parser.hpp"

namespace facegate::detail {

/// Reads the Jpeg header: dimensions and the fields of ImageInfo this format carries.
class JpegParser {
 public:
  /// First window; the sniffer has seen this format's magic at offset 0.
  Step start(ImageInfo& info);
  /// Consumes the window asked for by the previous Step.
  Step step(const Window& window, ImageInfo& info);

 private:
};

}  // namespace facegate::detail
