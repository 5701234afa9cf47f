// Simulates the header fetch's range requests over local files with the real Probe and the
// fetcher's own planning rule (lib/net/range_plan.hpp), for several range policies, and
// prints requests and bytes per policy. This is how kDefaultRangePolicy was chosen.
//
// usage: range_sim FILE_OR_DIRECTORY...   (directories: every .jpg .jpeg .png .webp .bmp below)
// See bench/remote/README.md for the build command and the measured figures.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "facegate/probe.hpp"
#include "net/range_plan.hpp"

namespace {

using facegate::detail::PlannedRange;
using facegate::detail::RangePolicy;

// What a server answering Range requests costs for one file under one policy.
struct Cost {
  std::uint32_t requests = 0;
  std::uint64_t bytes = 0;
  bool ok = false;
};

std::vector<std::byte> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::transform(chars.begin(), chars.end(), bytes.begin(),
                 [](char c) { return static_cast<std::byte>(c); });
  return bytes;
}

// The 206 path of the fetcher: ask the planned range, feed it, repeat; the file size is known
// from the first response's Content-Range, so a want past the end finishes the probe.
Cost simulate(std::span<const std::byte> file, const RangePolicy& policy) {
  facegate::Probe probe;
  Cost cost;
  const std::uint64_t budget_total = 1u << 20;
  std::optional<std::uint64_t> size;
  while (probe.status() == facegate::Status::need_more) {
    auto range = facegate::detail::plan_range(probe.want(), cost.requests, policy,
                                              budget_total - cost.bytes, size);
    if (!range) {
      probe.finish();
      break;
    }
    ++cost.requests;
    size = file.size();
    const std::uint64_t end = std::min<std::uint64_t>(range->offset + range->length, file.size());
    if (range->offset >= end) {
      probe.finish();
      break;
    }
    cost.bytes += end - range->offset;
    probe.feed(range->offset, file.subspan(range->offset, end - range->offset));
    if (end == file.size()) probe.finish();
  }
  cost.ok = probe.status() == facegate::Status::done;
  return cost;
}

template <typename T>
T percentile(std::vector<T> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[index];
}

void collect(const std::filesystem::path& path, std::vector<std::filesystem::path>& files) {
  if (std::filesystem::is_directory(path)) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
      const auto ext = entry.path().extension().string();
      if (entry.is_regular_file() &&
          (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".webp" || ext == ".bmp")) {
        files.push_back(entry.path());
      }
    }
  } else {
    files.push_back(path);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) collect(argv[i], paths);
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<std::byte>> files;
  std::size_t probe_ok = 0;
  for (const auto& path : paths) {
    files.push_back(read_all(path));
    probe_ok += facegate::probe_memory(files.back()).ok();
  }
  std::printf("%zu files, %zu probe to done in memory\n", files.size(), probe_ok);

  // Time model per fetch: round trips plus transfer, with ~500 header bytes per request.
  struct Link {
    const char* name;
    double rtt_seconds;
    double bytes_per_second;
  };
  const Link links[] = {{"50ms/20Mbit", 0.050, 2.5e6}, {"150ms/2Mbit", 0.150, 2.5e5}};
  constexpr double kHeaderBytesPerRequest = 500;

  std::printf("%7s %7s %5s | %6s %5s %5s %5s | %8s %8s %8s | %12s %12s\n", "first", "further",
              "grow", "1-req", "mean", "p90", "max", "mean B", "p50 B", "p90 B", links[0].name,
              links[1].name);
  // Candidate first and further lengths; 12 and 14 KiB bracket the TCP initial window.
  const std::uint32_t lengths[] = {1024, 4096, 8192, 12288, 14336, 16384, 32768, 65536};
  const std::uint32_t further_lengths[] = {1024, 4096, 16384};
  const std::uint8_t growths[] = {0, 1, 2};
  for (std::uint32_t first : lengths) {
    for (std::uint32_t further : further_lengths) {
      for (std::uint8_t growth : growths) {
        const RangePolicy policy{first, further, growth};
        std::vector<std::uint32_t> requests;
        std::vector<std::uint64_t> bytes;
        std::size_t one_request = 0;
        double seconds[2] = {0, 0};
        for (const auto& file : files) {
          const Cost cost = simulate(file, policy);
          requests.push_back(cost.requests);
          bytes.push_back(cost.bytes);
          one_request += cost.requests == 1;
          for (int l = 0; l < 2; ++l) {
            seconds[l] += cost.requests * links[l].rtt_seconds +
                          (static_cast<double>(cost.bytes) +
                           cost.requests * kHeaderBytesPerRequest) /
                              links[l].bytes_per_second;
          }
        }
        double mean_requests = 0;
        double mean_bytes = 0;
        for (std::size_t i = 0; i < files.size(); ++i) {
          mean_requests += requests[i];
          mean_bytes += static_cast<double>(bytes[i]);
        }
        const double n = static_cast<double>(files.size());
        std::printf("%7u %7u %5u | %5.1f%% %5.2f %5u %5u | %8.0f %8llu %8llu | %10.1fms %10.1fms\n",
                    first, further, growth, 100.0 * static_cast<double>(one_request) / n,
                    mean_requests / n, percentile(requests, 0.9),
                    *std::max_element(requests.begin(), requests.end()), mean_bytes / n,
                    static_cast<unsigned long long>(percentile(bytes, 0.5)),
                    static_cast<unsigned long long>(percentile(bytes, 0.9)),
                    1000 * seconds[0] / n, 1000 * seconds[1] / n);
      }
    }
  }
  return 0;
}
