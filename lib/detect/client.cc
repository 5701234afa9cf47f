// The face-detect client on the shared NetworkLoop (docs/design.md#remote-side;
// docs/service.md#rate-limits and docs/service.md#request-failures).
//
// An image is a Job. It waits in its model's Lane until the lane's RateLimiter gives it a token,
// then runs as a transfer on the loop; between attempts it waits in a task on the loop. Nothing
// here sleeps or blocks: the loop's poll is the only wait.
#include <curl/curl.h>

#include <deque>
#include <map>
#include <random>
#include <set>

#include "detect/service_request.hpp"
#include "detect/rate_limiter.hpp"
#include "detect/retry.hpp"
#include "facegate/detect.hpp"
#include "facegate/fetch.hpp"
#include "net/loop.hpp"

namespace facegate {
namespace {

using Clock = std::chrono::steady_clock;

std::string short_description(const DetectResult& result) {
  std::string text = std::string(detect_outcome_name(result.outcome));
  if (result.http_status != 0) text += " HTTP " + std::to_string(result.http_status);
  if (!result.code.empty()) text += " " + result.code;
  return text;
}

// A refusal of the model itself, whatever the image (docs/service.md#request-failures): a
// retired, unknown or unpurchased model. Every later request for it would be refused alike.
bool is_model_refusal(const DetectResult& result) {
  return result.outcome == DetectOutcome::request_error &&
         (result.code == "ModelNotFound" || result.code == "Model.AccessDenied" ||
          result.code == "AccessDenied.Unpurchased");
}

DetectResult not_sent(std::string detail) {
  DetectResult result;
  result.outcome = DetectOutcome::not_sent;
  result.detail = std::move(detail);
  return result;
}

}  // namespace

struct DetectClient::State : std::enable_shared_from_this<DetectClient::State> {
  struct Job;
  /// One model's queue and rate limiter.
  struct Lane {
    explicit Lane(std::uint32_t per_second, Clock::duration margin)
        : limiter(per_second, std::chrono::seconds{1} + margin) {}
    detail::RateLimiter limiter;
    std::deque<std::shared_ptr<Job>> waiting;  // submitted or due for a retry, in order
    std::optional<Clock::time_point> wakeup;   // earliest pump task scheduled on the loop
    std::optional<std::string> refused;        // why nothing more is sent for this model
  };

  /// One image: its request, its easy handle (reused by every attempt) and its progress.
  struct Job {
    ResponseShape shape = ResponseShape::check_pass_humanoid;
    DetectRequest request;
    std::string host_key;
    DetectCallback on_done;
    SendGate before_first_send;  // asked once, when the first attempt holds its rate slot
    Lane* lane = nullptr;
    State* state = nullptr;  // alive while the job runs: its transfer callback owns the state

    detail::RequestHandle handle;

    std::string answer;  // the body of the current attempt's answer
    std::size_t answer_cap = 0;
    bool answer_too_large = false;
    std::uint32_t writes = 0;           // libcurl's PREREQFUNCTION calls in the current attempt
    std::optional<std::size_t> ticket;  // the rate token of the current attempt

    std::uint32_t attempts = 0;
    std::uint32_t earlier_possibly_billed = 0;
    std::string history;  // what happened to earlier attempts, for DetectResult::detail
    bool finished = false;
  };

  static size_t collect_answer(char* data, size_t size, size_t count, void* user) {
    auto* job = static_cast<Job*>(user);
    const std::size_t bytes = size * count;
    if (job->answer.size() + bytes > job->answer_cap) {
      job->answer_too_large = true;
      return CURL_WRITEFUNC_ERROR;
    }
    job->answer.append(data, bytes);
    return bytes;
  }

  static std::string curl_failure_text(const Job& job, CURLcode code) {
    std::string text = curl_easy_strerror(code);
    if (job.handle.error_text[0] != '\0') text += " (" + std::string(job.handle.error_text) + ")";
    return text;
  }

  State(NetworkLoop& network, ApiKey api_key, DetectOptions detect_options)
      : loop(network.transfers()),
        key(std::move(api_key)),
        options(std::move(detect_options)),
        base(dashscope_base_url(options.base_url, options.region)) {}

