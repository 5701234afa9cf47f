#include "detect/retry.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <string>

namespace facegate::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Retryable per docs/service.md#request-failures: 429 Throttling*, 5xx (InternalError,
// ModelUnavailable, ...), and 400 InvalidURL.Timeout [inferred: the service timed out fetching the
// image, nothing billed].
bool retryable_refusal(const DetectResult& result) {
  if (result.http_status == 429 || result.http_status >= 500) return true;
  return result.http_status == 400 && result.code == "InvalidURL.Timeout";
}

milliseconds backoff_ceiling(std::uint32_t attempts, const DetectOptions& options) {
  milliseconds ceiling = options.backoff_base;
  for (std::uint32_t i = 1; i < attempts && ceiling < options.backoff_cap; ++i) ceiling *= 2;
  return std::min(ceiling, options.backoff_cap);
}

RetryDecision stop(std::string reason) { return {false, milliseconds{0}, std::move(reason)}; }

}  // namespace

std::optional<seconds> parse_retry_after(std::string_view value,
                                         std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (all_digits(value)) {
    std::uint64_t delay = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), delay);
    constexpr std::uint64_t kSaturated = std::uint64_t{1} << 40;
    if (error == std::errc::result_out_of_range || delay > kSaturated) return seconds{kSaturated};
    return seconds{static_cast<seconds::rep>(delay)};
  }
  // libcurl's date parser reads the three HTTP-date forms (RFC 9110, section 5.6.7).
  const std::string text(value);
  const std::time_t now_seconds = std::chrono::system_clock::to_time_t(now);
  const std::time_t date = curl_getdate(text.c_str(), &now_seconds);
  if (date == -1) return std::nullopt;
  return seconds{std::max<std::time_t>(0, date - now_seconds)};
}

RetryDecision decide_retry(const DetectResult& result, std::uint32_t attempts,
                           std::optional<seconds> retry_after, const DetectOptions& options,
                           std::uint64_t random) {
  switch (result.outcome) {
    case DetectOutcome::passed:
    case DetectOutcome::failed_check:
    case DetectOutcome::not_sent:
    case DetectOutcome::budget_exhausted: return stop("");
    case DetectOutcome::bad_response:
      return stop("not retried: the service answered, and may have billed the check");
    case DetectOutcome::possibly_billed:
      if (!options.retry_ambiguous) {
        return stop(
            "not retried: the request was sent and may have been billed "
            "(retry_ambiguous is off)");
      }
      break;
    case DetectOutcome::transport_error: break;
    case DetectOutcome::request_error:
      if (!retryable_refusal(result)) {
        return stop("not retried: HTTP " + std::to_string(result.http_status) +
                    (result.code.empty() ? "" : " " + result.code) + " is not retryable");
      }
      break;
  }
  if (attempts >= options.max_attempts) {
    return stop("gave up after " + std::to_string(attempts) + " attempts");
  }
  const milliseconds delay = retry_delay(attempts, retry_after, options, random);
  if (retry_after) return {true, delay, "Retry-After " + std::to_string(retry_after->count()) + " s"};
  return {true, delay, "backoff"};
}

milliseconds retry_delay(std::uint32_t attempts, std::optional<seconds> retry_after,
                         const DetectOptions& options, std::uint64_t random) {
  if (retry_after) return std::clamp(*retry_after, seconds{0}, options.max_retry_after);
  const auto ceiling = static_cast<std::uint64_t>(backoff_ceiling(attempts, options).count());
  return milliseconds{static_cast<milliseconds::rep>(random % (ceiling + 1))};
}

}  // namespace facegate::detail
