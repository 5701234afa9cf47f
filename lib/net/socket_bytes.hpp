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
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace facegate::detail {

/// The reads of one request on a registered socket: from the moment it was let go until the
/// next request on the same socket was, or the socket closed. Its fields are the registry's
/// (read them through SocketRegistry::bytes_read, under its lock).
struct RequestReads {
  curl_socket_t fd = CURL_SOCKET_BAD;       ///< its socket, open while !ended
  std::optional<std::uint64_t> read_before;  ///< the socket's count when it was let go
  bool ended = false;                        ///< a later request or the close ended it
  std::optional<std::uint64_t> read_at_end;  ///< the socket's count then
};

/// The sockets AddressGuard opened, process-wide, and the latest request on each. Process-wide
/// because a connection outlives the easy handle that opened it, and libcurl keeps that
/// handle's close-socket pointer for it. A request's count ends where the next request on its
/// connection begins: a transfer done is counted as it was, even once libcurl has let another
/// transfer use its connection and read that one's response. Thread-safe.
class SocketRegistry {
 public:
  /// The one registry (never destroyed: connections may close during static destruction).
  static SocketRegistry& instance();

  /// Registers a socket just opened.
  void add(curl_socket_t fd);
  /// Ends the reads of the latest request on a socket about to be closed, and forgets it.
  void remove(curl_socket_t fd);
  /// Notes a request let go on the registered socket connected from `local_port` to
  /// `peer_ip`:`peer_port` (what CURLOPT_PREREQFUNCTION says of a request's connection),
  /// which ends the reads of the request before it there; nullptr when no socket is.
  std::shared_ptr<const RequestReads> begin_request(int local_port, std::string_view peer_ip,
                                                    int peer_port);
  /// Bytes the application has read from the socket for `request`, so far or until it ended:
  /// what TCP received minus what still waits in the receive queue (Linux TCP_INFO
  /// tcpi_bytes_received and FIONREAD). nullopt when the platform does not say (not Linux,
  /// a kernel before 4.1).
  std::optional<std::uint64_t> bytes_read(const RequestReads& request) const;

 private:
  SocketRegistry() = default;
  void end_latest_request(curl_socket_t fd, std::optional<std::uint64_t> read);

  mutable std::mutex mutex_;
  // Each registered socket's latest request (nullptr before its first).
  std::unordered_map<curl_socket_t, std::shared_ptr<RequestReads>> latest_requests_;
};

/// CURLOPT_CLOSESOCKETFUNCTION of the sockets AddressGuard opens (`registry` is
/// &SocketRegistry::instance()): unregisters the socket, then closes it.
int close_tracked_socket(void* registry, curl_socket_t fd);

}  // namespace facegate::detail