  detail::TransferLoop& loop;
  ApiKey key;
  DetectOptions options;
  std::string base;
  std::map<std::string, Lane, std::less<>> lanes;
  std::set<std::shared_ptr<Job>> backing_off;
  std::set<std::shared_ptr<Job>> on_loop;  // attempts handed to the loop and not yet done
  bool cancelled = false;                  // cancel_pending() ran: no retry goes out after it
  std::mt19937_64 random{std::random_device{}()};
  std::size_t pending = 0;

  Lane& lane_for(const ModelRules& model) {
    auto found = lanes.find(model.name);
    if (found != lanes.end()) return found->second;
    const auto rps = options.requests_per_second.value_or(model.rate.requests_per_second);
    return lanes.try_emplace(model.name, rps, options.rate_window_margin).first->second;
  }

  // -- moving jobs along -----------------------------------------------------------------

  void enqueue(const std::shared_ptr<Job>& job) {
    if (job->lane->refused) return deliver(job, not_sent(*job->lane->refused));  // a retry
    job->lane->waiting.push_back(job);
    pump(*job->lane);
  }

  /// The service refused the model as a whole: the images waiting for it, and those submitted
  /// or due for a retry later, end as not_sent; requests already sent get their own answers.
  void close_lane(Lane& lane, const DetectResult& refusal) {
    lane.refused = "the service refused the model: " + refusal.code + " (HTTP " +
                   std::to_string(refusal.http_status) +
                   ", an earlier request of this run); nothing more is sent for it";
    const std::deque<std::shared_ptr<Job>> waiting = std::move(lane.waiting);
    lane.waiting.clear();
    for (const auto& job : waiting) deliver(job, not_sent(*lane.refused));
  }

  /// Starts waiting jobs while tokens are free; otherwise arranges to be called again.
  void pump(Lane& lane) {
    while (!lane.waiting.empty()) {
      const auto ticket = lane.limiter.try_acquire(Clock::now());
      if (!ticket) {
        // No release time: every token waits for a request being written, and
        // request_written() or attempt_done() will pump again.
        if (const auto at = lane.limiter.next_release()) wake_at(lane, *at);
        return;
      }
      auto job = std::move(lane.waiting.front());
      lane.waiting.pop_front();
      if (job->attempts == 0 && job->before_first_send && !job->before_first_send()) {
        lane.limiter.unused(*ticket, Clock::now());
        withdraw(job);
        continue;
      }
      start_attempt(std::move(job), *ticket);
    }
  }

  void wake_at(Lane& lane, Clock::time_point at) {
    if (lane.wakeup && *lane.wakeup <= at) return;
    lane.wakeup = at;
    loop.schedule(at, [self = shared_from_this(), lane = &lane, at] {
      if (lane->wakeup == at) lane->wakeup.reset();
      self->pump(*lane);
    });
  }

  void start_attempt(std::shared_ptr<Job> job, std::size_t ticket) {
    ++job->attempts;
    job->writes = 0;
    job->answer.clear();
    job->answer_too_large = false;
    job->handle.error_text[0] = '\0';
    job->ticket = ticket;
    CURL* easy = job->handle.easy;
    std::string host_key = job->host_key;
    on_loop.insert(job);
    loop.add(easy, std::move(host_key), {},
             [self = shared_from_this(), job = std::move(job)](CURLcode code) {
               self->attempt_done(job, code);
             });
  }

  /// PREREQFUNCTION: the connection is ready and the request is about to be written.
  void request_written(Job& job) {
    const auto now = Clock::now();
    job.lane->limiter.sent(*job.ticket, now);
    if (const auto at = job.lane->limiter.next_release()) wake_at(*job.lane, *at);
  }

