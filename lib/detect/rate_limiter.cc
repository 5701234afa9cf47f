#include "detect/rate_limiter.hpp"

#include <algorithm>

namespace facegate::detail {

RateLimiter::RateLimiter(std::uint32_t per_window, Clock::duration window)
    : window_(window), free_at_(std::max<std::uint32_t>(per_window, 1), Clock::time_point::min()) {}

std::optional<std::size_t> RateLimiter::try_acquire(Clock::time_point now) {
  for (std::size_t ticket = 0; ticket < free_at_.size(); ++ticket) {
    if (free_at_[ticket] <= now) {
      free_at_[ticket] = kHeld;
      return ticket;
    }
  }
  return std::nullopt;
}

std::optional<RateLimiter::Clock::time_point> RateLimiter::next_release() const {
  const auto earliest = *std::min_element(free_at_.begin(), free_at_.end());
  if (earliest == kHeld) return std::nullopt;
  return earliest;
}

void RateLimiter::sent(std::size_t ticket, Clock::time_point at) {
  if (ticket < free_at_.size()) free_at_[ticket] = at + window_;
}

void RateLimiter::unused(std::size_t ticket, Clock::time_point now) {
  if (ticket < free_at_.size()) free_at_[ticket] = now;
}

}  // namespace facegate::detail
