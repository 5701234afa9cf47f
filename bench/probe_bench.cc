// probe_bench: times facegate::probe_files or probe_file, or the read-only baseline, over a list
// of files.
//
// Usage: probe_bench [OPTION VALUE]... MODE LISTFILE [DIMENSIONS_OUT]
//
//   facegate-batch  facegate::probe_files on the whole list (FileProbeOptions below)
//   facegate        facegate::probe_file on every file, one after another
//   baseline        what any header reader must at least do: open, read the first 4 KiB, close
//   baseline-fstat  the same plus the fstat that gives the file size probe_file reports
//
// Options:
//   --min-read N       FileProbeOptions::min_read
//   --threads N        FileProbeOptions::threads (0: one per core, the default)
//   --io-uring WHEN    FileProbeOptions::io_uring: automatic (the default), never or always
//   --first N          only the first N paths of the list
//   --iterations K     time the mode K times over the paths (default 1) and report the median
//   --syscall-tax N    before anything else, install seccomp filters that run N instructions of
//                      BPF on every system call the process makes: a kernel where a system call
//                      costs more (as on the VMs of the first benchmarks), since the operations
//                      of an io_uring ring are not system calls and pay no tax
//
// LISTFILE holds one path a line. Prints one JSON object: the mode and options, the cost of a
// system call in this process (getppid, fastest of 100), the number of files, the seconds the
// timed part took (wall clock, and the process's CPU time from std::clock: every thread's, the
// kernel's io_uring workers included; split into user and kernel time by getrusage, and its
// minor page faults), the bytes it read (rchar of /proc/self/io, the kernel's count of bytes
// returned by read system calls: an io_uring READ is not one, so it stays near 0 on a ring), the
// sum of ProbeResult::bytes_read (facegate modes) or of the bytes read (baseline), and the
// number of errors. With --iterations, the seconds are the median iteration's and the other
// figures those of all iterations divided by K. The paths are read and made
// std::filesystem::path before the timing starts. DIMENSIONS_OUT, for the facegate modes,
// receives "path<TAB>width<TAB>height" for each file whose dimensions were read, written after
// the timed part. bench/run_local.py drives it; it is a benchmark, not a test.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
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

/// Adds `instructions` instructions of BPF to every system call of this process from now on
/// (seccomp filters of at most BPF_MAXINSNS each, all allowing every call). Each filter first
/// loads the calling instruction's address, which the kernel cannot know in advance: without
/// it, the kernel would see that the filter allows every call and skip it (its seccomp action
/// cache, Linux 5.11).
bool tax_system_calls(unsigned long instructions) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  while (instructions > 0) {
    const unsigned long additions = std::min<unsigned long>(instructions, BPF_MAXINSNS - 2);
    std::vector<sock_filter> filter;
    filter.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, instruction_pointer)));
    filter.insert(filter.end(), additions, BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    const sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) return false;
    instructions -= additions;
  }
  return true;
}

/// Nanoseconds a getppid(2) takes here: the fastest of 10 runs of 10 calls.
double system_call_nanoseconds() {
  double best = std::numeric_limits<double>::max();
  for (int run = 0; run < 10; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (int call = 0; call < 10; ++call) ::getppid();
    best = std::min(best, std::chrono::duration<double, std::nano>(
                              std::chrono::steady_clock::now() - start).count() / 10);
  }
  return best;
}

std::optional<unsigned long> parse_number(std::string_view text) {
  const std::string value(text);
  char* end = nullptr;
  const unsigned long number = std::strtoul(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || number > UINT32_MAX) return std::nullopt;
  return number;
}

std::optional<facegate::IoUringUse> parse_io_uring(std::string_view text) {
  if (text == "automatic") return facegate::IoUringUse::automatic;
  if (text == "never") return facegate::IoUringUse::never;
  if (text == "always") return facegate::IoUringUse::always;
  return std::nullopt;
}

const char* io_uring_name(facegate::IoUringUse use) {
  switch (use) {
    case facegate::IoUringUse::automatic: return "automatic";
    case facegate::IoUringUse::never: return "never";
    case facegate::IoUringUse::always: return "always";
  }
  return "?";
}

struct Settings {
  facegate::FileProbeOptions options;
  unsigned long first = std::numeric_limits<unsigned long>::max();
  unsigned long iterations = 1;
  unsigned long syscall_tax = 0;
};

