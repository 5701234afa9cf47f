// Format sniffing from the first bytes of a file.
#pragma once

#include <cstddef>
#include <span>

#include "facegate/probe.hpp"

namespace facegate::detail {

/// Bytes the sniffer looks at (fewer when the input is shorter).
inline constexpr std::uint32_t kSniffLength = 64;

/// Names the format whose magic bytes start `head` (up to kSniffLength bytes).
Format sniff_format(std::span<const std::byte> head) noexcept;

/// True when `head`, the whole input (shorter than kSniffLength), ends inside a signature, so
/// that more bytes could change or settle what `sniffed` (sniff_format's answer) says: a file
/// cut there is truncated, not of another or no format.
bool cut_inside_signature(std::span<const std::byte> head, Format sniffed) noexcept;

}  // namespace facegate::detail
