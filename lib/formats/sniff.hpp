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

/// True when `head`, shorter than the magic bytes of a parsed format, starts them
/// (a file cut inside its signature is truncated, not unrecognized).
bool starts_known_magic(std::span<const std::byte> head) noexcept;

}  // namespace facegate::detail
