// facegate: the remote face-detect call (docs/service.md#endpoint-and-request,
// docs/service.md#responses).
//
// Every call is billed, so this layer is careful about money: a per-model rate limiter keeps to
// the documented RPS, retries happen only where the service did not complete the request, and a
// request whose outcome is unknown is reported as possibly billed rather than sent again.
// The API key never appears in any output: results, messages and dry runs show "sk-***".
#pragma once

#include <array>
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
#include "facegate/rules.hpp"
#include "facegate/version.h"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

// ---------------------------------------------------------------------------------------------
// Credentials and endpoint

/// A DashScope API key. It has no printing or comparison operators: reveal() is used only to
/// build the Authorization header, and every text facegate produces shows kRedacted instead.
class ApiKey {
 public:
  /// How the key appears in any output.
  static constexpr std::string_view kRedacted = "sk-***";
  /// No key.
  ApiKey() = default;
  /// A key, with surrounding whitespace trimmed.
  explicit ApiKey(std::string_view value);
  /// True when there is no key.
  bool empty() const noexcept { return value_.empty(); }
  /// The secret itself: for the Authorization header only.
  std::string_view reveal() const noexcept { return value_; }
  /// Runs of the key this long or longer, in any letter case, are redacted by scrub.
  static constexpr std::size_t kShortestRedactedRun = 8;
  /// Replaces every run of kShortestRedactedRun or more characters of the key, in any letter
  /// case, by kRedacted (for text from the network).
  std::string scrub(std::string_view text) const;

 private:
  std::string value_;
};

/// A loaded key, or why there is none. The error never contains the key.
struct ApiKeyResult {
  ApiKey key;          ///< empty on error
  std::string source;  ///< "DASHSCOPE_API_KEY" or the file path the key came from
  std::string error;   ///< empty on success
  /// True when a key was found.
  bool ok() const noexcept { return error.empty(); }
};

/// Loads the key as the DashScope SDK does: $DASHSCOPE_API_KEY if set and not blank, else the
/// file at $DASHSCOPE_API_KEY_FILE_PATH, else ~/.dashscope/api_key. Whitespace is trimmed.
ApiKeyResult load_api_key();

/// One DashScope region: keys are region-bound, and each region has its own base URL
/// (docs/service.md#credentials-and-base-url).
struct DashScopeRegion {
  std::string_view name;      ///< e.g. "cn-beijing", "ap-southeast-1"
  std::string_view base_url;  ///< e.g. "https://dashscope.aliyuncs.com/api/v1", no trailing '/'
  std::string_view label;     ///< for people, e.g. "China (Beijing)"
};

/// The region requests go to when none is named: China (Beijing).
inline constexpr std::string_view kDefaultRegion = "cn-beijing";

/// The documented default base URL, that of kDefaultRegion (the first row of
/// dashscope_regions(), which takes it from here).
inline constexpr std::string_view kDefaultDashScopeBaseUrl =
    "https://dashscope.aliyuncs.com/api/v1";

/// The documented regions, kDefaultRegion first: cn-beijing, ap-southeast-1 (Singapore), us,
/// cn-hongkong [SDK; docs/service.md#credentials-and-base-url].
std::span<const DashScopeRegion> dashscope_regions() noexcept;

/// The region called `name` (exactly), or nullptr.
const DashScopeRegion* find_region(std::string_view name) noexcept;

/// `explicit_url` if not empty, else $DASHSCOPE_HTTP_BASE_URL if set and not empty, else the
/// base URL of `region` ("" = kDefaultRegion); without a trailing '/'. Empty when it would be
/// the region's and `region` names none of dashscope_regions().
std::string dashscope_base_url(std::string_view explicit_url = {}, std::string_view region = {});

/// Why `base_url` cannot be the detector's base URL (it does not start with http:// or
/// https://, e.g. `dashscope.aliyuncs.com/api/v1`); empty when it can.
std::string base_url_problem(std::string_view base_url);

// ---------------------------------------------------------------------------------------------
// The request

/// One HTTP header.
struct HttpHeader {
  std::string name;   ///< e.g. "Content-Type"
  std::string value;  ///< e.g. "application/json"
  /// Memberwise equality.
  bool operator==(const HttpHeader&) const = default;
};

/// A face-detect request as it goes on the wire, minus the Authorization header: that header
/// is added only when the request is sent, so a DetectRequest can be printed safely.
struct DetectRequest {
  std::string method = "POST";      ///< always POST
  std::string url;                  ///< {base}{endpoint}
  std::vector<HttpHeader> headers;  ///< Content-Type and, for oss:// images, the resolve header
  std::string body;                 ///< {"model","input":{"image_url"},"parameters"?}
};

/// The parameters a request sends: effective_parameters() of `given`, plus a required
/// parameter that has no default but a single allowed value (emoji-detect-v1's ratio "1:1",
/// required and the only value: docs/service.md#input-rules).
std::vector<Parameter> request_parameters(const ModelRules& model,
                                          std::span<const Parameter> given);

