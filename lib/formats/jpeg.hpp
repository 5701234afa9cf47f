// Jpeg header parser (see parser.hpp for the window contract).
//
// Walks the marker segments of ITU T.81 Annex B from SOI to the first frame header, skipping
// each segment by its length (and the departures from T.81 that libjpeg skips, noted in
// ImageInfo::leniency), and reads the EXIF orientation (tag 0x0112 of IFD0) from APP1
// "Exif\0\0" segments on the way, reading forward only and never past the segment.
#pragma once

#include <cstdint>

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
  // What the window asked for last holds.
  enum class Expect : std::uint8_t {
    marker,           // a marker (after fill or junk bytes) and its segment length
    frame_header,     // P, Y, X, Nf of a frame header
    exif_header,      // "Exif\0\0" and the TIFF header of an APP1 segment
    ifd_entry_count,  // the entry count of IFD0
    ifd_entries,      // a batch of 12-byte IFD0 entries
  };

  Step consume(const Window& window, ImageInfo& info);
  Step scan_for_marker(const Window& window, ImageInfo& info);
  Step on_segment(std::uint8_t marker, std::uint64_t offset, std::uint16_t length,
                  ImageInfo& info);
  Step read_frame_header(const Window& window, ImageInfo& info);
  Step read_exif_header(const Window& window);
  Step read_ifd_entry_count(const Window& window);
  Step read_ifd_entries(const Window& window, ImageInfo& info);
  Step next_ifd_entries();
  Step next_marker_at(std::uint64_t offset);
  std::uint16_t tiff16(std::span<const std::byte> bytes, std::size_t i) const;
  std::uint32_t tiff32(std::span<const std::byte> bytes, std::size_t i) const;

  Expect expect_ = Expect::marker;
  bool scanning_junk_ = false;       // junk or fill bytes since the last segment: wide windows
  std::uint8_t frame_marker_ = 0;    // the SOF (or DHP) marker whose header is read
  std::uint16_t segment_length_ = 0; // length field of the current segment
  std::uint64_t segment_end_ = 0;    // offset just past the current segment

  // EXIF (TIFF 6.0 section 2): byte order, where the TIFF header starts, the IFD0 entries left.
  bool big_endian_ = false;
  std::uint64_t tiff_start_ = 0;
  std::uint64_t next_entry_offset_ = 0;
  std::uint32_t entries_left_ = 0;
  bool orientation_tag_seen_ = false;  // an IFD0 orientation entry decided; later APP1s unread
};

}  // namespace facegate::detail
