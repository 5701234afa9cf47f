#include "net/socket_bytes.hpp"

#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#if defined(__linux__)
#include <linux/tcp.h>  // struct tcp_info with tcpi_bytes_received (glibc's lacks it)
#endif

#include "net/address.hpp"

namespace facegate::detail {
namespace {

// The port of an AF_INET or AF_INET6 socket address; -1 for other families.
int port_of(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &address, sizeof v4);
    return ntohs(v4.sin_port);
  }
  if (address.ss_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, &address, sizeof v6);
    return ntohs(v6.sin6_port);
  }
  return -1;
}

bool connects(curl_socket_t fd, int local_port, std::string_view peer_ip, int peer_port) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t local_length = sizeof local;
  socklen_t peer_length = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) {
    return false;
  }
  return port_of(local) == local_port && port_of(peer) == peer_port &&
         socket_address_text(reinterpret_cast<const sockaddr*>(&peer), peer_length) == peer_ip;
}

#if defined(__linux__)
// What TCP has received on `fd` so far (TCP_INFO tcpi_bytes_received).
std::optional<std::uint64_t> kernel_bytes_received(curl_socket_t fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  if (length < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
    return std::nullopt;  // a kernel before 4.1
  }
  return info.tcpi_bytes_received;
}
#endif

// Tries to read the queue between two equal counts of what TCP received: then no byte arrived
// in between and the difference is exact. Bytes keep arriving while a server streams: after a
// few tries the last count is taken, so that bytes arriving meanwhile count as read, never as
// unread, and the figure errs towards the cap.
std::optional<std::uint64_t> kernel_bytes_read(curl_socket_t fd) {
#if defined(__linux__)
  constexpr int kTries = 4;
  std::optional<std::uint64_t> received = kernel_bytes_received(fd);
  std::uint64_t unread = 0;
  for (int attempt = 0; received && attempt < kTries; ++attempt) {
    int queued = 0;
    if (ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return std::nullopt;
    unread = static_cast<std::uint64_t>(queued);
    const std::optional<std::uint64_t> after = kernel_bytes_received(fd);
    const bool still = after == received;
    received = after;
    if (still) break;
  }
  if (!received) return std::nullopt;
  return *received > unread ? *received - unread : 0;
#else
  (void)fd;
  return std::nullopt;
#endif
}

}  // namespace

SocketRegistry& SocketRegistry::instance() {
  static SocketRegistry* const registry = new SocketRegistry;
  return *registry;
}

void SocketRegistry::add(curl_socket_t fd) {
  const std::lock_guard lock(mutex_);
  latest_requests_[fd] = nullptr;
}

void SocketRegistry::remove(curl_socket_t fd) {
  const std::lock_guard lock(mutex_);
  end_latest_request(fd, kernel_bytes_read(fd));
  latest_requests_.erase(fd);
}

// Called with mutex_ held; `read` is the socket's count now. The socket has read all of its
// latest request's response (HTTP/1.x sends one at a time, and libcurl lets the next request
// go only once it has read it).
void SocketRegistry::end_latest_request(curl_socket_t fd, std::optional<std::uint64_t> read) {
  const auto found = latest_requests_.find(fd);
  if (found == latest_requests_.end() || found->second == nullptr) return;
  found->second->read_at_end = read;
  found->second->ended = true;
}

std::shared_ptr<const RequestReads> SocketRegistry::begin_request(int local_port,
                                                                   std::string_view peer_ip,
                                                                   int peer_port) {
  const std::lock_guard lock(mutex_);
  for (auto& [fd, latest] : latest_requests_) {
    if (!connects(fd, local_port, peer_ip, peer_port)) continue;
    const std::optional<std::uint64_t> read = kernel_bytes_read(fd);
    end_latest_request(fd, read);
    latest = std::make_shared<RequestReads>();
    latest->fd = fd;
    latest->read_before = read;
    return latest;
  }
  return nullptr;
}

std::optional<std::uint64_t> SocketRegistry::bytes_read(const RequestReads& request) const {
  const std::lock_guard lock(mutex_);
  const std::optional<std::uint64_t> read =
      request.ended ? request.read_at_end : kernel_bytes_read(request.fd);
  if (!read || !request.read_before) return std::nullopt;
  return *read > *request.read_before ? *read - *request.read_before : 0;
}

int close_tracked_socket(void* registry, curl_socket_t fd) {
  static_cast<SocketRegistry*>(registry)->remove(fd);
  return ::close(fd);
}

}  // namespace facegate::detail
