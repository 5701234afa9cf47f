// facegate: the gateway core behind `facegate serve` (docs/service.md#the-gateway), without
// sockets: an HTTP request in, an HTTP response out, through a completion callback.
//
// It speaks the vendor's face-detect API (docs/service.md#endpoint-and-request). For each
// detect request the image URL's header is fetched (with every rule of the fetcher) and judged
// with the model's rules by a Checker in offline mode. A request that cannot pass is answered
// at once in the vendor's request-failure shape (HTTP 400 {"code","message","request_id"},
// the code matching the finding), unbilled; the rest is forwarded upstream with the caller's
// Authorization, paced by one rate limiter per model shared by all callers, and the upstream's
// status and body are returned byte for byte. Requests waiting for a rate slot wait in a
// bounded queue; beyond it or past its deadline the answer is the vendor's 429
// Throttling.RateQuota with Retry-After.
//
// With a ledger, a request that passed locally is looked up first by the Checker's key (model,
// parameters, identify_url() of the image): a completed answer kept with its raw bytes is
// returned as it came with X-Facegate-Cache: hit, nothing sent upstream; otherwise the call is
// claimed before it is sent and completed with the upstream's raw answer after.
//
// Threads: handle() may be called from any thread; the callback runs once per request, on one
// of the gateway's threads or inside handle() (for answers known at once), never twice.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/detect.hpp"
#include "facegate/export.h"
#include "facegate/fetch.hpp"
#include "facegate/ledger.hpp"
#include "facegate/rules.hpp"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// One HTTP request as the gateway sees it.
struct GatewayRequest {
  std::string method;               ///< "GET", "POST", ...
  std::string path;                 ///< the path without the query, e.g. "/healthz"
  std::vector<HttpHeader> headers;  ///< as received; names compared without case
  std::string body;                 ///< the whole body
};

/// One HTTP response of the gateway.
struct GatewayResponse {
  int status = 200;                 ///< HTTP status
  std::vector<HttpHeader> headers;  ///< Content-Type, X-Facegate-*, Retry-After ...
  std::string body;                 ///< the body, byte for byte
  /// The value of header `name` (compared without case), or "" when absent.
  std::string_view header(std::string_view name) const noexcept;
};

/// Called once per request with its response.
using GatewayCallback = std::function<void(GatewayResponse response)>;

/// Configuration of a Gateway. The defaults are the safe ones.
struct GatewayOptions {
  /// The models' rules; builtin_rules() by default.
  RuleSet rules = builtin_rules().rules;
  /// The upstream base URL (up to and including /api/v1); empty: dashscope_base_url().
  std::string upstream;
  /// The path prefix the gateway answers under, the `/api/v1` of DASHSCOPE_HTTP_BASE_URL.
  std::string path_prefix = "/api/v1";
  /// Inferred and ambiguous rules reject instead of warn.
  bool strict = false;
  /// How image URLs are fetched (allow_private_network for test doubles and intranets).
  FetchOptions fetch;
  /// How many image fetches run at once.
  NetworkLoopOptions loop{.max_transfers = 64, .max_transfers_per_host = 16};
  /// The gateway's own key: when set, every forwarded request carries it instead of the
  /// caller's Authorization (`--key-from-env`); callers then need none.
  std::optional<ApiKey> key;
  /// Requests per second for every model instead of the rules' RPS.
  std::optional<std::uint32_t> requests_per_second;
  /// Added to the rate limiter's 1-second window (see DetectOptions::rate_window_margin).
  std::chrono::milliseconds rate_window_margin{100};
  /// Requests of one model waiting for a rate slot, at most; one more is answered 429.
  std::size_t queue_limit = 64;
  /// How long a request may wait for a rate slot before it is answered 429.
  std::chrono::milliseconds queue_wait{5000};
  /// Connection setup deadline of an upstream call.
  std::chrono::milliseconds connect_timeout{10000};
  /// Whole deadline of an upstream call; past it the call is possibly billed (504).
  std::chrono::milliseconds upstream_timeout{60000};
  /// Largest upstream answer passed on; a longer one is a 502.
  std::size_t max_response_bytes = 1 << 20;
  /// Detect requests being checked at once; more are answered 429 at once.
  std::size_t max_in_flight = 1024;
  /// A PEM file of CA certificates for the upstream, as DetectOptions::ca_file.
  std::string ca_file;
  /// The ledger (`--ledger FILE`; see the header comment); nullopt: every pass is forwarded
  /// and nothing is recorded.
  std::optional<std::filesystem::path> ledger;
  /// How the ledger opens (tests inject a clock).
  LedgerOptions ledger_options;
  /// Which earlier answers are returned again (max_age, refresh, retry_ambiguous); raw_only
  /// is always set: only answers kept with their bytes can be returned byte for byte.
  ReusePolicy reuse;
};

/// A Gateway, or why the options cannot make one.
struct GatewayResult;

/// The gateway core (see the header comment). Destroying it finishes the requests in flight:
/// every accepted request gets its callback first.
class Gateway {
 public:
  /// Validates `options` (an http(s) upstream) and starts the threads.
  static GatewayResult create(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Serves one request: POST {prefix}/services/aigc/image2video/face-detect and aa-detect,
  /// GET /healthz, GET /metrics; anything else is a vendor-shaped 404 or 405.
  void handle(GatewayRequest request, GatewayCallback done);
  /// The metrics in the Prometheus text format (what GET /metrics answers).
  std::string metrics_text() const;
  /// Requests accepted whose callback has not run yet.
  std::size_t in_flight() const noexcept;

 private:
  struct FACEGATE_HIDDEN State;
  FACEGATE_HIDDEN explicit Gateway(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

/// A Gateway, or why the options cannot make one.
struct GatewayResult {
  std::unique_ptr<Gateway> gateway;  ///< null on error
  std::string error;                 ///< why; empty on success
  /// True when a Gateway was made.
  bool ok() const noexcept { return gateway != nullptr; }
};

/// The vendor's request-failure body {"code","message","request_id"} (docs/service.md#request-failures).
std::string vendor_error_body(std::string_view code, std::string_view message,
                              std::string_view request_id);

/// One of the gateway's own answers: `status`, the vendor's request-failure body with a fresh
/// request_id (a random UUID), Content-Type application/json and X-Facegate-Decision: `decision`.
GatewayResponse gateway_error(int status, std::string_view code, std::string_view message,
                              std::string_view decision);

}  // namespace facegate
FACEGATE_PUBLIC_END
