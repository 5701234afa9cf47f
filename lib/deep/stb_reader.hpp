// Bytes in memory read through stb_image's callback interface (stbi_io_callbacks), which
// shows what a decode over memory hides: when stb_image needs bytes past the end it calls
// read() once more, gets 0 and goes on with zeros (stbi__refill_buffer). The deep check
// (stb_decode.cc) and the fuzzers' stb_image oracle (fuzz/oracles.cc) read through it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>

namespace facegate::detail {

/// The state behind the callbacks: pass its address as stb_image's user pointer.
struct StbCallbackReader {
  std::span<const std::byte> bytes;  ///< all of the input
  std::size_t position = 0;          ///< the next byte stb_image gets
  bool read_past_end = false;        ///< read() was called with nothing left
  bool skipped_past_end = false;     ///< skip() was asked to go beyond the end
};

/// stbi_io_callbacks::read: copies up to `size` bytes; 0 at the end.
inline int stb_read_callback(void* user, char* data, int size) {
  auto& reader = *static_cast<StbCallbackReader*>(user);
  const std::size_t count =
      std::min(static_cast<std::size_t>(size), reader.bytes.size() - reader.position);
  if (count == 0) {
    reader.read_past_end = true;
    return 0;
  }
  std::memcpy(data, reader.bytes.data() + reader.position, count);
  reader.position += count;
  return static_cast<int>(count);
}

/// stbi_io_callbacks::skip: stb_image skips forward only (stbi__skip); stops at the end.
inline void stb_skip_callback(void* user, int count) {
  auto& reader = *static_cast<StbCallbackReader*>(user);
  const std::size_t left = reader.bytes.size() - reader.position;
  if (static_cast<std::size_t>(count) > left) reader.skipped_past_end = true;
  reader.position += std::min(static_cast<std::size_t>(count), left);
}

/// stbi_io_callbacks::eof: 1 at the end.
inline int stb_eof_callback(void* user) {
  const auto& reader = *static_cast<const StbCallbackReader*>(user);
  return reader.position == reader.bytes.size() ? 1 : 0;
}

}  // namespace facegate::detail
