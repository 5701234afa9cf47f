#include "support.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace facegate::fuzz {

HeapBytes::HeapBytes(std::span<const std::byte> bytes)
    : data_(std::make_unique<std::byte[]>(bytes.size())), size_(bytes.size()) {
  if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
}

void violation(std::string_view invariant, std::span<const std::byte> input,
               const std::string& details) {
  std::fprintf(stderr, "\nfacegate fuzz: invariant violated: %.*s\n%s\ninput: %zu bytes:",
               static_cast<int>(invariant.size()), invariant.data(), details.c_str(),
               input.size());
  for (std::size_t i = 0; i < std::min<std::size_t>(input.size(), 64); ++i) {
    std::fprintf(stderr, " %02x", static_cast<unsigned>(input[i]));
  }
  std::fprintf(stderr, input.size() > 64 ? " ...\n" : "\n");
  std::abort();
}

}  // namespace facegate::fuzz
