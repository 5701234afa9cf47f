// The two local drivers of the probe: a memory buffer and a file read with pread.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "facegate/probe.hpp"
#include "formats/parser.hpp"

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

ProbeResult probe_file(const std::filesystem::path& path, const FileProbeOptions& options) {
  ProbeResult result;
  // O_NOCTTY: a terminal named by the path does not become the process's controlling terminal.
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)};
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
    // A short read at a regular file's end is its end; a pipe or device may give less.
    if (n == 0) {
      probe.finish();
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
