// The invariants that every probe fuzzer checks (docs/design.md#the-probe-contract). A violation
// prints what was expected and what happened, then aborts, so that the fuzzer keeps the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "facegate/probe.hpp"

namespace facegate::fuzz {

/// Returns `input` with the magic bytes of `format` (jpeg, png, bmp or webp) in front, unless it
/// already starts with them, so that the sniffer hands every input to that format's parser.
/// Corpus files are real images and go through unchanged; a mutation that breaks the magic
/// still reaches the parser.
std::vector<std::byte> force_format(Format format, std::span<const std::byte> input);

/// Probes `input` whole, in chunks, through a seeking driver and as prefixes, checks that the
/// answers agree with each other, with the contract and with the oracles (stb_image, libwebp),
/// and aborts on any violation. With `expected`, the sniffer must also name that format.
void check_probe(std::span<const std::byte> input, std::optional<Format> expected = std::nullopt);

}  // namespace facegate::fuzz
