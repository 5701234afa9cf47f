// Bytes read from the sockets of facegate's transfers, for the byte cap. libcurl decodes a
// chunked body inside its own read loop: chunk sizes, extensions and the CRLFs between chunks
// never reach a callback, so the callbacks' counts miss them (an endless chunk extension is
// zero body bytes, 1-byte chunks are 6 bytes on the wire for each byte of body). The kernel
// knows what was read from a socket whatever libcurl decoded: that count does not depend on
// libcurl's version or its decoders, which turning off its transfer decoding
// (CURLOPT_HTTP_TRANSFER_DECODING) would (libcurl then also skips Content-Encoding decoding
// of chunked bodies in some versions and not in others).
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace facegate::detail {

/// A socket the registry knows: its descriptor and the number it was registered under, which
/// tells it from a later socket that reuses the descriptor.
struct TrackedSocket {
  curl_socket_t fd = CURL_SOCKET_BAD;
  std::uint64_t serial = 0;  ///< 0: no socket
};

/// The sockets AddressGuard opened, process-wide. Process-wide because a connection outlives
/// the easy handle that opened it, and libcurl keeps that handle's close-socket pointer for it.
/// Thread-safe; a socket is only closed by the thread whose loop owns its connection.
class SocketRegistry {
 public:
  /// The one registry (never destroyed: connections may close during static destruction).
  static SocketRegistry& instance();

  /// Registers a socket just opened.
  void add(curl_socket_t fd);
  /// Forgets a socket about to be closed.
  void remove(curl_socket_t fd);
  /// The registered socket connected from `local_port` to `peer_ip`:`peer_port` (what
  /// CURLOPT_PREREQFUNCTION says of a request's connection); serial 0 when none is.
  TrackedSocket find(int local_port, std::string_view peer_ip, int peer_port) const;
  /// Bytes the application has read from `socket` since it was opened: what TCP received
  /// minus what still waits in the receive queue (Linux TCP_INFO tcpi_bytes_received and
  /// FIONREAD). nullopt when the socket is no longer registered, or the platform does not
  /// say (not Linux, a kernel before 4.1).
  std::optional<std::uint64_t> bytes_read(const TrackedSocket& socket) const;

 private:
  SocketRegistry() = default;

  mutable std::mutex mutex_;
  std::unordered_map<curl_socket_t, std::uint64_t> serials_;
  std::uint64_t next_serial_ = 1;
};

/// CURLOPT_CLOSESOCKETFUNCTION of the sockets AddressGuard opens (`registry` is
/// &SocketRegistry::instance()): unregisters the socket, then closes it.
int close_tracked_socket(void* registry, curl_socket_t fd);

}  // namespace facegate::detail
