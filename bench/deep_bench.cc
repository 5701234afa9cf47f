// deep_bench: what the deep check (--deep) costs per image, beside the header-only check, in
// one run.
//
// Usage: deep_bench [--runs N] DIRECTORY
//
// Walks DIRECTORY (facegate::DirectoryWalker) and keeps the files the probe reads as JPEG,
// PNG, BMP or WebP; reads each once (page cache warm); then runs, alternately and N times
// (default 5), the two passes:
//   header  probe_file on every image: the check without --deep
//   deep    probe_file, then deep_decode_file on every image: the check with --deep
// It prints Markdown tables: for each pass the wall-clock and CPU microseconds per image
// (medians of the N runs) and the peak resident set size the pass reached above the process's size
// before it (the highest over the runs; VmHWM after resetting it through /proc/self/clear_refs);
// for the deep pass, by format, the images, the decode microseconds per image and per megapixel
// (DeepResult::microseconds: the decoders alone, the mean over the runs) and the largest
// image; and the outcomes of one pass. A
// benchmark, not a test: nothing is asserted.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/deep.hpp"
#include "facegate/probe.hpp"
#include "facegate/walk.hpp"

namespace {

using facegate::DeepOutcome;
using facegate::DeepResult;
using facegate::Format;

struct Image {
  std::string path;
  Format format = Format::unknown;
  std::uint64_t pixels = 0;
};

/// The images under `directory`, by the probe.
std::vector<Image> images_under(const std::string& directory) {
  std::vector<Image> images;
  facegate::DirectoryWalker walker(directory);
  while (const std::optional<facegate::WalkEntry> entry = walker.next()) {
    if (!entry->ok()) continue;
    const facegate::ProbeResult result = facegate::probe_file(entry->path);
    if (!result.ok() || !facegate::format_is_parsed(result.info.format)) continue;
    images.push_back(Image{entry->path, result.info.format,
                           std::uint64_t{result.info.width} * result.info.height});
  }
  return images;
}

/// A field of /proc/self/status in bytes (the file gives kB).
std::uint64_t status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field))) * 1024;
  }
  return 0;
}

/// Runs `pass` and returns the peak resident size it reached above the size before it.
template <typename Pass>
std::uint64_t peak_rss_of(Pass&& pass) {
  const std::uint64_t before = status_bytes("VmRSS:");
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS (proc(5))
  pass();
  return status_bytes("VmHWM:") - before;
}

/// Wall-clock and CPU seconds (every thread of the process) of a pass.
struct PassTime {
  double wall = 0;
  double cpu = 0;
};