/// Builds the request for one image. "parameters" appears only when the model has some;
/// X-DashScope-Async is never sent (403 AccessDenied on these synchronous endpoints); an oss://
/// image gets X-DashScope-OssResourceResolve: enable (docs/service.md#endpoint-and-request).
DetectRequest build_detect_request(const ModelRules& model, std::string_view base_url,
                                   std::string_view image_url,
                                   std::span<const Parameter> given_parameters = {});

/// The request for `--dry-run` as text: "POST <url>", one "Name: value" line per header with
/// "Authorization: Bearer sk-***" first (or a note that no key is set), a blank line, the body.
/// Ends with a newline.
std::string render_dry_run(const DetectRequest& request, bool has_api_key);

/// The same as a JSON object {"method","url","headers":{...},"body":{...}} for JSONL records;
/// the key is shown as "Bearer sk-***".
std::string dry_run_json(const DetectRequest& request, bool has_api_key);

// ---------------------------------------------------------------------------------------------
// The result

/// What became of one image's remote check.
enum class DetectOutcome : std::uint8_t {
  passed,           ///< the service completed the check and the image passed (billed)
  failed_check,     ///< the service completed the check and the image failed (billed)
  request_error,    ///< the service refused the request ({"code","message"}; not billed)
  bad_response,     ///< the service answered with JSON that is malformed, truncated or
                    ///< wrongly typed; billing unknown when the status was 200 or 400
  possibly_billed,  ///< sent, but no complete answer (timeout, reset): may have been billed
  transport_error,  ///< nothing was sent (DNS, connection refused, TLS): not billed
  not_sent,         ///< facegate did not send it (no API key, cancelled): not billed
  budget_exhausted,  ///< not sent: it could have taken the run past --budget or --max-calls
};

/// Stable snake_case name of an outcome ("passed", "possibly_billed", ...).
std::string_view detect_outcome_name(DetectOutcome outcome) noexcept;

/// A face or region box [x1, y1, x2, y2] in pixels, as the service reports it.
using BoundingBox = std::array<std::int64_t, 4>;

/// One image's remote check, normalized over the five response shapes of docs/service.md#responses.
/// Strings that come from the service are scrubbed of the API key.
struct DetectResult {
  /// What happened.
  DetectOutcome outcome = DetectOutcome::transport_error;
  /// True only for DetectOutcome::passed.
  bool passed = false;
  /// usage.image_count of a completed check (1 when the answer omits it); 0 otherwise.
  std::uint32_t billed = 0;
  /// output.code or the error's code; may be empty.
  std::string code;
  /// output.message, output.reason (animate-anyone) or the error's message; may be empty.
  std::string message;
  /// emo-detect-v1 output.face_bbox, emoji-detect-v1 output.bbox_face.
  std::optional<BoundingBox> face_bbox;
  /// emo-detect-v1 output.ext_bbox, emoji-detect-v1 output.ext_bbox_face.
  std::optional<BoundingBox> ext_bbox;
  /// wan2.2-s2v-detect output.humanoid.
  std::optional<bool> humanoid;
  /// animate-anyone-detect-gen2 output.bodystyle ("full", "half"); may be empty.
  std::string bodystyle;
  /// The service's request_id; may be empty.
  std::string request_id;
  /// HTTP status of the last attempt; 0 when no answer arrived.
  int http_status = 0;
  /// Attempts made for this image, retries included; 0 when not sent.
  std::uint32_t attempts = 0;
  /// Earlier attempts that were sent and then lost (retry_ambiguous): each may be billed.
  std::uint32_t earlier_possibly_billed = 0;
  /// An answer of an earlier call, taken from the ledger instead of paying again: billed is 0
  /// and request_id is the original call's.
  bool cached = false;
  /// facegate's own explanation: earlier attempts, why the answer is unusable, why no retry.
  std::string detail;
  /// True when the service may have billed a request whose result we do not have (this
  /// attempt, or an earlier one).
  bool billing_uncertain() const noexcept;
};

/// Reads one answer of the service (docs/service.md#responses), for `shape`. Never throws,
/// never guesses "passed": anything unexpected is DetectOutcome::bad_response with a detail
/// that names the field. `body` may be truncated or not JSON at all.
DetectResult parse_detect_response(ResponseShape shape, int http_status, std::string_view body);

// ---------------------------------------------------------------------------------------------
// Retries and rate

