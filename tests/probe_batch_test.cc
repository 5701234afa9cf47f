// probe_files: every result the same as probe_file's, through io_uring rings and through the
// threads' loops over probe_file (chosen by FileProbeOptions, and with io_uring_setup denied by
// seccomp as in a sandbox).
#include <doctest/doctest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "facegate/probe.hpp"

using namespace facegate;
namespace fs = std::filesystem;

namespace {

fs::path from_environment(const char* name) {
  const char* value = std::getenv(name);
  REQUIRE_MESSAGE(value != nullptr, std::string(name) << " is set by meson test");
  return value;
}

// Every file under a directory, in a stable order.
std::vector<fs::path> files_under(const fs::path& directory) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(directory)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A scratch directory with an empty file, a file that nobody but root may read, a symbolic
// link and nothing at "missing.jpg".
struct Scratch {
  fs::path directory;
  Scratch() {
    directory = fs::temp_directory_path() / ("facegate-probe-batch-" + std::to_string(::getpid()));
    fs::remove_all(directory);
    fs::create_directories(directory);
    std::ofstream(directory / "empty.png").flush();
    fs::copy_file(from_environment("FACEGATE_SOURCE_ROOT") / "examples" / "portrait-640x800.jpg",
                  directory / "unreadable.jpg");
    fs::permissions(directory / "unreadable.jpg", fs::perms::none);
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(directory, ignored);
  }
};

// The inputs of the comparison: the crafted and example images, all of libjxl-testdata, then
// a missing file, a directory, an empty file, a file only root may read, a file that opens
// but cannot be read (EIO), a path through a file (ENOTDIR), a symbolic link, a relative path,
// a character device and an empty path. No FIFO: opening one waits for a writer.
std::vector<fs::path> all_inputs(const Scratch& scratch) {
  std::vector<fs::path> paths = files_under(from_environment("FACEGATE_TEST_DATA") / "crafted");
  for (const fs::path& root : {from_environment("FACEGATE_SOURCE_ROOT") / "examples",
                               fs::path("/usr/share/libjxl-testdata")}) {
    REQUIRE_MESSAGE(fs::is_directory(root), root.string() << " (Debian: libjxl-testdata)");
    const std::vector<fs::path> more = files_under(root);
    paths.insert(paths.end(), more.begin(), more.end());
  }
  const fs::path photo = from_environment("FACEGATE_SOURCE_ROOT") / "examples" /
                         "portrait-640x800.jpg";
  fs::create_symlink(photo, scratch.directory / "link.jpg");
  paths.push_back(scratch.directory / "missing.jpg");
  paths.push_back(scratch.directory);
  paths.push_back(scratch.directory / "empty.png");
  paths.push_back(scratch.directory / "unreadable.jpg");
  paths.push_back("/proc/self/mem");  // offset 0 is never mapped: pread fails with EIO
  paths.push_back(scratch.directory / "empty.png" / "child");
  paths.push_back(scratch.directory / "link.jpg");
  paths.push_back(fs::relative(photo, fs::current_path()));
  paths.push_back("/dev/null");
  paths.push_back("");
  return paths;
}

// all_inputs twice over: enough files for several threads (64 files each at least) and for
// automatic io_uring (400 files a ring), and every file probed twice in one call.
std::vector<fs::path> ring_inputs(const Scratch& scratch) {
  std::vector<fs::path> paths = all_inputs(scratch);
  const std::size_t once = paths.size();
  for (std::size_t i = 0; i < once; ++i) paths.push_back(paths[i]);
  return paths;
}

// Every field of a result, so that one comparison shows any difference.
std::string describe(const ProbeResult& result) {
  const ImageInfo& info = result.info;
  return std::string(format_name(info.format)) + " " + std::to_string(info.width) + "x" +
         std::to_string(info.height) + " orientation " + std::to_string(info.orientation) +
         (info.animated ? " animated" : " still") + " subtype '" + std::string(info.subtype) +
         "' error " + std::string(error_code_name(result.error.code)) + " '" +
         result.error.message + "' file_size " +
         (result.file_size ? std::to_string(*result.file_size) : "none") + " bytes_read " +
         std::to_string(result.bytes_read);
}

std::vector<std::string> one_by_one(const std::vector<fs::path>& paths,
                                    const FileProbeOptions& options) {
  std::vector<std::string> described;
  for (const fs::path& path : paths) described.push_back(describe(probe_file(path, options)));
  return described;
}

// read(2) and pread(2) calls so far (proc(5), "syscr") of this process, its ended threads
// included ("/proc/self/io"), or of the calling thread ("/proc/thread-self/io"). A READ on an
// io_uring is not one.
std::uint64_t read_system_calls(const char* io_file = "/proc/self/io") {
  std::ifstream io(io_file);
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscr:") return value;
  }
  FAIL("no syscr in " << io_file);
  return 0;
}