double cpu_seconds(clockid_t clock = CLOCK_PROCESS_CPUTIME_ID) {
  timespec now{};
  ::clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

template <typename Pass>
PassTime time_of(Pass&& pass) {
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  pass();
  return PassTime{
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(),
      cpu_seconds() - cpu_start};
}

double median(std::vector<PassTime> times, double PassTime::*field) {
  std::sort(times.begin(), times.end(),
            [&](const PassTime& a, const PassTime& b) { return a.*field < b.*field; });
  return times[times.size() / 2].*field;
}

/// What the deep pass found, by format.
struct FormatTally {
  int images = 0;                         // decoded in all runs together
  std::uint64_t decode_microseconds = 0;  // DeepResult::microseconds: wall clock
  double decode_cpu_seconds = 0;          // this thread's CPU time in deep_decode_file
  std::uint64_t pixels = 0;
  std::uint64_t largest = 0;  // pixels of the largest image
};

struct DeepTally {
  std::map<Format, FormatTally> by_format;
  std::map<DeepOutcome, int> outcomes;
};

int header_pass(const std::vector<Image>& images) {
  int passed = 0;
  for (const Image& image : images) passed += facegate::probe_file(image.path).ok() ? 1 : 0;
  return passed;
}

// Adds what it finds to `tally`.
void deep_pass(const std::vector<Image>& images, DeepTally& tally) {
  for (const Image& image : images) {
    const facegate::ProbeResult header = facegate::probe_file(image.path);
    const double cpu_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    const DeepResult deep = facegate::deep_decode_file(image.path, header.info);
    FormatTally& format = tally.by_format[image.format];
    format.decode_cpu_seconds += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    ++format.images;
    format.decode_microseconds += deep.microseconds;
    format.pixels += deep.pixels;
    format.largest = std::max(format.largest, image.pixels);
    ++tally.outcomes[deep.outcome];
  }
}

double megabytes(std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

void print_report(const std::vector<Image>& images, int runs, const std::vector<PassTime>& header,
                  const std::vector<PassTime>& deep, std::uint64_t header_peak,
                  std::uint64_t deep_peak, const DeepTally& tally) {
  const double count = static_cast<double>(images.size());
  std::printf("%zu images, %d runs of each pass, alternating\n\n", images.size(), runs);
  std::printf(
      "| check | µs/image wall (median) | µs/image CPU (median) | peak RSS above start |\n");
  std::printf("|---|--:|--:|--:|\n");
  const auto row = [&](const char* name, const std::vector<PassTime>& times, std::uint64_t peak) {
    std::printf("| %s | %.1f | %.1f | %.1f MB |\n", name,
                median(times, &PassTime::wall) * 1e6 / count,
                median(times, &PassTime::cpu) * 1e6 / count, megabytes(peak));
  };
  row("header only (`probe_file`)", header, header_peak);
  row("`--deep` (`probe_file` + `deep_decode_file`)", deep, deep_peak);
  std::printf("\n");
  std::printf(
      "| format | images | decode µs/image wall | decode µs/image CPU | "
      "CPU µs/megapixel | largest image |\n");
  std::printf("|---|--:|--:|--:|--:|--:|\n");
  for (const auto& [format, formats] : tally.by_format) {
    const double cpu_microseconds = formats.decode_cpu_seconds * 1e6;
    const double megapixels = static_cast<double>(formats.pixels) / 1e6;
    std::printf("| %s | %d | %.0f | %.0f | %.0f | %.1f MP |\n",
                std::string(facegate::format_name(format)).c_str(), formats.images / runs,
                static_cast<double>(formats.decode_microseconds) / formats.images,
                cpu_microseconds / formats.images,
                megapixels > 0 ? cpu_microseconds / megapixels : 0.0,
                static_cast<double>(formats.largest) / 1e6);
  }
  std::printf("\noutcomes:");
  for (const auto& [outcome, number] : tally.outcomes) {
    std::printf(" %s %d", std::string(facegate::deep_outcome_name(outcome)).c_str(), number);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  int argument = 1;
  if (argc == 4 && std::string_view(argv[1]) == "--runs") {
    runs = std::max(1, std::atoi(argv[2]));
    argument = 3;
  }
  if (argc != argument + 1) {
    std::fprintf(stderr, "usage: deep_bench [--runs N] DIRECTORY\n");
    return 2;
  }
  const std::vector<Image> images = images_under(argv[argument]);
  if (images.empty()) {
    std::fprintf(stderr, "deep_bench: no JPEG, PNG, BMP or WebP image under %s\n", argv[argument]);
    return 1;
  }
  DeepTally tally;
  deep_pass(images, tally);  // warm: page cache, allocator, code; its outcomes are the ones shown
  const std::map<DeepOutcome, int> outcomes = tally.outcomes;
  tally = {};

  std::vector<PassTime> header_seconds;
  std::vector<PassTime> deep_seconds;
  std::uint64_t header_peak = 0;
  std::uint64_t deep_peak = 0;
  for (int run = 0; run < runs; ++run) {
    header_peak = std::max(header_peak, peak_rss_of([&] {
                             header_seconds.push_back(time_of([&] { header_pass(images); }));
                           }));
    deep_peak = std::max(deep_peak, peak_rss_of([&] {
                           deep_seconds.push_back(time_of([&] { deep_pass(images, tally); }));
                         }));
  }
  tally.outcomes = outcomes;
  print_report(images, runs, header_seconds, deep_seconds, header_peak, deep_peak, tally);
  return 0;
}