  void attempt_done(const std::shared_ptr<Job>& job, CURLcode code) {
    on_loop.erase(job);
    Lane& lane = *job->lane;
    if (job->writes == 0) lane.limiter.unused(*job->ticket, Clock::now());
    job->ticket.reset();
    std::optional<std::chrono::seconds> retry_after;
    DetectResult result = attempt_result(*job, code, retry_after);
    if (is_model_refusal(result) && !lane.refused) close_lane(lane, result);  // before a pump
    pump(lane);
    const auto decision =
        detail::decide_retry(result, job->attempts, retry_after, options, random());
    if (cancelled && decision.retry) {
      result.detail += (result.detail.empty() ? "" : "; ") +
                       std::string("not retried: the checks were cancelled");
      deliver(job, std::move(result));
      return;
    }
    if (!decision.retry) {
      if (!decision.reason.empty()) {
        result.detail += (result.detail.empty() ? "" : "; ") + decision.reason;
      }
      deliver(job, std::move(result));
      return;
    }
    if (result.outcome == DetectOutcome::possibly_billed) ++job->earlier_possibly_billed;
    job->history += "attempt " + std::to_string(job->attempts) + ": " + short_description(result) +
                    ", retried after " + std::to_string(decision.delay.count()) + " ms (" +
                    decision.reason + "); ";
    backing_off.insert(job);
    loop.schedule(Clock::now() + decision.delay, [self = shared_from_this(), job] {
      if (job->finished) return;
      self->backing_off.erase(job);
      self->enqueue(job);
    });
  }

  DetectResult attempt_result(Job& job, CURLcode code,
                              std::optional<std::chrono::seconds>& retry_after) const {
    long status = 0;
    curl_easy_getinfo(job.handle.easy, CURLINFO_RESPONSE_CODE, &status);
    DetectResult result;
    if (code == CURLE_OK) {
      result = parse_detect_response(job.shape, static_cast<int>(status), job.answer);
      curl_header* header = nullptr;
      if (curl_easy_header(job.handle.easy, "Retry-After", 0, CURLH_HEADER, -1, &header) ==
          CURLHE_OK) {
        retry_after = detail::parse_retry_after(header->value, std::chrono::system_clock::now());
      }
    } else if (job.answer_too_large) {
      result.outcome = DetectOutcome::bad_response;
      result.http_status = static_cast<int>(status);
      result.detail = "the answer is larger than " + std::to_string(job.answer_cap) + " bytes";
    } else if (job.writes == 0) {
      result.outcome = DetectOutcome::transport_error;
      result.detail = "nothing was sent: " + curl_failure_text(job, code);
    } else {
      result.outcome = DetectOutcome::possibly_billed;
      result.http_status = static_cast<int>(status);
      result.detail =
          job.writes > 1
              ? "the connection died after the request was written; libcurl's resend on a new "
                "connection was refused (it may be billed twice)"
              : "the request was sent, then: " + curl_failure_text(job, code);
    }
    scrub(result);
    return result;
  }

  void scrub(DetectResult& result) const {
    for (std::string* text :
         {&result.code, &result.message, &result.request_id, &result.bodystyle, &result.detail}) {
      *text = key.scrub(*text);
    }
  }

  void deliver(const std::shared_ptr<Job>& job, DetectResult result) {
    job->finished = true;
    result.attempts = job->attempts;
    result.earlier_possibly_billed = job->earlier_possibly_billed;
    if (!job->history.empty()) result.detail = key.scrub(job->history) + result.detail;
    --pending;
    auto on_done = std::move(job->on_done);
    on_done(std::move(result));
  }

  /// Ends a job its gate withdrew, from the loop (pump may run inside submit).
  void withdraw(const std::shared_ptr<Job>& job) {
    job->finished = true;
    loop.post([self = shared_from_this(), job] {
      DetectResult result;
      result.outcome = DetectOutcome::not_sent;
      result.detail = "not sent: withdrawn before the first attempt";
      self->deliver(job, std::move(result));
    });
  }

  /// Ends a submission that cannot be sent, from the loop (callbacks never run inside submit).
  void refuse(DetectCallback& on_done, std::string detail) {
    DetectResult result = not_sent(key.scrub(detail));
    ++pending;
    loop.post([self = shared_from_this(), on_done = std::move(on_done),
               result = std::move(result)]() mutable {
      --self->pending;
      on_done(std::move(result));
    });
  }

  // -- setting up a job ------------------------------------------------------------------

  // Sets up the job's easy handle; returns why it could not be, or "".
  std::string configure(Job& job) {
    std::vector<std::string> header_lines;
    header_lines.push_back("Authorization: Bearer " + std::string(key.reveal()));
    for (const auto& header : job.request.headers) {
      header_lines.push_back(header.name + ": " + header.value);
    }
    const FetchOptions transfer = detail::service_transfer_options(options);
    detail::ServiceRequest post;
    post.url = &job.request.url;
    post.header_lines = header_lines;
    post.body = &job.request.body;
    post.timeout = options.request_timeout;
    post.write = collect_answer;
    post.write_data = &job;
    post.before_request = on_prerequest;
    post.before_request_data = &job;
    return detail::open_service_request(job.handle, transfer, post);
  }

