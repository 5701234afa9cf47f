// Reading local sources that may not be seekable or may never deliver: pipes, FIFOs, terminals,
// process substitution (`<(cat x.jpg)`), /dev/stdin. Opened with O_NONBLOCK (an open of a FIFO
// without a writer would block forever) and read through poll with a deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>

namespace facegate::detail {

/// open(2) for reading that never blocks: O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK (a FIFO
/// without a writer opens at once; a terminal does not become the controlling terminal).
/// Returns the descriptor or -1 with errno set.
int open_for_reading(const std::filesystem::path& path);

/// What one read_stream call gave.
struct StreamRead {
  std::size_t bytes = 0;   ///< bytes read; 0 with no error and no timeout is the end of input
  int error = 0;           ///< errno of a failed read, else 0
  bool timed_out = false;  ///< the deadline passed before any byte came
};

/// Reads up to `length` bytes from `fd` (opened by open_for_reading), waiting with poll until
/// bytes come, the writer goes away (the end) or `deadline` passes. A FIFO that never had a
/// writer is not at its end: poll reports nothing for it until a writer comes (Linux
/// fs/pipe.c), so it times out.
StreamRead read_stream(int fd, std::byte* buffer, std::size_t length,
                       std::chrono::steady_clock::time_point deadline);

}  // namespace facegate::detail
