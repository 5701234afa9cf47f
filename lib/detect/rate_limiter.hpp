// Pacing requests to a model's documented RPS (docs/service.md#rate-limits).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace facegate::detail {

/// A token bucket of `per_window` tokens in which a spent token comes back exactly one
/// window after the request it paid for was sent, not at a steady drip. A steady bucket of
/// rate r and capacity b lets b + r requests into some 1-second window; this one lets at most
/// `per_window` requests be sent in any window, which is what the service counts.
///
/// A token is taken when a request is handed to the network and held until the request is
/// actually written (connection set up: sent()), then returns one window later. A request that
/// never went out (connection refused) gives its token back at once (unused()).
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  /// `per_window` >= 1 (0 is treated as 1); `window` is the service's second plus a margin.
  RateLimiter(std::uint32_t per_window, Clock::duration window);

  /// Takes a token if one is free at `now`; returns its ticket.
  std::optional<std::size_t> try_acquire(Clock::time_point now);
  /// When the next held token comes back; nullopt when every token waits for a request
  /// that has not been written yet (sent() or unused() will free one).
  std::optional<Clock::time_point> next_release() const;
  /// The request of `ticket` was written at `at`: its token returns at `at + window`.
  void sent(std::size_t ticket, Clock::time_point at);
  /// The request of `ticket` was never written: its token returns now.
  void unused(std::size_t ticket, Clock::time_point now);

 private:
  static constexpr Clock::time_point kHeld = Clock::time_point::max();
  Clock::duration window_;
  std::vector<Clock::time_point> free_at_;  // one entry per token
};

}  // namespace facegate::detail
