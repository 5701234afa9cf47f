// Local sources that are streams (README, "Usage"): FIFOs, pipes, process substitution,
// /dev/stdin. probe_file never blocks in open, reads them from their start, stops at the
// stream byte cap and gives up after the stream timeout.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "facegate/probe.hpp"
#include "servers/test_servers.hpp"

using namespace facegate;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::vector<std::byte> portrait_bytes() {
  const std::string text =
      facegate::test::read_text(facegate::test::source_root() / "examples" / "portrait-640x800.jpg");
  const auto* first = reinterpret_cast<const std::byte*>(text.data());
  return {first, first + text.size()};
}

// Writes `bytes` to `fd` in chunks of `chunk`, then, when `endless`, zeros until the reader
// goes away (EPIPE: SIGPIPE is ignored in this test); closes `fd`.
void write_then_close(int fd, std::vector<std::byte> bytes, std::size_t chunk, bool endless) {
  for (std::size_t at = 0; at < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + at, std::min(chunk, bytes.size() - at));
    if (n <= 0) break;
    at += static_cast<std::size_t>(n);
  }
  const std::vector<std::byte> zeros(4096);
  while (endless && ::write(fd, zeros.data(), zeros.size()) > 0) {
  }
  ::close(fd);
}

struct IgnoreSigpipe {
  IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }
};

}  // namespace

TEST_CASE("a FIFO with a writer: read from its start, in whatever chunks come") {
  IgnoreSigpipe ignore;
  facegate::test::TempDir dir("facegate-stream-");
  const fs::path fifo = dir.path() / "image.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{100000}}) {
    CAPTURE(chunk);
    std::thread writer([&] {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);  // waits for the reader
      if (fd >= 0) write_then_close(fd, portrait_bytes(), chunk, false);
    });
    const ProbeResult result = probe_file(fifo);
    writer.join();
    CHECK(result.ok());
    CHECK(result.info.width == 640);
    CHECK(result.info.height == 800);
    CHECK(result.bytes_read > 0);
    CHECK(result.bytes_read <= portrait_bytes().size());
  }
}

TEST_CASE("a FIFO nobody writes: opened at once, an io error after the stream timeout") {
  facegate::test::TempDir dir("facegate-stream-");
  const fs::path fifo = dir.path() / "silent.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  FileProbeOptions options;
  options.stream_timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  const ProbeResult result = probe_file(fifo, options);
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(result.error.code == ErrorCode::io);
  CHECK(result.error.message.find("within 300 ms") != std::string::npos);
  CHECK(took >= 300ms);
  CHECK(took < 10s);
}

TEST_CASE("a pipe (as /dev/stdin or <(cat x.jpg) name it): the same answer as the file") {
  IgnoreSigpipe ignore;
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::thread writer(write_then_close, fds[1], portrait_bytes(), 512, false);
  const ProbeResult result = probe_file("/proc/self/fd/" + std::to_string(fds[0]));
  writer.join();
  ::close(fds[0]);
  const ProbeResult from_file =
      probe_file(facegate::test::source_root() / "examples" / "portrait-640x800.jpg");
  CHECK(result.ok());
  CHECK(result.info.width == from_file.info.width);
  CHECK(result.info.height == from_file.info.height);
  CHECK(result.info.format == from_file.info.format);
}

TEST_CASE("an endless stream stops at the stream byte cap") {
  IgnoreSigpipe ignore;
  // A PNG signature, then a chunk before IHDR (libpng refuses it, Pillow reads past it: the
  // probe skips it) that claims 2^31 - 1 bytes, then zeros for ever.
  std::vector<std::byte> head;
  for (const int b : std::initializer_list<int>{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0x7F, 0xFF, 0xFF, 0xFF, 't',
                      'E', 'X', 't'}) {
    head.push_back(static_cast<std::byte>(b));
  }
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::thread writer(write_then_close, fds[1], head, head.size(), true);
  FileProbeOptions options;
  options.stream_byte_cap = 256 * 1024;
  const ProbeResult result = probe_file("/proc/self/fd/" + std::to_string(fds[0]), options);
  ::close(fds[0]);  // the writer ends on EPIPE
  writer.join();
  CHECK(result.error.code == ErrorCode::byte_cap);
  CHECK(result.bytes_read == options.stream_byte_cap);
}

TEST_CASE("probe_files with a FIFO among 500 files: nothing blocks, each file its own answer") {
  facegate::test::TempDir dir("facegate-stream-");
  const fs::path portrait = facegate::test::source_root() / "examples" / "portrait-640x800.jpg";
  std::vector<fs::path> paths;
  for (int i = 0; i < 500; ++i) {
    paths.push_back(dir.path() / (std::to_string(i) + ".jpg"));
    fs::create_hard_link(portrait, paths.back());
  }
  const fs::path fifo = dir.path() / "silent.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  paths.insert(paths.begin() + 250, fifo);
  FileProbeOptions options;
  options.stream_timeout = 200ms;
  for (const IoUringUse rings : {IoUringUse::never, IoUringUse::always}) {
    options.io_uring = rings;
    const std::vector<ProbeResult> results = probe_files(paths, options);
    REQUIRE(results.size() == paths.size());
    CHECK(results[250].error.code == ErrorCode::io);
    std::size_t read = 0;
    for (const ProbeResult& result : results) read += result.ok() && result.info.width == 640;
    CHECK(read == 500);
  }
}
