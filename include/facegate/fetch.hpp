// facegate: remote headers. Probes images behind http(s) URLs reading only header bytes, on
// one libcurl event loop that other remote clients (the face-detect client) can share.
//
// How a URL is fetched (docs/design.md#remote-side):
//  - The first request asks `Range: bytes=0-1023` with `Accept-Encoding: identity`. On 206,
//    each further need of the probe is a new range request at Probe::want() on the same
//    connection (HTTP/1.1 keep-alive or an HTTP/2 stream). On 200 the body is streamed and the
//    transfer is stopped as soon as the probe is done.
//  - File size: the total of Content-Range, or Content-Length of a 200 without
//    Content-Encoding. A 200 with an unasked Content-Encoding is decoded (so the probe sees the
//    image) and its size is unknown.
//  - A 206 is trusted only when its Content-Range starts where asked and ends within the range
//    asked, and its body is no longer than that range: otherwise bad_range.
//
// Safety, all on by default and not switchable unless named here:
//  - http and https only, for the URL and for every redirect; at most 5 redirects.
//  - Every address actually connected to (each redirect, each resolved address) is checked
//    before the connection is opened and again before each request is sent: loopback,
//    RFC 1918, CGNAT, link-local, unspecified, multicast, IPv6 ULA/link-local/site-local, the
//    IPv4-mapped forms of those and other special-purpose blocks are refused (private_address)
//    unless FetchOptions::allow_private_network (or allow_loopback for loopback only).
//  - Connect timeout, overall deadline and low-speed limit always apply; a hard cap on the
//    bytes received per URL (headers, redirect bodies, bodies and, over HTTP/1.x, the framing
//    of a chunked body, which libcurl decodes out of sight) is enforced as the bytes arrive,
//    whatever the server announced. Redirects are followed by the fetch, not by libcurl, which
//    would read a redirect's whole body to reuse the connection.
//  - TLS peer and host verification are always on (ca_file may add a CA, never disable).
//  - Proxy variables (http_proxy, https_proxy, all_proxy, no_proxy) are ignored unless
//    FetchOptions::use_environment_proxy. With a proxy, the address checked is the proxy's:
//    a proxy on a private network then needs allow_private_network, and the target's address
//    is not checked (only a literal address in the URL is).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/export.h"
#include "facegate/probe.hpp"
#include "facegate/version.h"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// Limits and permissions of a URL probe. The defaults are the safe ones.
struct FetchOptions {
  /// Time allowed to open one connection (DNS, TCP, TLS).
  std::chrono::milliseconds connect_timeout{5'000};
  /// Time allowed for all of one URL's requests, from the start of its first request.
  std::chrono::milliseconds deadline{20'000};
  /// A transfer slower than this many bytes per second for low_speed_time is abandoned.
  std::uint32_t low_speed_limit = 1'024;
  /// See low_speed_limit.
  std::chrono::seconds low_speed_time{10};
  /// Most bytes received for one URL, all requests together: response headers, redirect
  /// bodies and bodies (NetworkFacts::bytes_transferred). Over HTTP/1.x on Linux the count is
  /// what was read from the connection's socket (TCP_INFO), so the framing of a chunked body
  /// counts too; over HTTP/2, and elsewhere, it is what libcurl hands over (frames' payload).
  /// It is checked after each of libcurl's reads (16 KiB at most): the transfer stops at the
  /// first read that passes the cap, usually within 16 KiB of it (a few reads when libcurl
  /// reads several in a row), and none of the bytes past it is used.
  std::uint64_t byte_cap = 1u << 20;
  /// Most redirects followed for one URL.
  std::uint32_t max_redirects = 5;
  /// Allow loopback addresses (127.0.0.0/8, ::1) only: for tests and local servers.
  bool allow_loopback = false;
  /// Allow every non-public address: loopback, private networks, link-local ...
  bool allow_private_network = false;
  /// Honour the proxy environment variables (see the header comment); ignored otherwise.
  bool use_environment_proxy = false;
  /// A PEM file of CA certificates to trust instead of the system's. Verification stays on.
  std::string ca_file;
  /// The User-Agent header.
  std::string user_agent = "facegate/" FACEGATE_VERSION;
};

/// Limits of a NetworkLoop.
struct NetworkLoopOptions {
  /// Transfers running at once, all hosts together; more wait in the loop's queue.
  std::uint32_t max_transfers = 32;
  /// Transfers (and connections) running at once to one scheme://host:port.
  std::uint32_t max_transfers_per_host = 6;
};

FACEGATE_INTERNAL_BEGIN
namespace detail {
class TransferLoop;
}
FACEGATE_INTERNAL_END

/// One libcurl multi handle and a queue of transfers: connection reuse across URLs of a host,
/// HTTP/2 multiplexing where the server offers it, bounded concurrency. Not thread-safe: use
/// a loop from one thread; completion callbacks run inside run()/run_for() on that thread.
class NetworkLoop {
 public:
  /// Creates the multi handle. libcurl is initialized once per process.
  explicit NetworkLoop(NetworkLoopOptions options = {});
  /// Abandons unfinished transfers without calling their callbacks.
  ~NetworkLoop();
  NetworkLoop(const NetworkLoop&) = delete;
  NetworkLoop& operator=(const NetworkLoop&) = delete;

  /// Runs until no transfer or scheduled task is left. Callbacks may queue more work.
  void run();
  /// Runs for at most `max_wait` (and at least one step); returns true when work is left.
  bool run_for(std::chrono::milliseconds max_wait);
  /// The libcurl side, for the library's clients (lib/net/loop.hpp).
  detail::TransferLoop& transfers() noexcept { return *transfers_; }

 private:
  std::unique_ptr<detail::TransferLoop> transfers_;
};

/// Called once per URL with its result, from inside NetworkLoop::run().
using FetchCallback = std::function<void(ProbeResult result)>;

/// Queues a probe of `url` on `loop`; `on_done` gets the result (always exactly once, also
/// for URLs refused before any connection) while the loop runs.
void probe_url_async(NetworkLoop& loop, std::string url, const FetchOptions& options,
                     FetchCallback on_done);

/// Probes one URL on a loop of its own.
ProbeResult probe_url(std::string_view url, const FetchOptions& options = {});

/// Probes URLs concurrently on a loop of its own; one result per URL, in input order.
std::vector<ProbeResult> probe_urls(std::span<const std::string> urls,
                                    const FetchOptions& options = {},
                                    const NetworkLoopOptions& loop_options = {});

/// Whether `url` may be fetched without allow_private_network, judged from the URL alone:
/// none when the scheme is http or https and the host is neither a literal non-public
/// address (any IPv4 spelling libcurl accepts, IPv6, IPv4-mapped) nor "localhost"
/// (RFC 6761); bad_url, scheme or private_address otherwise. A host name's addresses are
/// checked only when connecting.
ErrorCode check_public_url(std::string_view url);

/// check_public_url(url) == ErrorCode::none: the check behind the rule `url.not_public`.
bool url_is_public(std::string_view url);

/// `url` with every byte after the host that RFC 3986 does not allow percent-encoded as %XX
/// (raw UTF-8, spaces, control bytes, `"<>\\^`{|}`, a `%` without two hex digits); existing
/// %XX escapes and the scheme and authority stay as they are. The one spelling of a URL that
/// is fetched, sent to the detector and reported as NetworkFacts::final_url before redirects.
std::string normalize_url(std::string_view url);

/// True when `input` starts with a URL scheme and "://" ("https://...", "ftp://..."): the
/// CLI's test for "URL, not a path". Non-http schemes then fail with ErrorCode::scheme.
bool looks_like_url(std::string_view input) noexcept;

}  // namespace facegate
FACEGATE_PUBLIC_END
