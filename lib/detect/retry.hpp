// When to send a face-detect request again, and after how long (docs/service.md#request-failures;
// docs/design.md#principles, principle 5: no surprise bills).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "facegate/detect.hpp"

namespace facegate::detail {

/// Reads a Retry-After value (RFC 9110, section 10.2.3): delay-seconds, or an HTTP-date
/// (IMF-fixdate, RFC 850 or asctime, section 5.6.7) taken relative to `now`. A date in the past
/// is a delay of 0; a delay too large to represent saturates. nullopt when unreadable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

/// Whether to try again, and when.
struct RetryDecision {
  bool retry = false;                 ///< send the request again
  std::chrono::milliseconds delay{};  ///< wait this long first (the rate limiter still applies)
  std::string reason;                 ///< why, for DetectResult::detail
};

/// Decides after attempt number `attempts` (1-based) ended with `result`:
///  - passed, failed_check, bad_response, not_sent: never (the check completed or may have);
///  - transport_error (nothing was sent): yes;
///  - possibly_billed: only with options.retry_ambiguous;
///  - request_error: HTTP 429 and 5xx, and 400 InvalidURL.Timeout [inferred]; other 4xx never.
/// The delay is `retry_after` clamped to [0, options.max_retry_after] when the answer had one,
/// else full jitter: `random` reduced into [0, min(backoff_cap, backoff_base * 2^(attempts-1))].
RetryDecision decide_retry(const DetectResult& result, std::uint32_t attempts,
                           std::optional<std::chrono::seconds> retry_after,
                           const DetectOptions& options, std::uint64_t random);

/// The wait before retry number `attempts` (1-based) of decide_retry: `retry_after` clamped to
/// [0, options.max_retry_after] when given, else full jitter. Also paces the upload's retries.
std::chrono::milliseconds retry_delay(std::uint32_t attempts,
                                      std::optional<std::chrono::seconds> retry_after,
                                      const DetectOptions& options, std::uint64_t random);

}  // namespace facegate::detail
