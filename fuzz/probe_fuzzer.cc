// Fuzzes the whole probe: the sniffer and its dispatch to every parser, with any input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "probe_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  facegate::fuzz::check_probe(std::as_bytes(std::span(data, size)));
  return 0;
}