/// probe_files' results, described, and the read system calls it made (none for a file a
/// ring reads), all threads' and the caller's thread's.
struct BatchRun {
  std::vector<std::string> results;
  std::uint64_t read_calls = 0;
  std::uint64_t caller_read_calls = 0;
  /// The read system calls of other threads than the caller's: fewer than 5 are those that
  /// read the calls' counts in /proc.
  bool other_threads_read() const { return read_calls > caller_read_calls + 4; }
};

BatchRun batched(const std::vector<fs::path>& paths, const FileProbeOptions& options) {
  BatchRun run;
  const std::uint64_t reads_before = read_system_calls();
  const std::uint64_t caller_reads_before = read_system_calls("/proc/thread-self/io");
  const std::vector<ProbeResult> results = probe_files(paths, options);
  run.caller_read_calls = read_system_calls("/proc/thread-self/io") - caller_reads_before;
  run.read_calls = read_system_calls() - reads_before;
  for (const ProbeResult& result : results) run.results.push_back(describe(result));
  return run;
}

FileProbeOptions with(IoUringUse io_uring, unsigned threads = 0, std::uint32_t min_read = 512) {
  FileProbeOptions options;
  options.io_uring = io_uring;
  options.threads = threads;
  options.min_read = min_read;
  return options;
}

// True when this kernel lets the process set up an io_uring (raw io_uring_setup(2), as the
// test does not link liburing): false with ENOSYS, or EPERM under a seccomp policy.
bool kernel_allows_io_uring() {
  struct {
    std::uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features,
        wq_fd, resv[3];
    std::uint64_t offsets[10];
  } params{};  // struct io_uring_params of linux/io_uring.h: 120 bytes, zeroed
  static_assert(sizeof(params) == 120);
  const long fd = ::syscall(SYS_io_uring_setup, 1, &params);
  if (fd < 0) return false;
  ::close(static_cast<int>(fd));
  return true;
}

// Makes a system call fail with EPERM from now on, as container runtimes' seccomp profiles do
// with io_uring_setup(2).
bool deny(std::uint32_t system_call) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, system_call, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Runs probe_files in a child process where `system_call` fails with EPERM (a seccomp filter
// cannot be removed). Returns the child's exit status: 0 when every result is probe_file's
// and came from probe_file's preads; 1 when a result differs; 2 when io_uring_setup still
// works although it is denied; 3 when too few preads show that the ring answered.
int exit_status_with_denied(std::uint32_t system_call) {
  const Scratch scratch;
  const std::vector<fs::path> paths = ring_inputs(scratch);
  const std::vector<std::string> expected = one_by_one(paths, {});
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (!deny(system_call)) ::_exit(2);
    if (system_call == SYS_io_uring_setup && kernel_allows_io_uring()) ::_exit(2);
    const BatchRun run = batched(paths, with(IoUringUse::always));
    if (run.read_calls < paths.size() - 10) ::_exit(3);
    ::_exit(run.results == expected ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

void check_same(const std::vector<fs::path>& paths, const std::vector<std::string>& expected,
                const std::vector<std::string>& actual) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    INFO("path '" << paths[i].string() << "'");
    CHECK(actual[i] == expected[i]);
  }
}

}  // namespace

