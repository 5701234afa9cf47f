#include "formats/jpeg.hpp"

namespace facegate::detail {

Step JpegParser::start(ImageInfo&) { return Step::need(0, 1); }

Step JpegParser::step(const Window&, ImageInfo&) {
  return Step::fail(ErrorCode::unsupported_format, "jpeg parser not written yet");
}

}  // namespace facegate::detail
