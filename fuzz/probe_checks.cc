#include "probe_checks.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "formats/parser.hpp"
#include "formats/sniff.hpp"
#include "oracles.hpp"
#include "support.hpp"

namespace facegate::fuzz {
namespace {

// Parsers report the header's true values (issue 2: "judging them is the rules' job"), so
// any non-zero uint32 is a dimension; the one format limit is PNG's 2^31-1 (PNG spec 11.2.2).
constexpr std::uint32_t kMaxPngDimension = 0x7FFFFFFF;

/// What one probe run ended with.
struct Outcome {
  Status status = Status::need_more;
  Error error;
  ImageInfo info;
};

Outcome outcome_of(const Probe& probe) {
  Outcome outcome{probe.status(), {}, probe.info()};
  if (outcome.status == Status::error) outcome.error = probe.error();
  return outcome;
}

bool same_info(const ImageInfo& a, const ImageInfo& b) {
  return a.format == b.format && a.width == b.width && a.height == b.height &&
         a.orientation == b.orientation && a.animated == b.animated && a.subtype == b.subtype &&
         a.leniency == b.leniency;
}

bool same_outcome(const Outcome& a, const Outcome& b) {
  return a.status == b.status && a.error.code == b.error.code &&
         a.error.message == b.error.message && same_info(a.info, b.info);
}

std::string describe(const ImageInfo& info) {
  return std::string(format_name(info.format)) + " " + std::to_string(info.width) + "x" +
         std::to_string(info.height) + " orientation " + std::to_string(info.orientation) +
         (info.animated ? " animated" : "") + " subtype '" + std::string(info.subtype) + "'" +
         (info.leniency.empty() ? "" : " leniency '" + std::string(info.leniency) + "'");
}

std::string describe(const Outcome& outcome) {
  switch (outcome.status) {
    case Status::need_more: return "need_more (" + describe(outcome.info) + ")";
    case Status::done: return "done: " + describe(outcome.info);
    case Status::error:
      return "error " + std::string(error_code_name(outcome.error.code)) + " '" +
             outcome.error.message + "' (" + describe(outcome.info) + ")";
  }
  return "?";
}

/// Chunk sizes and prefix lengths drawn from a hash of the input, so that a crash replays.
class InputDrawnSizes {
 public:
  explicit InputDrawnSizes(std::span<const std::byte> input) {
    std::uint64_t hash = 0xcbf29ce484222325;  // FNV-1a, 64 bits
    for (std::byte b : input) hash = (hash ^ static_cast<std::uint8_t>(b)) * 0x100000001b3;
    state_ = hash;
  }

  /// Mostly small chunks, which split fields, and now and then a large one.
  std::size_t chunk_size() {
    const std::uint64_t r = next();
    switch (r % 4) {
      case 0:
      case 1: return 1 + (r >> 8) % 8;
      case 2: return 1 + (r >> 8) % 300;
      default: return 1 + (r >> 8) % 5000;
    }
  }
  /// A number in [0, bound); bound > 0.
  std::size_t below(std::size_t bound) { return static_cast<std::size_t>(next() % bound); }

