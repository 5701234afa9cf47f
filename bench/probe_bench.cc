// probe_bench: times facegate::probe_files or probe_file, or the read-only baseline, over a list
// of files.
//
// Usage: probe_bench [--min-read N] MODE LISTFILE [DIMENSIONS_OUT]
//
//   facegate-batch  facegate::probe_files on the whole list (io_uring, many files in flight)
//   facegate        facegate::probe_file on every file, one after another
//   baseline        what any header reader must at least do: open, read the first 4 KiB, close
//   baseline-fstat  the same plus the fstat that gives the file size probe_file reports
//
// --min-read N sets FileProbeOptions::min_read. LISTFILE holds one path a line. Prints one JSON
// object: the mode, the number of files, the seconds the timed part took (wall clock, and the
// process's CPU time from std::clock: every thread's, the kernel's io_uring workers included; split
// into user and kernel time by getrusage, and its minor page faults), the bytes it read (rchar of
// /proc/self/io, the kernel's count of bytes returned by read system calls: an io_uring READ is not
// one, so it stays near 0 for facegate-batch), the sum of ProbeResult::bytes_read (facegate modes)
// or of the bytes read (baseline), and the number of errors. The paths are read and made
// std::filesystem::path before the timing starts. DIMENSIONS_OUT, for the facegate modes, receives
// "path<TAB>width<TAB>height" for each file whose dimensions were read, written after the timed
// part. bench/run_local.py drives it; it is a benchmark, not a test.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/probe.hpp"

namespace {

constexpr std::size_t kBaselineReadSize = 4096;

/// The kernel's count of bytes this process got from read system calls (proc(5), /proc/pid/io).
std::uint64_t bytes_read_by_process() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return 0;
}

/// CPU seconds of every thread of this process so far, in user space and in the kernel, and
/// its minor page faults.
struct CpuTimes {
  double user = 0;
  double system = 0;
  long minor_faults = 0;  // page faults served without I/O: first touches of new memory
};

CpuTimes cpu_times() {
  rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return CpuTimes{seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_minflt};
}

std::vector<std::filesystem::path> read_list(const char* list_path) {
  std::ifstream in(list_path);
  std::vector<std::filesystem::path> paths;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) paths.push_back(line);
  }
  return paths;
}

struct Tally {
  std::uint64_t reported_bytes = 0;  // sum of ProbeResult::bytes_read, or of read()'s results
  std::uint64_t errors = 0;
};

Tally run_baseline(const std::vector<std::filesystem::path>& paths, bool with_fstat) {
  Tally tally;
  std::array<char, kBaselineReadSize> buffer;
  for (const std::filesystem::path& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      ++tally.errors;
      continue;
    }
    struct stat st {};
    if (with_fstat && ::fstat(fd, &st) != 0) ++tally.errors;
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      ++tally.errors;
    } else {
      tally.reported_bytes += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
  }
  return tally;
}

struct Dimensions {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

void count(const facegate::ProbeResult& result, Tally& tally, Dimensions& dimensions) {
  tally.reported_bytes += result.bytes_read;
  if (!result.ok()) {
    ++tally.errors;
  } else {
    dimensions = Dimensions{result.info.width, result.info.height};
  }
}

Tally run_facegate(const std::vector<std::filesystem::path>& paths,
                   const facegate::FileProbeOptions& options, std::vector<Dimensions>& dimensions) {
  Tally tally;
  dimensions.resize(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    count(facegate::probe_file(paths[i], options), tally, dimensions[i]);
  }
  return tally;
}

Tally run_facegate_batch(const std::vector<std::filesystem::path>& paths,
                         const facegate::FileProbeOptions& options,
                         std::vector<Dimensions>& dimensions) {
  Tally tally;
  dimensions.resize(paths.size());
  const std::vector<facegate::ProbeResult> results = facegate::probe_files(paths, options);
  for (std::size_t i = 0; i < paths.size(); ++i) count(results[i], tally, dimensions[i]);
  return tally;
}

void write_dimensions(const char* out_path, const std::vector<std::filesystem::path>& paths,
                      const std::vector<Dimensions>& dimensions) {
  std::ofstream out(out_path);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (dimensions[i].width != 0) {
      out << paths[i].native() << '\t' << dimensions[i].width << '\t' << dimensions[i].height
          << '\n';
    }
  }
}

constexpr const char* kUsage =
    "usage: probe_bench [--min-read N] facegate-batch|facegate|baseline|baseline-fstat LISTFILE "
    "[DIMENSIONS_OUT]\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  facegate::FileProbeOptions options;
  if (args.size() >= 2 && args[0] == "--min-read") {
    const std::string value(args[1]);
    char* end = nullptr;
    const unsigned long min_read = std::strtoul(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || min_read > UINT32_MAX) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    options.min_read = static_cast<std::uint32_t>(min_read);
    args.erase(args.begin(), args.begin() + 2);
  }
  const std::string_view mode = args.empty() ? "" : args[0];
  const bool probes = mode == "facegate" || mode == "facegate-batch";
  if (args.size() < 2 || args.size() > 3 ||
      (!probes && mode != "baseline" && mode != "baseline-fstat")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string list_path(args[1]);
  const std::vector<std::filesystem::path> paths = read_list(list_path.c_str());
  if (paths.empty()) {
    std::fprintf(stderr, "probe_bench: no paths in %s\n", list_path.c_str());
    return 2;
  }

  std::vector<Dimensions> dimensions;
  const std::uint64_t rchar_before = bytes_read_by_process();
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  const CpuTimes times_start = cpu_times();
  const Tally tally = mode == "facegate-batch" ? run_facegate_batch(paths, options, dimensions)
                      : mode == "facegate"     ? run_facegate(paths, options, dimensions)
                                               : run_baseline(paths, mode == "baseline-fstat");
  const CpuTimes times_stop = cpu_times();
  const std::clock_t cpu_stop = std::clock();
  const auto stop = std::chrono::steady_clock::now();
  const std::uint64_t rchar = bytes_read_by_process() - rchar_before;

  if (probes && args.size() == 3) {
    write_dimensions(std::string(args[2]).c_str(), paths, dimensions);
  }
  const double seconds = std::chrono::duration<double>(stop - start).count();
  const double cpu_seconds = static_cast<double>(cpu_stop - cpu_start) / CLOCKS_PER_SEC;
  std::printf(
      "{\"mode\":\"%s\",\"min_read\":%u,\"files\":%zu,\"seconds\":%.6f,"
      "\"cpu_seconds\":%.6f,\"user_seconds\":%.6f,\"system_seconds\":%.6f,"
      "\"minor_faults\":%ld,\"rchar\":%llu,\"reported_bytes\":%llu,\"errors\":%llu}\n",
      std::string(mode).c_str(), options.min_read, paths.size(), seconds, cpu_seconds,
      times_stop.user - times_start.user, times_stop.system - times_start.system,
      times_stop.minor_faults - times_start.minor_faults,
      static_cast<unsigned long long>(rchar), static_cast<unsigned long long>(tally.reported_bytes),
      static_cast<unsigned long long>(tally.errors));
  return 0;
}
