#include "formats/jpeg.hpp"

#include <algorithm>
#include <limits>
#include <optional>

#include "formats/sniff.hpp"

namespace facegate::detail {
namespace {

// Marker codes, ITU T.81 Table B.1 (and T.87 for JPEG-LS).
constexpr std::uint8_t kFill = 0xFF;   // fill byte before a marker (T.81 B.1.1.2)
constexpr std::uint8_t kStuffed = 0x00;  // FF 00 is a stuffed zero, not a marker (B.1.1.5)
constexpr std::uint8_t kTem = 0x01;
constexpr std::uint8_t kRst0 = 0xD0;
constexpr std::uint8_t kSoi = 0xD8;
constexpr std::uint8_t kEoi = 0xD9;
constexpr std::uint8_t kSos = 0xDA;
constexpr std::uint8_t kDnl = 0xDC;
constexpr std::uint8_t kDhp = 0xDE;
constexpr std::uint8_t kApp0 = 0xE0;
constexpr std::uint8_t kApp1 = 0xE1;
constexpr std::uint8_t kApp15 = 0xEF;
constexpr std::uint8_t kCom = 0xFE;
constexpr std::uint8_t kSof55 = 0xF7;  // JPEG-LS frame header, ITU T.87 C.2.2

// A marker and its segment length field.
constexpr std::uint32_t kMarkerWindow = 4;
// Window for scanning past junk or fill bytes between segments, once a marker window held some.
constexpr std::uint32_t kScanWindow = kMaxWindow;
// P (1), Y (2), X (2), Nf (1) after the length field: T.81 B.2.2.
constexpr std::uint32_t kFrameHeaderFields = 6;

// APP1 EXIF payload: "Exif\0\0" (Exif 2.3 4.5.4), then the TIFF header: byte order "II" or
// "MM", 42, and the offset of IFD0 from the header's start (TIFF 6.0 section 2).
constexpr std::string_view kExifIdentifier{"Exif\0\0", 6};
constexpr std::uint32_t kTiffHeaderLength = 8;
constexpr std::uint32_t kExifHeaderLength = kExifIdentifier.size() + kTiffHeaderLength;
constexpr std::uint16_t kTiffMagic = 42;
// IFD entry: tag (2), type (2), count (4), value or offset (4): TIFF 6.0 section 2.
constexpr std::uint32_t kIfdEntryLength = 12;
constexpr std::uint32_t kEntriesPerWindow = kMaxWindow / kIfdEntryLength;
constexpr std::uint16_t kOrientationTag = 0x0112;
constexpr std::uint16_t kTiffShort = 3;

// Departures from T.81 that libjpeg reads past (ImageInfo::leniency). Its marker reader skips
// whatever is not a marker with the warning "Corrupt JPEG data: N extraneous bytes before
// marker" (next_marker in jdmarker.c), and takes the length of a segment it does not parse (APPn,
// COM, DNL) minus 2 as the bytes to skip, so a length of 0 or 1 skips nothing.
constexpr std::string_view kExtraneousBytes =
    "jpeg: bytes between segments that are neither markers nor FF fill bytes (T.81 B.1.1.2), "
    "skipped as libjpeg does";
constexpr std::string_view kShortSegment =
    "jpeg: an APPn, COM or DNL segment length below 2 (T.81 B.1.1.4), read on after the length "
    "field as libjpeg and Pillow do";

// The segments that libjpeg skips by their length without reading them: a length below 2 is no
// error there. Any other segment with such a length (DQT, DHT, DRI, a frame header) is one.
bool skipped_by_libjpeg(std::uint8_t marker) {
  return (marker >= kApp0 && marker <= kApp15) || marker == kCom || marker == kDnl;
}

// Markers without a length field: TEM, RST0-7, SOI (EOI is handled apart). T.81 B.1.1.3.
bool is_standalone(std::uint8_t marker) {
  return marker == kTem || (marker >= kRst0 && marker <= kSoi);
}

// Frame headers: the SOF markers of T.81 Table B.1 (C0-CF except DHT C4, JPG C8, DAC CC),
// DHP, whose segment has the frame header's syntax and gives the size of the completed
// hierarchical image (T.81 B.3.2), and the JPEG-LS SOF55 (T.87 C.2.2). Empty for others.
std::string_view frame_subtype(std::uint8_t marker) {
  switch (marker) {
    case 0xC0: return "baseline";
    case 0xC1: return "extended";
    case 0xC2: return "progressive";
    case 0xC3: return "lossless";
    case 0xC5: return "differential-sequential";
    case 0xC6: return "differential-progressive";
    case 0xC7: return "differential-lossless";
    case 0xC9: return "arithmetic-extended";
    case 0xCA: return "arithmetic-progressive";
    case 0xCB: return "arithmetic-lossless";
    case 0xCD: return "arithmetic-differential-sequential";
    case 0xCE: return "arithmetic-differential-progressive";
    case 0xCF: return "arithmetic-differential-lossless";
    case kDhp: return "hierarchical";
    case kSof55: return "jpeg-ls";
    default: return {};
  }
}

std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
  if (a > std::numeric_limits<std::uint64_t>::max() - b) return std::nullopt;
  return a + b;
}

// The part of `window` that `next` asks for, when the window holds it: all of it, or at the
// end of input the rest of the window when `next` accepts a short window.
std::optional<Window> part_of(const Window& window, const Step& next) {
  const std::uint64_t start = next.want.offset - window.offset;  // next is never before window
  if (start > window.bytes.size()) return std::nullopt;
  auto rest = window.bytes.subspan(static_cast<std::size_t>(start));
  if (rest.size() >= next.want.length) {
    return Window{next.want.offset, rest.first(next.want.length), window.at_eof};
  }
  if (window.at_eof && next.short_ok) return Window{next.want.offset, rest, true};
  return std::nullopt;
}

}  // namespace