 private:
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
};

/// The contract of a probe that has been told the input ended.
void require_settled(const Probe& probe, std::string_view driver,
                     std::span<const std::byte> input) {
  const std::string who = std::string(driver) + " driver: ";
  if (probe.status() == Status::need_more) {
    violation("need_more survived finish()", input, who + describe(outcome_of(probe)));
  }
  if (probe.status() == Status::error) {
    const Error& error = probe.error();
    if (error.code == ErrorCode::none || error.message.empty()) {
      violation("an error without a code or a message", input, who + describe(outcome_of(probe)));
    }
    // The drivers here never break the feeding rules: invalid_call can only mean that a
    // parser asked the driver for an invalid window.
    if (error.code == ErrorCode::invalid_call) {
      violation("invalid_call from a driver that follows the contract", input,
                who + describe(outcome_of(probe)));
    }
  }
}

/// After a feed that ends at `fed_end`, the probe wants a sane window at or past that end; a
/// streaming caller cannot go back.
void require_valid_want(const Probe& probe, std::uint64_t fed_end, std::string_view driver,
                        std::span<const std::byte> input) {
  if (probe.status() != Status::need_more) return;
  const Want want = probe.want();
  if (want.length == 0 || want.length > detail::kMaxWindow || want.offset < fed_end) {
    violation("want() after feed", input,
              std::string(driver) + " driver: want " + std::to_string(want.offset) + "+" +
                  std::to_string(want.length) + " after bytes up to " + std::to_string(fed_end));
  }
}

Outcome probe_whole(std::span<const std::byte> input, std::string_view driver) {
  const HeapBytes copy(input);
  Probe probe;
  probe.feed(0, copy.span());
  probe.finish();
  require_settled(probe, driver, input);
  return outcome_of(probe);
}

/// A stream: every byte in order, in chunks, until the probe stops needing more.
Outcome probe_streamed(std::span<const std::byte> input, InputDrawnSizes& sizes) {
  Probe probe;
  std::size_t fed = 0;
  while (probe.status() == Status::need_more && fed < input.size()) {
    const std::size_t length = std::min(sizes.chunk_size(), input.size() - fed);
    const HeapBytes chunk(input.subspan(fed, length));
    probe.feed(fed, chunk.span());
    fed += length;
    require_valid_want(probe, fed, "streaming", input);
  }
  probe.finish();
  require_settled(probe, "streaming", input);
  return outcome_of(probe);
}

/// A reader that seeks (pread, HTTP Range): it reads from want().offset, sometimes exactly
/// want().length bytes, sometimes fewer (a short read), sometimes more.
struct SeekingRun {
  Outcome outcome;
  std::uint64_t furthest_wanted = 0;  // end of the furthest window the probe asked for
};

SeekingRun probe_seeking(std::span<const std::byte> input, InputDrawnSizes& sizes) {
  Probe probe;
  SeekingRun run;
  while (probe.status() == Status::need_more) {
    const Want want = probe.want();
    run.furthest_wanted = std::max(run.furthest_wanted, want.offset + want.length);
    if (want.offset >= input.size()) break;
    std::size_t length = want.length;
    switch (sizes.below(4)) {
      case 0: length = 1 + sizes.below(want.length); break;
      case 1: length += sizes.chunk_size(); break;
      default: break;
    }
    const auto offset = static_cast<std::size_t>(want.offset);
    length = std::min(length, input.size() - offset);
    const HeapBytes chunk(input.subspan(offset, length));
    probe.feed(want.offset, chunk.span());
    // Each feed moves want().offset past the bytes fed, so this loop ends.
    require_valid_want(probe, want.offset + length, "seeking", input);
  }
  probe.finish();
  require_settled(probe, "seeking", input);
  run.outcome = outcome_of(probe);
  return run;
}

Format sniff(std::span<const std::byte> input) {
  return detail::sniff_format(input.first(std::min<std::size_t>(input.size(), detail::kSniffLength)));
}

void require_valid_answer(const Outcome& full, std::span<const std::byte> input,
                          std::optional<Format> expected) {
  // The format is the sniffer's, whether or not its parser then succeeds; an input that ends
  // inside a signature is truncated before any format is named.
  const bool cut_in_signature = full.status == Status::error &&
                                full.error.code == ErrorCode::truncated &&
                                full.info.format == Format::unknown;
  if (full.info.format != sniff(input) && !cut_in_signature) {
    violation("info().format is not the sniffed format", input, describe(full));
  }
  if (expected && full.info.format != *expected) {
    violation("the forced format was not sniffed", input, describe(full));
  }
  if (full.status != Status::done) return;
  const ImageInfo& info = full.info;
  // ImageInfo::subtype and leniency are static text: reading them lets AddressSanitizer check
  // that they are.
  volatile std::size_t text_sum = 0;
  for (char c : info.subtype) text_sum = text_sum + static_cast<unsigned char>(c);
  for (char c : info.leniency) text_sum = text_sum + static_cast<unsigned char>(c);
  const bool dimensions_ok =
      format_is_parsed(info.format)
          ? info.width != 0 && info.height != 0 &&
                (info.format != Format::png ||
                 (info.width <= kMaxPngDimension && info.height <= kMaxPngDimension))
          : info.width == 0 && info.height == 0;
  if (!dimensions_ok) {
    violation("dimensions: parsed formats need non-zero sizes (PNG: at most 2^31-1), "
              "recognized-only formats none", input,
              describe(full));
  }
  if (info.orientation > 8) violation("EXIF orientation above 8", input, describe(full));
  if (!info.leniency.empty() && !format_is_parsed(info.format)) {
    violation("a leniency note for a format that is not parsed", input, describe(full));
  }
  if (info.animated && info.format != Format::png && info.format != Format::webp) {
    violation("animated outside PNG and WebP", input, describe(full));
  }
}

// Known, justified difference: formats that are only recognized are named from their magic
// bytes alone, and the sniffer tries the ISO BMFF ftyp box (HEIF, AVIF), which takes 12 bytes,
// before JPEG XL, PSD, ICO and SVG (sniff.cc). A box starts with its size, any 32-bit value
// (ISO/IEC 14496-12 4.2), so fewer than 12 bytes of an ftyp box, whole or cut inside (then
// truncated with no format named), can show one of those magics.
bool ftyp_not_yet_visible(std::size_t prefix_length, Format prefix_format, const Outcome& whole) {
  constexpr std::size_t kFtypSniffLength = 12;  // size, "ftyp", major brand
  const bool sniffed_after_ftyp = prefix_format == Format::jxl || prefix_format == Format::psd ||
                                  prefix_format == Format::ico || prefix_format == Format::svg;
  const bool whole_is_ftyp =
      (whole.status == Status::done &&
       (whole.info.format == Format::heif || whole.info.format == Format::avif)) ||
      (whole.status == Status::error && whole.error.code == ErrorCode::truncated &&
       whole.info.format == Format::unknown);
  return prefix_length < kFtypSniffLength && sniffed_after_ftyp && whole_is_ftyp;
}

// A prefix of an input, followed by finish(), must not give a different successful answer: a
// parser that says done has seen every byte its answer depends on. When the whole input gives
// an answer and the prefix still sniffs as the same format, the prefix can only be truncated.
void check_prefix(std::span<const std::byte> input, std::size_t length, const Outcome& full) {
  const auto prefix = input.first(length);
  const Outcome cut = probe_whole(prefix, "prefix");
  const std::string details = "prefix of " + std::to_string(length) + " bytes: " +
                              describe(cut) + "\nwhole input: " + describe(full);
  if (cut.status == Status::done &&
      !(full.status == Status::done && same_info(cut.info, full.info)) &&
      !ftyp_not_yet_visible(length, cut.info.format, full)) {
    violation("a prefix gives a different successful answer", input, details);
  }
  if (cut.status == Status::error && full.status == Status::done &&
      sniff(prefix) == full.info.format && cut.error.code != ErrorCode::truncated) {
    violation("a prefix of a good input fails with other than truncated", input, details);
  }
}

// The oracles, for the formats they read: stb_image for JPEG, PNG and BMP, libwebp for WebP.
std::optional<OracleAnswer> oracle_answer(Format format, std::span<const std::byte> input) {
  switch (format) {
    case Format::jpeg: return stb_info(StbReader::jpeg, input);
    case Format::png: return stb_info(StbReader::png, input);
    case Format::bmp: return stb_info(StbReader::bmp, input);
    case Format::webp: return libwebp_info(input);
    default: return std::nullopt;
  }
}

// Compares the probe with the oracle of the sniffed format. Two invariants:
//
// 1. Where both succeed, they report the same width and height.
// 2. Where the oracle succeeds without reading past the end of the input, the probe does not
//    call the input truncated: it had all the bytes it needs. JPEG: stb_image reads the whole
//    frame header and every segment before it, the probe a part of them. BMP: stb_image reads
//    the whole info header, the probe its first 12 bytes. WebP: WebPGetInfo needs at least the
//    probe's bytes and fails without them.
//
// Known, justified differences, excluded precisely:
//  - Truncated input: stb_image reads missing bytes as zeros (stbi__get8 returns 0 at the end)
//    and "succeeds" on files that the probe calls truncated. Invariant 2 holds only when stb
//    did not read past the end (stb_info reads through callbacks to see that).
//  - Invariant 2 does not apply to PNG: stbi_info stops after IHDR (palette images: at tRNS or
//    the first IDAT), while the probe reads every chunk header up to the first IDAT to see an
//    acTL chunk (APNG specification: acTL comes before IDAT).
//  - An oracle's failure is never held against the probe: stb_image rejects what it cannot
//    decode (12-bit, lossless and arithmetic-coded JPEG, RLE BMP, OS/2 2.x BMP, ...), libwebp
//    a VP8X canvas that differs from its bitstream's size, and both are stricter in places,
//    among them the departures that the probe reads past as other decoders do and notes in
//    ImageInfo::leniency (stbi_info refuses a JPEG APPn length below 2 or junk after SOI, PNG
//    chunks before IHDR, an IHDR longer than 13 bytes or with another compression or interlace
//    method, BMP header sizes other than 12, 40, 56, 108 and 124).
//  - Top-down BMP: a negative height means rows stored top-down (Microsoft's BITMAPINFOHEADER
//    documentation, biHeight); the probe reports its magnitude
//    (docs/design.md#the-probe-contract) and stbi_info the negative number, so the magnitude of
//    stb's height is compared.
void check_oracles(std::span<const std::byte> input, const Outcome& full) {
  const HeapBytes copy(input);
  std::optional<OracleAnswer> oracle = oracle_answer(full.info.format, copy.span());
  if (!oracle) return;
  const std::string oracle_name = full.info.format == Format::webp ? "WebPGetInfo" : "stbi_info";
  if (full.info.format == Format::bmp && oracle->height < 0) oracle->height = -oracle->height;
  const std::string details = oracle_name + ": " + std::to_string(oracle->width) + "x" +
                              std::to_string(oracle->height) +
                              (oracle->read_past_end ? " (read past the end)" : "") +
                              "\nprobe: " + describe(full);
  if (full.status == Status::done &&
      (oracle->width != full.info.width || oracle->height != full.info.height)) {
    violation("the probe and an oracle disagree on the dimensions", input, details);
  }
  if (full.status == Status::error && full.error.code == ErrorCode::truncated &&
      full.info.format != Format::png && !oracle->read_past_end) {
    violation("truncated, but the oracle read the header without reaching the end", input,
              details);
  }
}

}  // namespace

std::vector<std::byte> force_format(Format format, std::span<const std::byte> input) {
  auto has_text_at = [&](std::size_t offset, std::string_view text) {
    return input.size() >= offset + text.size() &&
           std::memcmp(input.data() + offset, text.data(), text.size()) == 0;
  };
  std::string magic;
  bool present = true;
  switch (format) {
    case Format::jpeg:
      magic = "\xFF\xD8\xFF";  // SOI, then the 0xFF of the next marker
      present = has_text_at(0, "\xFF\xD8");  // SOI alone is the sniffer's magic
      break;
    case Format::png:
      magic = "\x89PNG\r\n\x1A\n";
      present = has_text_at(0, magic);
      break;
    case Format::bmp:
      magic = "BM";
      present = has_text_at(0, magic);
      break;
    case Format::webp: {
      // "RIFF", the RIFF payload size (little-endian, counting "WEBP"), "WEBP".
      const auto size = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(std::uint64_t{input.size()} + 4, UINT32_MAX));
      magic = "RIFF";
      for (int shift = 0; shift < 32; shift += 8) magic += static_cast<char>(size >> shift);
      magic += "WEBP";
      present = has_text_at(0, "RIFF") && has_text_at(8, "WEBP");
      break;
    }
    default: break;
  }
  std::vector<std::byte> out;
  if (!present) {
    for (char c : magic) out.push_back(static_cast<std::byte>(c));
  }
  out.insert(out.end(), input.begin(), input.end());
  return out;
}

void check_probe(std::span<const std::byte> input, std::optional<Format> expected) {
  InputDrawnSizes sizes(input);
  const Outcome whole = probe_whole(input, "whole");
  require_valid_answer(whole, input, expected);

  const Outcome streamed = probe_streamed(input, sizes);
  if (!same_outcome(whole, streamed)) {
    violation("chunked input gives another answer", input,
              "whole: " + describe(whole) + "\nstreamed in chunks: " + describe(streamed));
  }
  const SeekingRun seeking = probe_seeking(input, sizes);
  if (!same_outcome(whole, seeking.outcome)) {
    violation("a seeking reader gets another answer", input,
              "whole: " + describe(whole) + "\nseeking: " + describe(seeking.outcome));
  }

  if (!input.empty()) {
    check_prefix(input, sizes.below(input.size()), whole);
    // The prefix that lacks only the last byte the probe asked for.
    if (seeking.furthest_wanted > 0 && seeking.furthest_wanted <= input.size()) {
      check_prefix(input, static_cast<std::size_t>(seeking.furthest_wanted - 1), whole);
    }
  }
  check_oracles(input, whole);
}

}  // namespace facegate::fuzz
