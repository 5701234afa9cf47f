// What every fuzz target shares: exact-size heap copies and the report of a broken invariant.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace facegate::fuzz {

/// A copy of some bytes in a heap block of exactly their size, so that AddressSanitizer reports
/// any read past their end (the caller's buffer may go on beyond a chunk or a prefix).
class HeapBytes {
 public:
  /// Copies `bytes`.
  explicit HeapBytes(std::span<const std::byte> bytes);
  /// The copy.
  std::span<const std::byte> span() const { return {data_.get(), size_}; }
  /// The copy as text.
  std::string_view text() const { return {reinterpret_cast<const char*>(data_.get()), size_}; }

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t size_;
};

/// Prints the broken invariant, the details and the input's first bytes, then aborts, so that
/// the fuzzer keeps the input as a crash.
[[noreturn]] void violation(std::string_view invariant, std::span<const std::byte> input,
                            const std::string& details);

}  // namespace facegate::fuzz
