// The gateway's upstream side: requests that passed locally, sent to the real service at each
// model's rate (docs/service.md#rate-limits), one RateLimiter per model shared by every caller,
// with a bounded queue of requests waiting for a rate slot.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facegate/rules.hpp"
#include "serve/metrics.hpp"

namespace facegate::detail {

/// What became of one upstream call.
struct UpstreamAnswer {
  /// How it ended.
  enum class Kind : std::uint8_t {
    answered,         ///< the service answered: status, body and headers as they came
    queue_full,       ///< the model's queue was full: nothing sent
    queue_timeout,    ///< no rate slot within the queue's deadline: nothing sent
    not_sent,         ///< the connection failed before the request was written
    possibly_billed,  ///< written, then lost (timeout, reset): may have been billed
    too_large,        ///< the answer was longer than the limit: may have been billed
  };
  Kind kind = Kind::not_sent;  ///< how it ended
  int status = 0;              ///< HTTP status of an answer; 0 otherwise
  std::string body;            ///< the answer's body, byte for byte
  std::string content_type;    ///< its Content-Type; may be empty
  std::string retry_after;     ///< its Retry-After verbatim, or the gateway's own for a 429
  std::string detail;          ///< why, for the kinds other than answered
};

/// One request to send upstream.
struct UpstreamCall {
  const ModelRules* model = nullptr;  ///< the model (its rate lane); outlives the call
  std::string url;                    ///< {upstream}{endpoint}
  std::vector<std::string> headers;   ///< "Name: value" lines, Authorization included
  std::string body;                   ///< the caller's body, verbatim
  std::function<void(UpstreamAnswer)> done;  ///< called once, from the forwarder's thread
};

/// How the forwarder paces and bounds.
struct ForwarderOptions {
  std::optional<std::uint32_t> requests_per_second;   ///< instead of the rules' RPS
  std::chrono::milliseconds rate_window_margin{100};  ///< added to the 1-second window
  std::size_t queue_limit = 64;                       ///< waiting requests per model, at most
  std::chrono::milliseconds queue_wait{5000};         ///< longest wait for a rate slot
  std::chrono::milliseconds connect_timeout{10000};   ///< connection setup deadline
  std::chrono::milliseconds timeout{60000};           ///< whole-call deadline
  std::size_t max_response_bytes = 1 << 20;           ///< longest answer passed on
  std::string ca_file;                                ///< CA file for https upstreams
  GatewayMetrics* metrics = nullptr;                  ///< queue depth gauge; may be null
};

/// A thread with a libcurl loop that sends UpstreamCalls. submit() is safe from any thread;
/// destroying the forwarder waits for every submitted call's answer.
class Forwarder {
 public:
  /// Starts the thread.
  explicit Forwarder(ForwarderOptions options);
  /// Finishes every call submitted, then stops the thread.
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  /// Queues a call; its `done` runs once, on the forwarder's thread.
  void submit(UpstreamCall call);

 private:
  struct Loop;
  void run();

  ForwarderOptions options_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<UpstreamCall> inbox_;
  bool stopping_ = false;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace facegate::detail
