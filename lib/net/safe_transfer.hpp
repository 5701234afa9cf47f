// What every facegate transfer carries, whoever makes it (header fetches, the face-detect
// client): the connected-address check, the protocol/redirect/timeout/TLS/proxy options, and
// the mapping of libcurl results to ErrorCode.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "facegate/fetch.hpp"
#include "net/address.hpp"
#include "net/socket_bytes.hpp"

namespace facegate::detail {

/// Checks the addresses one easy handle connects to. Before a socket is opened
/// (CURLOPT_OPENSOCKETFUNCTION: each resolved address, each redirect target, so a refused
/// address is never contacted) and again before each request is sent on a new or reused
/// connection (CURLOPT_PREREQFUNCTION, libcurl 7.80+). The sockets it opens are registered in
/// SocketRegistry, and it notes which one each request goes out on. Must outlive its handle's
/// transfers and stay at one address (it is the callbacks' user pointer).
class AddressGuard {
 public:
  explicit AddressGuard(AddressPolicy policy) : policy_(policy) {}
  AddressGuard(const AddressGuard&) = delete;
  AddressGuard& operator=(const AddressGuard&) = delete;

  /// Installs the callbacks on `easy` (opening, closing, before each request).
  CURLcode install(CURL* easy);
  /// The socket callback's check: may a connection to `address` be opened?
  bool allow_connect(const sockaddr* address, socklen_t length);
  /// The pre-request callback's check: may a request go to the connected `primary_ip`?
  /// Counts the request when it may.
  bool allow_request(std::string_view primary_ip);
  /// Why the last address was refused ("refused to connect to 10.0.0.1: private_network
  /// address"); empty when none was refused since the guard was made or reset().
  const std::string& refusal() const noexcept { return refusal_; }
  /// Requests sent through the guard (counted when PREREQFUNCTION lets one go).
  std::uint32_t requests_sent() const noexcept { return requests_sent_; }
  /// The reads of the last request let go on its connection's socket; nullptr when the
  /// registry does not know the connection.
  const std::shared_ptr<const RequestReads>& request_reads() const noexcept {
    return request_reads_;
  }
  /// Forgets the last refusal, before the handle's next transfer.
  void reset_refusal() { refusal_.clear(); }

 private:
  static curl_socket_t open_socket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int before_request(void* self, char* primary_ip, char* local_ip, int primary_port,
                            int local_port);
  bool allows(std::string_view address_text, const std::optional<AddressScope>& scope);

  AddressPolicy policy_;
  std::string refusal_;
  std::uint32_t requests_sent_ = 0;
  std::shared_ptr<const RequestReads> request_reads_;
};

/// The address policy of a set of options.
inline AddressPolicy address_policy(const FetchOptions& options) {
  return AddressPolicy{options.allow_loopback, options.allow_private_network};
}

/// Sets the options every transfer carries: http/https only for the URL and redirects, at most
/// `max_redirects` redirects, connect timeout and low-speed limit, TLS verification (with
/// options.ca_file when set), no proxy unless options.use_environment_proxy, HTTP/2 over TLS
/// when offered, no signals, the User-Agent. The caller still sets the URL (set_transfer_url),
/// the overall timeout and its callbacks.
CURLcode set_safe_transfer_options(CURL* easy, const FetchOptions& options, long max_redirects);

/// Sets the URL of the handle's next transfer. For https it also asks libcurl to wait for a
/// connection being opened to the host rather than open another (CURLOPT_PIPEWAIT), so that
/// transfers share one HTTP/2 connection. Not for http: HTTP/2 is only negotiated over TLS
/// (ALPN), and waiting there puts a host's transfers on one HTTP/1.1 connection in turn.
CURLcode set_transfer_url(CURL* easy, const std::string& url);

/// How far a transfer got before libcurl ended it: some results mean one thing before a
/// request is sent and another once the server is answering.
enum class TransferStage : std::uint8_t {
  setup,     // no request sent yet
  sent,      // a request was sent and no status line came back for it
  answered,  // the last request sent got a status line
};

/// The ErrorCode for a libcurl result (CURLE_OK -> none). Results that only the caller can
/// interpret (a write callback that stopped the transfer) map to internal. Once a request is
/// out, the server's bytes explain CURLE_OUT_OF_MEMORY and CURLE_TOO_LARGE (a header too large
/// for libcurl's buffers) and a CURLE_UNSUPPORTED_PROTOCOL without a status line (an answer
/// that is not HTTP, taken for HTTP/0.9): protocol. An answered CURLE_UNSUPPORTED_PROTOCOL
/// is a redirect to another scheme.
ErrorCode error_code_from_curl(CURLcode code, TransferStage stage = TransferStage::setup) noexcept;

/// The libcurl error text for `code`, preferring the transfer's error buffer when it has one.
std::string curl_error_text(CURLcode code, const char* error_buffer);

}  // namespace facegate::detail
