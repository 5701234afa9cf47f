#include "formats/bmp.hpp"

namespace facegate::detail {

Step BmpParser::start(ImageInfo&) { return Step::need(0, 1); }

Step BmpParser::step(const Window&, ImageInfo&) {
  return Step::fail(ErrorCode::unsupported_format, "bmp parser not written yet");
}

}  // namespace facegate::detail