Step JpegParser::start(ImageInfo&) {
  // SOI is the two bytes at offset 0 (T.81 B.2.1); the sniffer has seen them. The first
  // window reaches past the sniffer's, so it holds all the bytes that one held however the
  // driver buffers them between windows; step() serves the segments inside it.
  return Step::need(2, kSniffLength, /*short_ok=*/true);
}

Step JpegParser::step(const Window& window, ImageInfo& info) {
  // Windows asked for inside this one (a segment header found in a wide junk-scanning window,
  // say) are served from it at once. Each one starts past the previous one, so this ends.
  Window part = window;
  for (;;) {
    const Step next = consume(part, info);
    if (next.kind != Step::Kind::need || next.want.offset <= part.offset) return next;
    const std::optional<Window> inner = part_of(window, next);
    if (!inner) return next;
    part = *inner;
  }
}

Step JpegParser::consume(const Window& window, ImageInfo& info) {
  switch (expect_) {
    case Expect::marker: return scan_for_marker(window, info);
    case Expect::frame_header: return read_frame_header(window, info);
    case Expect::exif_header: return read_exif_header(window);
    case Expect::ifd_entry_count: return read_ifd_entry_count(window);
    case Expect::ifd_entries: return read_ifd_entries(window, info);
  }
  return Step::malformed("jpeg: internal parser state");
}

Step JpegParser::next_marker_at(std::uint64_t offset) {
  expect_ = Expect::marker;
  // Short at the end of input: a file may end with EOI, two bytes.
  return Step::need(offset, scanning_junk_ ? kScanWindow : kMarkerWindow, /*short_ok=*/true);
}

Step JpegParser::scan_for_marker(const Window& window, ImageInfo& info) {
  const auto bytes = window.bytes;
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  bool skipped = false;  // junk or fill bytes, as opposed to standalone markers
  while (i < size) {
    if (u8(bytes, i) != 0xFF) {
      // Junk between segments: decoders skip it, so does the probe.
      note_leniency(info, kExtraneousBytes);
      auto next_ff = std::find(bytes.begin() + static_cast<std::ptrdiff_t>(i), bytes.end(),
                               std::byte{0xFF});
      i = static_cast<std::size_t>(next_ff - bytes.begin());
      skipped = true;
      continue;
    }
    if (i + 1 >= size) break;  // the byte after this FF is in the next window
    const std::uint8_t marker = u8(bytes, i + 1);
    if (marker == kFill || marker == kStuffed) {
      if (marker == kStuffed) note_leniency(info, kExtraneousBytes);
      i += marker == kFill ? 1 : 2;
      skipped = true;
    } else if (is_standalone(marker)) {
      i += 2;
    } else if (marker == kEoi) {
      return Step::malformed("jpeg: EOI (end of image) marker before any SOF (frame header)");
    } else if (marker == kSos) {
      return Step::malformed("jpeg: SOS (start of scan) marker before any SOF (frame header)");
    } else if (i + kMarkerWindow > size) {
      break;  // the length field is in the next window
    } else {
      scanning_junk_ = false;
      return on_segment(marker, window.offset + i, be16(bytes, i + 2), info);
    }
  }
  // No segment header here: go on from the first byte not yet understood, in wide windows
  // once junk or fill bytes showed up.
  scanning_junk_ = scanning_junk_ || skipped;
  return next_marker_at(window.offset + i);
}

Step JpegParser::on_segment(std::uint8_t marker, std::uint64_t offset, std::uint16_t length,
                            ImageInfo& info) {
  // The length counts itself but not the marker (T.81 B.1.1.4).
  if (length < 2) {
    if (!skipped_by_libjpeg(marker)) {
      return Step::malformed("jpeg: segment length below 2 (T.81 B.1.1.4)");
    }
    note_leniency(info, kShortSegment);
    return next_marker_at(offset + kMarkerWindow);  // the next marker, after junk if need be
  }
  const std::optional<std::uint64_t> end = checked_add(offset, 2 + std::uint64_t{length});
  if (!end) return Step::malformed("jpeg: segment ends past the largest file offset");
  segment_end_ = *end;
  segment_length_ = length;
  if (!frame_subtype(marker).empty()) {
    if (length < 2 + kFrameHeaderFields) {
      return Step::malformed("jpeg: frame header too short for its size fields (T.81 B.2.2)");
    }
    frame_marker_ = marker;
    expect_ = Expect::frame_header;
    return Step::need(offset + 4, kFrameHeaderFields);
  }
  if (marker == kApp1 && !orientation_tag_seen_ && length >= 2 + kExifHeaderLength) {
    expect_ = Expect::exif_header;
    return Step::need(offset + 4, kExifHeaderLength);
  }
  return next_marker_at(segment_end_);
}

