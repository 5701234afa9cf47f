// Non-blocking reads of local streams (stream.hpp).
#include "input/stream.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace facegate::detail {

int open_for_reading(const std::filesystem::path& path) {
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

StreamRead read_stream(int fd, std::byte* buffer, std::size_t length,
                       std::chrono::steady_clock::time_point deadline) {
  using std::chrono::milliseconds;
  for (;;) {
    // Rounded up: poll never returns before the deadline.
    const auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd wait{fd, POLLIN, 0};
    const int ready = ::poll(&wait, 1, static_cast<int>(std::max<milliseconds::rep>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return StreamRead{0, errno, false};
    if (ready == 0) return StreamRead{0, 0, true};
    const ssize_t n = ::read(fd, buffer, length);
    if (n >= 0) return StreamRead{static_cast<std::size_t>(n), 0, false};
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return StreamRead{0, errno, false};
  }
}

}  // namespace facegate::detail
