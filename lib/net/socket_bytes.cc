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

std::optional<std::uint64_t> kernel_bytes_read(curl_socket_t fd) {
#if defined(__linux__)
  // The queue first: bytes arriving between the two calls then count as read, never as
  // unread, so the figure errs towards the cap.
  int queued = 0;
  if (ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return std::nullopt;
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  if (length < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
    return std::nullopt;  // a kernel before 4.1
  }
  const std::uint64_t received = info.tcpi_bytes_received;
  const auto unread = static_cast<std::uint64_t>(queued);
  return received > unread ? received - unread : 0;
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
  serials_[fd] = next_serial_++;
}

void SocketRegistry::remove(curl_socket_t fd) {
  const std::lock_guard lock(mutex_);
  serials_.erase(fd);
}

TrackedSocket SocketRegistry::find(int local_port, std::string_view peer_ip,
                                   int peer_port) const {
  const std::lock_guard lock(mutex_);
  for (const auto& [fd, serial] : serials_) {
    if (connects(fd, local_port, peer_ip, peer_port)) return TrackedSocket{fd, serial};
  }
  return TrackedSocket{};
}

std::optional<std::uint64_t> SocketRegistry::bytes_read(const TrackedSocket& socket) const {
  const std::lock_guard lock(mutex_);
  const auto found = serials_.find(socket.fd);
  if (socket.serial == 0 || found == serials_.end() || found->second != socket.serial) {
    return std::nullopt;
  }
  return kernel_bytes_read(socket.fd);
}

int close_tracked_socket(void* registry, curl_socket_t fd) {
  static_cast<SocketRegistry*>(registry)->remove(fd);
  return ::close(fd);
}

}  // namespace facegate::detail