Step JpegParser::read_frame_header(const Window& window, ImageInfo& info) {
  const auto bytes = window.bytes;
  const std::uint16_t height = be16(bytes, 1);
  const std::uint16_t width = be16(bytes, 3);
  const std::uint8_t components = u8(bytes, 5);
  // T.81 B.2.2 (and T.87 C.2.2): Lf = 8 + 3 * Nf, Nf >= 1.
  if (components == 0 || segment_length_ != 8 + 3 * std::uint32_t{components}) {
    return Step::malformed("jpeg: frame header length does not match its component count "
                           "(T.81 B.2.2: Lf = 8 + 3 * Nf)");
  }
  if (height == 0) {
    return Step::malformed("jpeg: frame header height is 0: the height is defined by a DNL "
                           "marker after the first scan (T.81 B.2.5), which the probe does not read");
  }
  if (width == 0) return Step::malformed("jpeg: frame header width is 0 (T.81 B.2.2: X >= 1)");
  info.width = width;
  info.height = height;
  info.subtype = frame_subtype(frame_marker_);
  return Step::done();
}

std::uint16_t JpegParser::tiff16(std::span<const std::byte> bytes, std::size_t i) const {
  return big_endian_ ? be16(bytes, i) : le16(bytes, i);
}

std::uint32_t JpegParser::tiff32(std::span<const std::byte> bytes, std::size_t i) const {
  return big_endian_ ? be32(bytes, i) : le32(bytes, i);
}

// EXIF data that is not understood is skipped: it never fails the probe.
Step JpegParser::read_exif_header(const Window& window) {
  const auto bytes = window.bytes;
  if (!has_text(bytes, 0, kExifIdentifier)) return next_marker_at(segment_end_);  // XMP, ...
  const std::size_t tiff = kExifIdentifier.size();
  if (has_text(bytes, tiff, "II")) {
    big_endian_ = false;
  } else if (has_text(bytes, tiff, "MM")) {
    big_endian_ = true;
  } else {
    return next_marker_at(segment_end_);
  }
  if (tiff16(bytes, tiff + 2) != kTiffMagic) return next_marker_at(segment_end_);
  const std::uint32_t ifd0 = tiff32(bytes, tiff + 4);
  tiff_start_ = window.offset + tiff;
  // IFD0 lies after the TIFF header (forward only) and its entry count inside the segment.
  const std::uint64_t room = segment_end_ - tiff_start_;
  if (ifd0 < kTiffHeaderLength || std::uint64_t{ifd0} + 2 > room) {
    return next_marker_at(segment_end_);
  }
  expect_ = Expect::ifd_entry_count;
  return Step::need(tiff_start_ + ifd0, 2);
}

Step JpegParser::read_ifd_entry_count(const Window& window) {
  const std::uint16_t count = tiff16(window.bytes, 0);
  next_entry_offset_ = window.offset + 2;
  // Only the entries inside the segment are read.
  const std::uint64_t fitting = (segment_end_ - next_entry_offset_) / kIfdEntryLength;
  entries_left_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(count, fitting));
  return next_ifd_entries();
}

Step JpegParser::next_ifd_entries() {
  if (entries_left_ == 0) return next_marker_at(segment_end_);
  const std::uint32_t batch = std::min(entries_left_, kEntriesPerWindow);
  expect_ = Expect::ifd_entries;
  return Step::need(next_entry_offset_, batch * kIfdEntryLength);
}

Step JpegParser::read_ifd_entries(const Window& window, ImageInfo& info) {
  const auto bytes = window.bytes;
  const std::uint32_t batch = static_cast<std::uint32_t>(bytes.size() / kIfdEntryLength);
  for (std::uint32_t k = 0; k < batch; ++k) {
    const std::size_t entry = std::size_t{k} * kIfdEntryLength;
    if (tiff16(bytes, entry) != kOrientationTag) continue;
    // Orientation: one SHORT, 1..8 (TIFF 6.0 section 8; Exif 2.3 4.6.4 A). A SHORT value is
    // left-justified in the entry's 4-byte value field (TIFF 6.0 section 2).
    orientation_tag_seen_ = true;
    const std::uint16_t value = tiff16(bytes, entry + 8);
    if (tiff16(bytes, entry + 2) == kTiffShort && tiff32(bytes, entry + 4) == 1 && value >= 1 &&
        value <= 8) {
      info.orientation = static_cast<std::uint8_t>(value);
    }
    return next_marker_at(segment_end_);
  }
  next_entry_offset_ += bytes.size();
  entries_left_ -= batch;
  return next_ifd_entries();
}

}  // namespace facegate::detail
