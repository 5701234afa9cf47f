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
// 7-47 KB thumbnail); figures and command in bench/remote/README.md. A header there is "a few
// bytes, one large block to skip (ICC profile, EXIF thumbnail, iCCP chunk), a few bytes": it
// ends past 8 KB in 34% of the files, past 12 KB in 17%, past 16 KB in 15%, never past 64 KB.
//  - first_length 12 KiB: one request completes 83% of the corpus (4 KiB: 62%, 16 KiB: 85%,
//    32 KiB: 95%), and 12 KiB plus the response headers still fits the first flight of a new
//    TCP connection (RFC 6928 initial window: 10 segments, 14,600 bytes); past it the server
//    waits a round trip anyway. Modelled time per fetch (round trips + bytes) is within 3% of
//    the best policy on both a 50 ms/20 Mbit/s and a 150 ms/2 Mbit/s link, where first ranges
//    of 1-8 KiB lose 16-21% on the first link and 32 KiB loses 14% on the second.
//  - further_length 16 KiB, doubling: a further request follows a skip; 16 KiB covers the
//    next skip too (an ICC profile after the EXIF block), so no file of the corpus needs a
//    third request (1 or 4 KiB: up to 3), and the doubling bounds a header made of many
//    large blocks to a few requests.
inline constexpr RangePolicy kDefaultRangePolicy{12288, 16384, 1};

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
