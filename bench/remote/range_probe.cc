// The fetcher of `facegate probe` with another range policy: probes a list of URLs exactly as
// probe_urls() does (same loop, same HeaderFetch), but with the RangePolicy given on the command
// line instead of kDefaultRangePolicy, so that run_remote.py can measure what a policy costs end
// to end (bytes, requests, URLs per second) next to the default.
//
// usage: range_probe FIRST FURTHER GROWTH_SHIFT JOBS PER_HOST LISTFILE
//   prints one JSON object per URL, in list order:
//   {"source": URL, "width": N|null, "height": N|null, "bytes_transferred": N, "requests": N,
//    "error": null|{"code": NAME}}
// Loopback and private addresses are allowed (the benchmark's server is on 127.0.0.1).
#include <charconv>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/fetch.hpp"
#include "net/header_fetch.hpp"

namespace {

std::optional<std::uint32_t> parse_count(std::string_view text) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string> read_urls(const char* path) {
  std::ifstream in(path);
  std::vector<std::string> urls;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) urls.push_back(line);
  }
  return urls;
}

// URLs of the benchmark are percent-encoded: no quote, backslash or control character to escape.
void print_record(const std::string& url, const facegate::ProbeResult& result) {
  auto number_or_null = [](std::uint64_t value) {
    return value ? std::to_string(value) : std::string("null");
  };
  std::string error = "null";
  if (result.error) {
    error = "{\"code\": \"" + std::string(facegate::error_code_name(result.error.code)) + "\"}";
  }
  std::printf(
      "{\"source\": \"%s\", \"width\": %s, \"height\": %s, \"bytes_transferred\": %llu, "
      "\"requests\": %u, \"error\": %s}\n",
      url.c_str(), number_or_null(result.info.width).c_str(),
      number_or_null(result.info.height).c_str(),
      static_cast<unsigned long long>(result.network->bytes_transferred), result.network->requests,
      error.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: range_probe FIRST FURTHER GROWTH_SHIFT JOBS PER_HOST LISTFILE\n");
    return 2;
  }
  const auto first = parse_count(argv[1]);
  const auto further = parse_count(argv[2]);
  const auto growth = parse_count(argv[3]);
  const auto jobs = parse_count(argv[4]);
  const auto per_host = parse_count(argv[5]);
  if (!first || !further || !growth || !jobs || !per_host || *first == 0 || *further == 0 ||
      *growth > 8) {
    std::fprintf(stderr, "range_probe: bad number\n");
    return 2;
  }
  const facegate::detail::RangePolicy policy{*first, *further, static_cast<std::uint8_t>(*growth)};
  facegate::FetchOptions options;
  options.allow_private_network = true;
  facegate::NetworkLoop loop(facegate::NetworkLoopOptions{*jobs, *per_host});

  const std::vector<std::string> urls = read_urls(argv[6]);
  std::vector<facegate::ProbeResult> results(urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    facegate::detail::start_header_fetch(
        loop.transfers(), urls[i], options, policy,
        [&results, i](facegate::ProbeResult done) { results[i] = std::move(done); });
  }
  loop.run();
  for (std::size_t i = 0; i < urls.size(); ++i) print_record(urls[i], results[i]);
  return 0;
}
