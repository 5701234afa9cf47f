#include "formats/png.hpp"

namespace facegate::detail {

Step PngParser::start(ImageInfo&) { return Step::need(0, 1); }

Step PngParser::step(const Window&, ImageInfo&) {
  return Step::fail(ErrorCode::unsupported_format, "png parser not written yet");
}

}  // namespace facegate::detail