/// How the client paces, retries and times out.
struct DetectOptions {
  /// Base URL; empty: dashscope_base_url() (environment, then the region's).
  std::string base_url;
  /// The region of the key and the calls (find_region); "" = kDefaultRegion. It gives the
  /// base URL unless base_url or $DASHSCOPE_HTTP_BASE_URL does, and, in a Checker that is not
  /// offline, the region that ModelRules::regions is judged against (model.region).
  std::string region;
  /// Requests per second for every model instead of the rules' RPS (e.g. a lower quota).
  std::optional<std::uint32_t> requests_per_second;
  /// Attempts per image, the first included (spec: retry 429, 5xx, connect failures).
  std::uint32_t max_attempts = 3;
  /// Backoff before retry n (n >= 1) is uniform in [0, min(backoff_cap, backoff_base * 2^(n-1))]
  /// ("full jitter"), unless the answer carried Retry-After.
  std::chrono::milliseconds backoff_base{500};
  /// Upper bound of the exponential backoff.
  std::chrono::milliseconds backoff_cap{8000};
  /// Retry-After is honoured up to this; longer values are clamped to it. A batch pre-check
  /// must not stall for an hour on one header, a retry sent early at worst earns another 429
  /// (not billed), and max_attempts bounds the total wait.
  std::chrono::seconds max_retry_after{60};
  /// Added to the 1-second window of the rate limiter: requests are spaced on the client,
  /// the service counts their arrival, and network jitter must not squeeze one more in.
  /// Costs 1/11 of the throughput; a 429 would cost a retry.
  std::chrono::milliseconds rate_window_margin{100};
  /// Connection setup deadline (a connect timeout sent nothing, so it is retried).
  std::chrono::milliseconds connect_timeout{10000};
  /// Whole-request deadline; past it the request is possibly billed.
  std::chrono::milliseconds request_timeout{60000};
  /// Send again a request that failed after it was sent (timeout, reset). Off by default:
  /// the service has no idempotency key, so a resend may be billed twice.
  bool retry_ambiguous = false;
  /// Largest answer read; a longer one is a bad_response.
  std::size_t max_response_bytes = 1 << 20;
  /// Honour http_proxy / https_proxy / all_proxy / no_proxy; ignored otherwise
  /// (docs/design.md#remote-side).
  bool use_environment_proxy = false;
  /// A PEM file of CA certificates to trust instead of the system's, as FetchOptions::ca_file.
  std::string ca_file;
  /// The User-Agent header.
  std::string user_agent = "facegate/" FACEGATE_VERSION;
};

// ---------------------------------------------------------------------------------------------
// The client

class NetworkLoop;

/// Called once per submitted image with its result, from inside the loop's run().
using DetectCallback = std::function<void(DetectResult result)>;

/// Asked once per image, from the loop, when its first attempt holds a rate slot and is about
/// to start: true sends it, false ends it as not_sent without sending (the place for a
/// write-ahead record of the call, committed only for requests that really go out).
using SendGate = std::function<bool()>;

/// Sends face-detect requests on a shared NetworkLoop (the one that fetches image headers):
/// no thread, no sleep; every wait (rate limit, backoff, Retry-After) is a task on the loop.
///
/// Per model, a RateLimiter lets at most RPS requests be written in any window of
/// 1 s + rate_window_margin (RPS from the rules, or DetectOptions::requests_per_second).
/// Retries follow decide_retry (lib/detect/retry.hpp): 429, 5xx, 400 InvalidURL.Timeout and
/// connection failures before the request was written, at most max_attempts in all. A request
/// that was written and then failed (timeout, reset, truncated answer) is possibly_billed and
/// is not written again unless retry_ambiguous; libcurl's own silent resend on a reused
/// connection that died is refused for the same reason. Once the service refuses a model as a
/// whole (ModelNotFound, Model.AccessDenied, AccessDenied.Unpurchased: a retired or unpurchased
/// model), nothing more is sent for it: the images waiting for it and those submitted later end
/// as not_sent, with a detail that names the refusal ("the service refused the model: ...").
///
/// Not thread-safe: use it from the loop's thread. The loop must outlive the client. The
/// client may be destroyed with work pending: submitted images still complete and call their
/// callbacks while the loop runs.
class DetectClient {
 public:
  /// A client on `loop` with `key` (an empty key makes every result not_sent).
  DetectClient(NetworkLoop& loop, ApiKey key, DetectOptions options = {});
  ~DetectClient();
  DetectClient(const DetectClient&) = delete;
  DetectClient& operator=(const DetectClient&) = delete;

  /// Queues one image for `model`; `on_done` gets its result exactly once, from the loop.
  /// `before_first_send`, when given, is asked right before the first attempt starts.
  void submit(const ModelRules& model, std::string image_url, std::span<const Parameter> parameters,
              DetectCallback on_done, SendGate before_first_send = {});
  /// The request submit() would send, for --dry-run (render_dry_run, dry_run_json).
  DetectRequest request_for(const ModelRules& model, std::string_view image_url,
                            std::span<const Parameter> parameters = {}) const;
  /// Ends every image not yet written to the network (waiting for the rate limiter or a
  /// backoff, queued behind the loop's limits, connecting) with not_sent; requests in flight
  /// finish normally, and from now on none is retried (its failure is its result).
  void cancel_pending();
  /// Images submitted whose callback has not run yet.
  std::size_t pending() const noexcept;
  /// The base URL requests go to.
  const std::string& base_url() const noexcept;

 private:
  struct FACEGATE_HIDDEN State;
  std::shared_ptr<State> state_;
};

/// One image on a loop of its own: submit, run, return the result.
DetectResult detect_one(const ModelRules& model, std::string_view image_url, const ApiKey& key,
                        const DetectOptions& options = {},
                        std::span<const Parameter> parameters = {});

}  // namespace facegate
FACEGATE_PUBLIC_END
