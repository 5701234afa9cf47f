// The Probe driver: gathers the windows that the format parsers ask for, however the caller
// chunks its bytes, and turns the parsers' steps into the public status.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "facegate/probe.hpp"
#include "formats/bmp.hpp"
#include "formats/jpeg.hpp"
#include "formats/png.hpp"
#include "formats/sniff.hpp"
#include "formats/webp.hpp"

namespace facegate {

std::string_view format_name(Format format) noexcept {
  switch (format) {
    case Format::unknown: return "unknown";
    case Format::jpeg: return "jpeg";
    case Format::png: return "png";
    case Format::bmp: return "bmp";
    case Format::webp: return "webp";
    case Format::gif: return "gif";
    case Format::tiff: return "tiff";
    case Format::heif: return "heif";
    case Format::avif: return "avif";
    case Format::jxl: return "jxl";
    case Format::ico: return "ico";
    case Format::psd: return "psd";
    case Format::svg: return "svg";
  }
  return "unknown";
}

bool format_is_parsed(Format format) noexcept {
  return format == Format::jpeg || format == Format::png || format == Format::bmp ||
         format == Format::webp;
}

std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::none: return "none";
    case ErrorCode::truncated: return "truncated";
    case ErrorCode::malformed: return "malformed";
    case ErrorCode::unsupported_format: return "unsupported_format";
    case ErrorCode::io: return "io";
    case ErrorCode::bad_url: return "bad_url";
    case ErrorCode::scheme: return "scheme";
    case ErrorCode::private_address: return "private_address";
    case ErrorCode::dns: return "dns";
    case ErrorCode::connect: return "connect";
    case ErrorCode::tls: return "tls";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::network: return "network";
    case ErrorCode::too_many_redirects: return "too_many_redirects";
    case ErrorCode::http_status: return "http_status";
    case ErrorCode::bad_range: return "bad_range";
    case ErrorCode::protocol: return "protocol";
    case ErrorCode::byte_cap: return "byte_cap";
    case ErrorCode::invalid_call: return "invalid_call";
    case ErrorCode::bad_input: return "bad_input";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

bool is_image_fault(ErrorCode code) noexcept {
  return code == ErrorCode::truncated || code == ErrorCode::malformed ||
         code == ErrorCode::unsupported_format;
}

namespace detail {

/// Sniffing is the first parser: it reads the magic bytes and hands over to a format parser.
struct Sniffing {};

using Parser = std::variant<Sniffing, JpegParser, PngParser, BmpParser, WebpParser>;

struct ProbeState {
  Status status = Status::need_more;
  Error error;
  ImageInfo info;
  Parser parser;
  Step step = Step::need(0, kSniffLength, /*short_ok=*/true);
  // buffer[0, filled) holds the bytes from the current window's offset on, gathered so far; it
  // may hold more than the window, when the window lies inside the previous one.
  std::byte buffer[kMaxWindow];
  std::uint32_t filled = 0;

  Step dispatch(const Window& window);
  void apply(Step next, std::uint64_t previous_offset, std::span<const std::byte> previous);
  Status fail(ErrorCode code, std::string message);
  std::uint64_t needed_offset() const { return step.want.offset + filled; }
  bool window_complete() const { return filled >= step.want.length; }
  std::span<const std::byte> buffered_window() const {
    return {buffer, std::min(filled, step.want.length)};
  }
};

Step ProbeState::dispatch(const Window& window) {
  if (std::holds_alternative<Sniffing>(parser)) {
    if (window.bytes.empty()) return Step::truncated("empty input");
    info.format = sniff_format(window.bytes);
    if (window.at_eof && cut_inside_signature(window.bytes, info.format)) {
      info.format = Format::unknown;
      return Step::truncated("input ends inside the signature of a known format");
    }
    switch (info.format) {
      case Format::jpeg: return parser.emplace<JpegParser>().start(info);
      case Format::png: return parser.emplace<PngParser>().start(info);
      case Format::bmp: return parser.emplace<BmpParser>().start(info);
      case Format::webp: return parser.emplace<WebpParser>().start(info);
      case Format::unknown:
        return Step::fail(ErrorCode::unsupported_format, "no known image format's magic bytes");
      default: return Step::done();  // recognized and named; dimensions are not read
    }
  }
  return std::visit(
      [&](auto& p) -> Step {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, Sniffing>) {
          return Step::done();
        } else {
          return p.step(window, info);
        }
      },
      parser);
}

Status ProbeState::fail(ErrorCode code, std::string message) {
  status = Status::error;
  error = Error{code, std::move(message)};
  return status;
}

// Takes the parser's next step. `previous` holds the bytes of the window just consumed (at
// `previous_offset`); if they overlap the new window they are kept in the buffer.
void ProbeState::apply(Step next, std::uint64_t previous_offset,
                       std::span<const std::byte> previous) {
  filled = 0;
  if (next.kind == Step::Kind::done) {
    status = Status::done;
    return;
  }
  if (next.kind == Step::Kind::fail) {
    fail(next.error, std::string(next.message));
    return;
  }
  if (next.want.length == 0 || next.want.length > kMaxWindow ||
      next.want.offset < previous_offset) {
    fail(ErrorCode::invalid_call, "internal error: a parser asked for an invalid window");
    return;
  }
  step = next;
  const std::uint64_t previous_end = previous_offset + previous.size();
  if (next.want.offset < previous_end) {
    auto kept = previous.subspan(static_cast<std::size_t>(next.want.offset - previous_offset));
    filled = static_cast<std::uint32_t>(kept.size());  // all of it: later windows may need it
    std::memmove(buffer, kept.data(), filled);
  }
}

}  // namespace detail

