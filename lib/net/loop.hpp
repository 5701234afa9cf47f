// The libcurl side of facegate::NetworkLoop: one multi handle, a queue with a total and a
// per-host limit, completion callbacks and timed tasks. Header fetches (lib/net/header_fetch.cc)
// and the face-detect client add their easy handles here.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "facegate/fetch.hpp"

namespace facegate::detail {

/// Called once when a transfer ends, with libcurl's result; the easy handle has already left
/// the multi handle, so the callback may change its options and add it again.
using TransferDone = std::function<void(CURLcode result)>;
/// Called right before a queued transfer joins the multi handle (it may wait in the queue
/// first): the place to set per-transfer timeouts that should not count the wait.
using TransferStart = std::function<void()>;

class TransferLoop {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TransferLoop(const NetworkLoopOptions& options);
  ~TransferLoop();
  TransferLoop(const TransferLoop&) = delete;
  TransferLoop& operator=(const TransferLoop&) = delete;

  /// Queues a transfer. `easy` stays owned by the caller, who keeps it alive until `on_done`
  /// has run (or the loop is destroyed, which drops callbacks without calling them).
  /// `host_key` (see host_key()) selects the per-host limit.
  void add(CURL* easy, std::string host_key, TransferStart on_start, TransferDone on_done);
  /// Takes back a transfer that was added and has not ended, from the queue or from the multi
  /// handle; its callbacks are dropped without being called. False when `easy` is not here.
  bool remove(CURL* easy);
  /// Runs `task` from the loop at or after `when` (backoff, rate limits, deferred results).
  void schedule(Clock::time_point when, std::function<void()> task);
  /// Runs `task` from the loop as soon as it runs.
  void post(std::function<void()> task) { schedule(Clock::now(), std::move(task)); }

  /// See NetworkLoop::run_for. Also returns, after the current step, once wakeup() was
  /// called (since the last return), so that a thread feeding the loop sees new work at once.
  bool run_for(std::chrono::milliseconds max_wait);
  /// See NetworkLoop::run.
  void run();
  /// Ends the loop's current wait early. The one member that is safe from any thread.
  void wakeup() noexcept;
  /// True when transfers or tasks are left.
  bool has_work() const noexcept;

  /// "scheme://host:port" of a URL, the key of the per-host limit; the URL itself when
  /// libcurl cannot parse it.
  static std::string host_key(std::string_view url);

 private:
  struct Transfer {
    CURL* easy = nullptr;
    std::string host;
    TransferStart on_start;
    TransferDone on_done;
  };

  bool can_start(const Transfer& transfer) const;
  void start_queued();
  void start(Transfer transfer);
  void release_host_slot(const std::string& host);
  void finish_completed();
  void run_due_tasks();
  void step(Clock::time_point until);

  CURLM* multi_ = nullptr;
  NetworkLoopOptions options_;
  std::deque<Transfer> queued_;
  std::unordered_map<CURL*, Transfer> running_;
  std::unordered_map<std::string, std::uint32_t> running_per_host_;
  std::multimap<Clock::time_point, std::function<void()>> tasks_;
  std::atomic<bool> woken_{false};  // wakeup() was called: run_for returns after its step
};

}  // namespace facegate::detail