TEST_CASE("probe_files gives probe_file's result for every file, through io_uring rings") {
  const Scratch scratch;
  const std::vector<fs::path> paths = ring_inputs(scratch);
  REQUIRE(paths.size() > 600);
  for (const unsigned threads : {1u, 2u, 3u}) {
    for (const std::uint32_t min_read : {512u, 0u, 4096u}) {
      CAPTURE(threads);
      CAPTURE(min_read);
      const FileProbeOptions options = with(IoUringUse::always, threads, min_read);
      const std::vector<std::string> expected = one_by_one(paths, options);
      const BatchRun run = batched(paths, options);
      check_same(paths, expected, run.results);
#ifdef FACEGATE_HAVE_IO_URING  // liburing was found (-Dio_uring=auto, the default, or enabled)
      if (kernel_allows_io_uring()) {
        // probe_file makes one pread or more per file; the rings only for the few inputs they
        // leave to probe_file (/dev/null and /proc/self/mem, which a READ cannot read).
        CHECK(run.read_calls < 10);
      }
#endif
    }
  }
}

TEST_CASE("probe_files gives probe_file's result for every file, through threads' loops") {
  const Scratch scratch;
  const std::vector<fs::path> paths = ring_inputs(scratch);
  REQUIRE(paths.size() > 4 * 64);  // enough for 4 threads
  for (const unsigned threads : {0u, 1u, 2u, 4u}) {
    for (const std::uint32_t min_read : {512u, 0u}) {
      CAPTURE(threads);
      CAPTURE(min_read);
      const FileProbeOptions options = with(IoUringUse::never, threads, min_read);
      const std::vector<std::string> expected = one_by_one(paths, options);
      const BatchRun run = batched(paths, options);
      check_same(paths, expected, run.results);
      CHECK(run.read_calls >= paths.size() - 10);  // one pread or more per file
      if (threads == 1) CHECK_FALSE(run.other_threads_read());
    }
  }
}

TEST_CASE("probe_files shares the files with other threads") {
  const Scratch scratch;
  const std::vector<fs::path> paths = ring_inputs(scratch);
  // The threads take chunks of 32 files as they come: on a busy machine the caller's thread
  // may take them all before another thread runs, hence a few tries.
  bool shared = false;
  for (int attempt = 0; attempt < 5 && !shared; ++attempt) {
    const BatchRun run = batched(paths, with(IoUringUse::never, 2));
    REQUIRE(run.read_calls >= paths.size() - 10);
    shared = run.other_threads_read();
  }
  CHECK(shared);
}

TEST_CASE("probe_files reads further ranges when a header is longer than min_read") {
  const Scratch scratch;
  const std::vector<fs::path> paths = ring_inputs(scratch);
  for (const IoUringUse io_uring : {IoUringUse::automatic, IoUringUse::never, IoUringUse::always}) {
    std::size_t longer = 0;
    for (const ProbeResult& result : probe_files(paths, with(io_uring))) {
      if (result.bytes_read > FileProbeOptions{}.min_read) ++longer;
    }
    CHECK(longer > 10);
  }
}

TEST_CASE("probe_files on few files gives probe_file's results, on the caller's thread") {
  const Scratch scratch;
  std::vector<fs::path> paths = all_inputs(scratch);
  paths.resize(63);  // fewer than 64: no second thread
  const BatchRun run = batched(paths, {});
  check_same(paths, one_by_one(paths, {}), run.results);
  CHECK(run.read_calls >= 50);
  CHECK_FALSE(run.other_threads_read());
}

TEST_CASE("probe_files of no paths is empty") {
  for (const IoUringUse io_uring : {IoUringUse::automatic, IoUringUse::never, IoUringUse::always}) {
    CHECK(probe_files({}, with(io_uring)).empty());
  }
}

TEST_CASE("probe_files falls back to probe_file when the kernel refuses io_uring") {
  CHECK(exit_status_with_denied(SYS_io_uring_setup) == 0);
}

TEST_CASE("probe_files hands every file to probe_file when the ring fails after its setup") {
  CHECK(exit_status_with_denied(SYS_io_uring_enter) == 0);
}