// For overwrite: the 4 KiB window buffer is not zeroed for every probe; only the bytes copied
// into it (filled) are ever read.
Probe::Probe() : state_(std::make_unique_for_overwrite<detail::ProbeState>()) {}
Probe::~Probe() = default;
Probe::Probe(Probe&&) noexcept = default;
Probe& Probe::operator=(Probe&&) noexcept = default;

Status Probe::status() const noexcept { return state_->status; }
const ImageInfo& Probe::info() const noexcept { return state_->info; }
const Error& Probe::error() const noexcept { return state_->error; }

Want Probe::want() const noexcept {
  const auto& s = *state_;
  return Want{s.needed_offset(), s.step.want.length - s.filled};
}

Status Probe::feed(std::uint64_t offset, std::span<const std::byte> bytes) {
  auto& s = *state_;
  if (s.status != Status::need_more) return s.status;
  if (bytes.size() > UINT64_MAX - offset) {
    return s.fail(ErrorCode::invalid_call, "feed: offset + length overflows");
  }
  const std::uint64_t end = offset + bytes.size();
  while (s.status == Status::need_more) {
    const detail::Step current = s.step;
    std::span<const std::byte> window = s.buffered_window();
    if (!s.window_complete()) {
      const std::uint64_t need = s.needed_offset();
      if (offset > need) {
        return s.fail(ErrorCode::invalid_call, "feed: bytes at offset " + std::to_string(offset) +
                                                   " skip offset " + std::to_string(need) +
                                                   ", which the probe needs first");
      }
      if (end <= need) break;
      auto available = bytes.subspan(static_cast<std::size_t>(need - offset));
      if (s.filled == 0 && available.size() >= current.want.length) {
        window = available.first(current.want.length);  // the whole window, without a copy
      } else {
        const auto n = static_cast<std::uint32_t>(
            std::min<std::size_t>(available.size(), current.want.length - s.filled));
        std::memcpy(s.buffer + s.filled, available.data(), n);
        s.filled += n;
        if (s.filled < current.want.length) break;
        window = std::span<const std::byte>(s.buffer, s.filled);
      }
    }
    detail::Step next = s.dispatch(detail::Window{current.want.offset, window, false});
    // Bytes that the next window shares with this one are kept in the buffer only when the
    // caller's span does not hold them too.
    const bool caller_holds_next =
        window.data() != s.buffer || (next.kind == detail::Step::Kind::need && next.want.offset >= offset);
    s.apply(next, current.want.offset,
            caller_holds_next ? std::span<const std::byte>{} : std::span<const std::byte>(s.buffer, s.filled));
  }
  return s.status;
}

Status Probe::finish() {
  auto& s = *state_;
  // Windows that the buffered bytes still cover are served; short ones when asked for, as long
  // as each starts past the previous short one.
  std::optional<std::uint64_t> last_short;
  while (s.status == Status::need_more) {
    const detail::Step current = s.step;
    const bool complete = s.window_complete();
    const bool short_allowed = current.short_ok &&
                               (!last_short || current.want.offset > *last_short);
    if (!complete && !short_allowed) {
      return s.fail(ErrorCode::truncated,
                    "truncated " + std::string(format_name(s.info.format)) +
                        " header: the input ends before byte " +
                        std::to_string(current.want.offset + current.want.length - 1) +
                        ", which the header needs");
    }
    if (!complete) last_short = current.want.offset;
    const std::span<const std::byte> window = s.buffered_window();
    s.apply(s.dispatch(detail::Window{current.want.offset, window, true}), current.want.offset,
            std::span<const std::byte>(s.buffer, s.filled));
  }
  return s.status;
}

}  // namespace facegate