  /// Called by libcurl when a connection is ready, before the request is written on it. A
  /// second call in one attempt is libcurl resending on a new connection after a reused one
  /// died: the first copy may have reached the service, so the resend is refused.
  static int on_prerequest(void* user, char*, char*, int, int) {
    auto* job = static_cast<Job*>(user);
    if (++job->writes > 1) return CURL_PREREQFUNC_ABORT;
    job->state->request_written(*job);
    return CURL_PREREQFUNC_OK;
  }
};

DetectClient::DetectClient(NetworkLoop& loop, ApiKey key, DetectOptions options)
    : state_(std::make_shared<State>(loop, std::move(key), std::move(options))) {}

DetectClient::~DetectClient() = default;

void DetectClient::submit(const ModelRules& model, std::string image_url,
                          std::span<const Parameter> parameters, DetectCallback on_done,
                          SendGate before_first_send) {
  State& state = *state_;
  if (state.key.empty()) {
    return state.refuse(on_done,
                        "no API key: set DASHSCOPE_API_KEY or DASHSCOPE_API_KEY_FILE_PATH");
  }
  if (std::string problem = base_url_problem(state.base); !problem.empty()) {
    return state.refuse(on_done, std::move(problem));
  }
  State::Lane& lane = state.lane_for(model);
  if (lane.refused) return state.refuse(on_done, *lane.refused);
  auto job = std::make_shared<State::Job>();
  job->shape = model.response;
  job->request = build_detect_request(model, state.base, image_url, parameters);
  job->host_key = detail::TransferLoop::host_key(job->request.url);
  job->on_done = std::move(on_done);
  job->before_first_send = std::move(before_first_send);
  job->answer_cap = state.options.max_response_bytes;
  job->lane = &lane;
  job->state = &state;
  if (std::string problem = state.configure(*job); !problem.empty()) {
    return state.refuse(job->on_done, std::move(problem));
  }
  ++state.pending;
  state.enqueue(job);
}

DetectRequest DetectClient::request_for(const ModelRules& model, std::string_view image_url,
                                        std::span<const Parameter> parameters) const {
  return build_detect_request(model, state_->base, image_url, parameters);
}

void DetectClient::cancel_pending() {
  State& state = *state_;
  state.cancelled = true;
  std::vector<std::shared_ptr<State::Job>> cancelled(state.backing_off.begin(),
                                                     state.backing_off.end());
  state.backing_off.clear();
  for (auto& [name, lane] : state.lanes) {
    cancelled.insert(cancelled.end(), lane.waiting.begin(), lane.waiting.end());
    lane.waiting.clear();
  }
  // Attempts on the loop whose request has not been written (queued behind the loop's limits,
  // or still connecting) are taken back; their attempt did not happen.
  for (auto it = state.on_loop.begin(); it != state.on_loop.end();) {
    const std::shared_ptr<State::Job>& job = *it;
    if (job->writes > 0 || !state.loop.remove(job->handle.easy)) {
      ++it;
      continue;
    }
    job->lane->limiter.unused(*job->ticket, Clock::now());
    job->ticket.reset();
    --job->attempts;
    cancelled.push_back(job);
    it = state.on_loop.erase(it);
  }
  for (const auto& job : cancelled) {
    state.deliver(job, not_sent(job->attempts == 0 ? "cancelled before it was sent"
                                                   : "cancelled while waiting to be sent again"));
  }
}

std::size_t DetectClient::pending() const noexcept { return state_->pending; }

const std::string& DetectClient::base_url() const noexcept { return state_->base; }

DetectResult detect_one(const ModelRules& model, std::string_view image_url, const ApiKey& key,
                        const DetectOptions& options, std::span<const Parameter> parameters) {
  NetworkLoop loop;
  DetectResult result;
  {
    DetectClient client(loop, key, options);
    client.submit(model, std::string(image_url), parameters,
                  [&result](DetectResult done) { result = std::move(done); });
  }
  loop.run();
  return result;
}

}  // namespace facegate
