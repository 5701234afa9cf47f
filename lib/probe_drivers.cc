// The local drivers of the probe: a memory buffer, a file read with pread and a stream (a pipe,
// a FIFO, a terminal) read from its start.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "facegate/probe.hpp"
#include "formats/parser.hpp"
#include "input/stream.hpp"

namespace facegate {
namespace {

ProbeResult result_of(const Probe& probe) {
  ProbeResult result;
  result.info = probe.info();
  if (probe.status() == Status::error) result.error = probe.error();
  return result;
}

Error io_error(std::string_view what, const std::filesystem::path& path, int errno_value) {
  return Error{ErrorCode::io,
               std::string(what) + " " + path.string() + ": " + std::strerror(errno_value)};
}

// The reads of probe_file, into a buffer on the stack while they fit (a want is never longer
// than kMaxWindow; min_read may be) and into one on the heap otherwise.
class ReadBuffer {
 public:
  std::byte* at_least(std::size_t length) {
    if (length <= small_.size()) return small_.data();
    if (large_.size() < length) large_.resize(length);
    return large_.data();
  }

 private:
  std::array<std::byte, detail::kMaxWindow> small_;  // uninitialized: only the bytes read are looked at
  std::vector<std::byte> large_;
};

// Closes a file descriptor on scope exit.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ProbeResult probe_memory(std::span<const std::byte> bytes) {
  Probe probe;
  probe.feed(0, bytes);
  probe.finish();
  ProbeResult result = result_of(probe);
  result.file_size = bytes.size();
  result.bytes_read = bytes.size();
  return result;
}

namespace {

// A source that cannot be read at an offset, read from its start: the probe ignores the bytes
// before what it wants (probe.hpp), so each chunk is fed where it lies.
ProbeResult probe_stream(int fd, const std::filesystem::path& path, const FileProbeOptions& options) {
  ProbeResult result;
  Probe probe;
  std::array<std::byte, 16 * 1024> chunk;
  const auto deadline = std::chrono::steady_clock::now() + options.stream_timeout;
  std::uint64_t position = 0;
  while (probe.status() == Status::need_more) {
    if (position >= options.stream_byte_cap) {
      result.error = Error{ErrorCode::byte_cap, "no image header within the first " +
                                                    std::to_string(options.stream_byte_cap) +
                                                    " bytes of " + path.string()};
      break;
    }
    const std::size_t length = static_cast<std::size_t>(
        std::min<std::uint64_t>(chunk.size(), options.stream_byte_cap - position));
    const detail::StreamRead read = detail::read_stream(fd, chunk.data(), length, deadline);
    if (read.timed_out) {
      result.error = Error{ErrorCode::io, "no more data from " + path.string() + " within " +
                                              std::to_string(options.stream_timeout.count()) + " ms"};
      break;
    }
    if (read.error != 0) {
      result.error = io_error("cannot read", path, read.error);
      break;
    }
    if (read.bytes == 0) {
      probe.finish();
      result.file_size = position;  // the stream's end: its whole length
      break;
    }
    probe.feed(position, std::span(chunk.data(), read.bytes));
    position += read.bytes;
  }
  const ProbeResult probed = result_of(probe);
  result.info = probed.info;
  if (!result.error) result.error = probed.error;
  result.bytes_read = position;
  return result;
}

}  // namespace

ProbeResult probe_file(const std::filesystem::path& path, const FileProbeOptions& options) {
  ProbeResult result;
  FileDescriptor file{detail::open_for_reading(path)};
  if (file.fd < 0) {
    result.error = io_error("cannot open", path, errno);
    return result;
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    result.error = io_error("cannot stat", path, errno);
    return result;
  }
  if (S_ISDIR(st.st_mode)) {
    result.error = Error{ErrorCode::io, "cannot read " + path.string() + ": is a directory"};
    return result;
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return probe_stream(file.fd, path, options);
  if (S_ISREG(st.st_mode)) result.file_size = static_cast<std::uint64_t>(st.st_size);

  Probe probe;
  ReadBuffer buffer;
  std::uint64_t bytes_read = 0;
  while (probe.status() == Status::need_more) {
    const Want want = probe.want();
    const std::size_t length = std::max(want.length, options.min_read);
    std::byte* const bytes = buffer.at_least(length);
    ssize_t n;
    do {
      n = ::pread(file.fd, bytes, length, static_cast<off_t>(want.offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      result.error = io_error("cannot read", path, errno);
      result.info = probe.info();
      result.bytes_read = bytes_read;
      return result;
    }
    bytes_read += static_cast<std::uint64_t>(n);
    if (n == 0) {
      probe.finish();  // a short read at a regular file's end is its end
    } else {
      probe.feed(want.offset, std::span(bytes, static_cast<std::size_t>(n)));
    }
  }
  const std::optional<std::uint64_t> size = result.file_size;
  result = result_of(probe);
  result.file_size = size;
  result.bytes_read = bytes_read;
  return result;
}

}  // namespace facegate
