// Fuzzes the BMP parser through the public Probe: inputs that lack BMP's magic bytes get them
// in front (force_format), and every probe invariant is checked (check_probe).
#include <cstddef>
#include <cstdint>
#include <span>

#include "probe_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input =
      facegate::fuzz::force_format(facegate::Format::bmp, std::as_bytes(std::span(data, size)));
  facegate::fuzz::check_probe(input, facegate::Format::bmp);
  return 0;
}
