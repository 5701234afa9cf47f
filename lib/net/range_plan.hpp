// Which byte range a header fetch asks for next. Pure arithmetic, shared by the fetcher and
// by bench/remote/range_sim.cc, which measured the defaults (see kDefaultRangePolicy).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "facegate/probe.hpp"

namespace facegate::detail {

/// How large the ranges of one URL's requests are.
struct RangePolicy {
  /// Bytes asked by the first request (`Range: bytes=0-(first_length-1)`).
  std::uint32_t first_length;
  /// Length of the second request; each later one is `2^growth_shift` times the one before,
  /// so a header spread over many skips does not cost one round trip per skip.
  std::uint32_t further_length;
  /// 0: further requests all have further_length; 1: they double; 2: they quadruple ...
  std::uint8_t growth_shift;
};

// Measured with bench/remote/range_sim.cc over the 84 JPEG/PNG files of libjxl-testdata and
// 108 conversions of 12 of them (WebP lossy and lossless, BMP v3 and v5, baseline and
// progressive JPEG keeping ICC profiles, and phone-style JPEGs with an EXIF block holding a
// 7-47 KB thumbnail), and end to end with bench/remote/run_remote.py; figures and commands in
// bench/remote/README.md. A header there is "a few bytes, one large block to skip (ICC profile,
// EXIF thumbnail, iCCP chunk), a few bytes": the parser's next want after the skip is a small
// window far away, so a large first range mostly buys bytes the probe never looks at.
//  - first_length 1 KiB: the few bytes before the first skip fit (SOI, APP0, the APP1/APP2
//    headers; PNG signature, IHDR, the iCCP header; RIFF, the VP8 headers), and a 200 with the
//    whole body is cut after about as much. End to end over 960 URLs: 1.49 requests per URL,
//    1.9 MB read by the client against 68 MB for probe-image-size (36x fewer); 12 KiB
//    (one request for 83% of the files, 1.17 per URL) read 12.6 MB (5.4x), 2 KiB 3.2 MB (21x).
//    The price is round trips: modelled time per fetch is ~18% above 12 KiB's on a
//    50 ms/20 Mbit/s link and ~2% above on a 150 ms/2 Mbit/s one; URLs per second on loopback
//    stayed 8-9x probe-image-size's. facegate reads headers: bytes are what it saves.
//  - further_length 1 KiB, doubling: a further request starts exactly at the window after a
//    skip; doubling bounds a header made of many blocks (JPEG with many APPn segments) to a few
//    requests (at most 3 in the corpus).
inline constexpr RangePolicy kDefaultRangePolicy{1024, 1024, 1};

/// A request's byte range: [offset, offset + length).
struct PlannedRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// The range of request number `request_index` (0 = first) when the probe wants `want`,
/// limited to `budget` bytes (what is left of the byte cap) and to the file's end when known.
/// Returns nullopt when nothing can be asked: no budget left or `want` starts at or past the
/// end of the file. offset + length never overflows.
inline std::optional<PlannedRange> plan_range(const Want& want, std::uint32_t request_index,
                                              const RangePolicy& policy, std::uint64_t budget,
                                              std::optional<std::uint64_t> file_size) {
  std::uint64_t length = policy.first_length;
  if (request_index > 0) {
    const std::uint32_t steps = std::min<std::uint32_t>(request_index - 1, 24);
    const std::uint32_t shift = std::min<std::uint32_t>(steps * policy.growth_shift, 24);
    length = std::uint64_t{policy.further_length} << shift;
  }
  length = std::max<std::uint64_t>(length, want.length);
  length = std::min({length, budget, UINT64_MAX - want.offset});
  if (file_size) {
    if (want.offset >= *file_size) return std::nullopt;
    length = std::min(length, *file_size - want.offset);
  }
  if (length == 0) return std::nullopt;
  return PlannedRange{want.offset, length};
}

}  // namespace facegate::detail
