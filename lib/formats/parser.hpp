// The internal contract between the Probe driver (lib/probe.cc) and the format parsers.
//
// A parser is a small state machine. It asks for one window (offset, length) at a time; the
// driver gathers exactly those bytes, however the caller chunks them, and calls step() with
// them. Windows only move forward: a parser never asks for a byte before the end of the
// previous window's start. A parser never sees a short window unless it asked for one with
// `short_ok` and the input has ended (Window::at_eof).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "facegate/probe.hpp"

namespace facegate::detail {

/// Largest window a parser may ask for; the driver's buffer never grows past it.
inline constexpr std::uint32_t kMaxWindow = 4096;

/// The bytes a parser asked for.
struct Window {
  std::uint64_t offset = 0;            // absolute offset of bytes[0]
  std::span<const std::byte> bytes;    // the requested length, or less only when at_eof
  bool at_eof = false;                 // input ended; bytes may be shorter than asked
};

/// What a parser answers to start() and step().
struct Step {
  enum class Kind : std::uint8_t { need, done, fail };
  Kind kind = Kind::need;
  Want want;                  // Kind::need: next window
  bool short_ok = false;      // Kind::need: at end of input, accept fewer bytes than asked
  ErrorCode error = ErrorCode::none;  // Kind::fail
  std::string_view message;           // Kind::fail: valid until the parser is called again

  static constexpr Step need(std::uint64_t offset, std::uint32_t length, bool short_ok = false) {
    return Step{Kind::need, Want{offset, length}, short_ok, ErrorCode::none, {}};
  }
  static constexpr Step done() { return Step{Kind::done, {}, false, ErrorCode::none, {}}; }
  static constexpr Step fail(ErrorCode code, std::string_view message) {
    return Step{Kind::fail, {}, false, code, message};
  }
  static constexpr Step malformed(std::string_view message) {
    return fail(ErrorCode::malformed, message);
  }
  static constexpr Step truncated(std::string_view message) {
    return fail(ErrorCode::truncated, message);
  }
};

/// Records a departure from the specification that decoders read past (ImageInfo::leniency):
/// static text; the first one recorded stays.
inline void note_leniency(ImageInfo& info, std::string_view departure) {
  if (info.leniency.empty()) info.leniency = departure;
}

// Byte readers over a window: callers check the window length first.
inline std::uint8_t u8(std::span<const std::byte> b, std::size_t i) {
  return static_cast<std::uint8_t>(b[i]);
}
inline std::uint16_t be16(std::span<const std::byte> b, std::size_t i) {
  return static_cast<std::uint16_t>(u8(b, i) << 8 | u8(b, i + 1));
}
inline std::uint16_t le16(std::span<const std::byte> b, std::size_t i) {
  return static_cast<std::uint16_t>(u8(b, i + 1) << 8 | u8(b, i));
}
inline std::uint32_t be24(std::span<const std::byte> b, std::size_t i) {
  return std::uint32_t{u8(b, i)} << 16 | std::uint32_t{u8(b, i + 1)} << 8 | u8(b, i + 2);
}
inline std::uint32_t le24(std::span<const std::byte> b, std::size_t i) {
  return std::uint32_t{u8(b, i + 2)} << 16 | std::uint32_t{u8(b, i + 1)} << 8 | u8(b, i);
}
inline std::uint32_t be32(std::span<const std::byte> b, std::size_t i) {
  return std::uint32_t{be16(b, i)} << 16 | be16(b, i + 2);
}
inline std::uint32_t le32(std::span<const std::byte> b, std::size_t i) {
  return std::uint32_t{le16(b, i + 2)} << 16 | le16(b, i);
}
/// True when the window starts with the given ASCII text at offset i.
inline bool has_text(std::span<const std::byte> b, std::size_t i, std::string_view text) {
  if (b.size() < i || b.size() - i < text.size()) return false;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (u8(b, i + k) != static_cast<unsigned char>(text[k])) return false;
  }
  return true;
}

}  // namespace facegate::detail
