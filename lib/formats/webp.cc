#include "formats/webp.hpp"

namespace facegate::detail {

Step WebpParser::start(ImageInfo&) { return Step::need(0, 1); }

Step WebpParser::step(const Window&, ImageInfo&) {
  return Step::fail(ErrorCode::unsupported_format, "webp parser not written yet");
}

}  // namespace facegate::detail