/// Takes the leading "--option value" pairs off args into settings; false on a bad one.
bool parse_options(std::vector<std::string_view>& args, Settings& settings) {
  while (args.size() >= 2 && args[0].starts_with("--")) {
    const std::string_view name = args[0];
    const std::string_view value = args[1];
    args.erase(args.begin(), args.begin() + 2);
    if (name == "--io-uring") {
      const auto use = parse_io_uring(value);
      if (!use) return false;
      settings.options.io_uring = *use;
      continue;
    }
    const auto number = parse_number(value);
    if (!number) return false;
    if (name == "--min-read") {
      settings.options.min_read = static_cast<std::uint32_t>(*number);
    } else if (name == "--threads") {
      settings.options.threads = static_cast<unsigned>(*number);
    } else if (name == "--first") {
      settings.first = *number;
    } else if (name == "--iterations" && *number > 0) {
      settings.iterations = *number;
    } else if (name == "--syscall-tax") {
      settings.syscall_tax = *number;
    } else {
      return false;
    }
  }
  return true;
}

constexpr const char* kUsage =
    "usage: probe_bench [--min-read N] [--threads N] [--io-uring automatic|never|always] "
    "[--first N] [--iterations K] [--syscall-tax N] "
    "facegate-batch|facegate|baseline|baseline-fstat LISTFILE [DIMENSIONS_OUT]\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  Settings settings;
  const bool options_ok = parse_options(args, settings);
  const std::string_view mode = args.empty() ? "" : args[0];
  const bool probes = mode == "facegate" || mode == "facegate-batch";
  if (!options_ok || args.size() < 2 || args.size() > 3 ||
      (!probes && mode != "baseline" && mode != "baseline-fstat")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (settings.syscall_tax > 0 && !tax_system_calls(settings.syscall_tax)) {
    std::perror("probe_bench: seccomp");
    return 2;
  }
  const std::string list_path(args[1]);
  std::vector<std::filesystem::path> paths = read_list(list_path.c_str());
  if (paths.size() > settings.first) paths.resize(settings.first);
  if (paths.empty()) {
    std::fprintf(stderr, "probe_bench: no paths in %s\n", list_path.c_str());
    return 2;
  }
  const facegate::FileProbeOptions& options = settings.options;
  const double syscall_ns = system_call_nanoseconds();

  std::vector<Dimensions> dimensions;
  std::vector<double> wall_seconds;
  Tally tally;
  const std::uint64_t rchar_before = bytes_read_by_process();
  const std::clock_t cpu_start = std::clock();
  const CpuTimes times_start = cpu_times();
  for (unsigned long iteration = 0; iteration < settings.iterations; ++iteration) {
    const auto start = std::chrono::steady_clock::now();
    tally = mode == "facegate-batch" ? run_facegate_batch(paths, options, dimensions)
            : mode == "facegate"     ? run_facegate(paths, options, dimensions)
                                     : run_baseline(paths, mode == "baseline-fstat");
    wall_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const CpuTimes times_stop = cpu_times();
  const std::clock_t cpu_stop = std::clock();
  const double k = static_cast<double>(settings.iterations);
  const double rchar = static_cast<double>(bytes_read_by_process() - rchar_before) / k;

  if (probes && args.size() == 3) {
    write_dimensions(std::string(args[2]).c_str(), paths, dimensions);
  }
  std::nth_element(wall_seconds.begin(), wall_seconds.begin() + wall_seconds.size() / 2,
                   wall_seconds.end());
  const double seconds = wall_seconds[wall_seconds.size() / 2];
  const double cpu_seconds = static_cast<double>(cpu_stop - cpu_start) / CLOCKS_PER_SEC / k;
  std::printf(
      "{\"mode\":\"%s\",\"min_read\":%u,\"threads\":%u,\"io_uring\":\"%s\",\"iterations\":%lu,"
      "\"syscall_tax\":%lu,\"syscall_ns\":%.1f,\"files\":%zu,\"seconds\":%.6f,"
      "\"cpu_seconds\":%.6f,\"user_seconds\":%.6f,\"system_seconds\":%.6f,"
      "\"minor_faults\":%.1f,\"rchar\":%.0f,\"reported_bytes\":%llu,\"errors\":%llu}\n",
      std::string(mode).c_str(), options.min_read, options.threads,
      io_uring_name(options.io_uring), settings.iterations, settings.syscall_tax, syscall_ns,
      paths.size(), seconds, cpu_seconds, (times_stop.user - times_start.user) / k,
      (times_stop.system - times_start.system) / k,
      static_cast<double>(times_stop.minor_faults - times_start.minor_faults) / k, rchar,
      static_cast<unsigned long long>(tally.reported_bytes),
      static_cast<unsigned long long>(tally.errors));
  return 0;
}
