// An UpstreamCall waits in its model's Lane until the lane's RateLimiter gives it a token (or
// its deadline passes), then runs as a transfer on the forwarder's NetworkLoop. The token is
// spent when the request is written (PREREQFUNCTION), as in the detector client, so the
// service never sees more than the model's RPS in any window of 1 s + margin.
#include "serve/forwarder.hpp"

#include <curl/curl.h>

#include <deque>
#include <map>

#include "detect/service_request.hpp"
#include "detect/rate_limiter.hpp"
#include "facegate/fetch.hpp"
#include "net/loop.hpp"

namespace facegate::detail {
namespace {

using Clock = std::chrono::steady_clock;

// How long the thread's loop runs before it looks at its inbox again; submit() wakes it
// earlier (TransferLoop::run_for returns after a wakeup).
constexpr std::chrono::milliseconds kInboxPoll{200};

UpstreamAnswer refusal(UpstreamAnswer::Kind kind, std::string detail, std::string retry_after = {}) {
  UpstreamAnswer answer;
  answer.kind = kind;
  answer.detail = std::move(detail);
  answer.retry_after = std::move(retry_after);
  return answer;
}

}  // namespace

struct Forwarder::Loop {
  struct Lane;
  /// One call on its way: its easy handle and what came back.
  struct Job {
    UpstreamCall call;
    Lane* lane = nullptr;
    Loop* loop = nullptr;
    Clock::time_point deadline;
    RequestHandle handle;
    std::optional<std::size_t> ticket;
    std::uint32_t writes = 0;
    bool too_large = false;
    UpstreamAnswer answer;
  };

  /// One model's rate limiter and the calls waiting for it, oldest first.
  struct Lane {
    Lane(std::string model_name, std::uint32_t per_second, Clock::duration window)
        : model(std::move(model_name)), per_second(per_second), limiter(per_second, window) {}
    std::string model;
    std::uint32_t per_second;
    RateLimiter limiter;
    std::deque<std::shared_ptr<Job>> waiting;
    std::optional<Clock::time_point> wakeup;
  };

  explicit Loop(const ForwarderOptions& forwarder_options)
      : options(forwarder_options),
        network(NetworkLoopOptions{.max_transfers = 256, .max_transfers_per_host = 256}) {}

  const ForwarderOptions& options;
  NetworkLoop network;
  std::map<std::string, Lane, std::less<>> lanes;

  Lane& lane_for(const ModelRules& model) {
    auto found = lanes.find(model.name);
    if (found != lanes.end()) return found->second;
    const auto rps = options.requests_per_second.value_or(model.rate.requests_per_second);
    return lanes
        .try_emplace(model.name, model.name, rps, std::chrono::seconds{1} + options.rate_window_margin)
        .first->second;
  }

  void report_depth(const Lane& lane) const {
    if (options.metrics != nullptr) options.metrics->set_queue_depth(lane.model, lane.waiting.size());
  }

  /// Seconds a caller refused for the queue should wait: the queue drained at the lane's rate.
  std::string retry_after(const Lane& lane) const {
    return std::to_string(1 + lane.waiting.size() / std::max<std::uint32_t>(lane.per_second, 1));
  }

  void accept(UpstreamCall call) {
    Lane& lane = lane_for(*call.model);
    if (lane.waiting.size() >= options.queue_limit) {
      auto done = std::move(call.done);
      return done(refusal(UpstreamAnswer::Kind::queue_full,
                          "the queue for " + lane.model + " is full (" +
                              std::to_string(options.queue_limit) + " requests wait for a rate slot)",
                          retry_after(lane)));
    }
    auto job = std::make_shared<Job>();
    job->call = std::move(call);
    job->lane = &lane;
    job->loop = this;
    job->deadline = Clock::now() + options.queue_wait;
    lane.waiting.push_back(std::move(job));
    pump(lane);
  }

  /// Ends the calls whose deadline passed, then starts the waiting ones while tokens are free;
  /// otherwise arranges to be called again at the next release or deadline.
  void pump(Lane& lane) {
    const auto now = Clock::now();
    while (!lane.waiting.empty() && lane.waiting.front()->deadline <= now) {
      auto job = std::move(lane.waiting.front());
      lane.waiting.pop_front();
      finish(*job, refusal(UpstreamAnswer::Kind::queue_timeout,
                           "no rate slot for " + lane.model + " within " +
                               std::to_string(options.queue_wait.count()) + " ms",
                           retry_after(lane)));
    }
    while (!lane.waiting.empty()) {
      const auto ticket = lane.limiter.try_acquire(now);
      if (!ticket) break;
      auto job = std::move(lane.waiting.front());
      lane.waiting.pop_front();
      start(std::move(job), *ticket);
    }
    report_depth(lane);
    if (lane.waiting.empty()) return;
    auto at = lane.waiting.front()->deadline;
    if (const auto release = lane.limiter.next_release()) at = std::min(at, *release);
    wake_at(lane, at);
  }

  void wake_at(Lane& lane, Clock::time_point at) {
    if (lane.wakeup && *lane.wakeup <= at) return;
    lane.wakeup = at;
    network.transfers().schedule(at, [this, lane = &lane, at] {
      if (lane->wakeup == at) lane->wakeup.reset();
      pump(*lane);
    });
  }

  void start(std::shared_ptr<Job> job, std::size_t ticket) {
    job->ticket = ticket;
    if (std::string problem = configure(*job); !problem.empty()) {
      job->lane->limiter.unused(ticket, Clock::now());
      return finish(*job, refusal(UpstreamAnswer::Kind::not_sent, std::move(problem)));
    }
    CURL* easy = job->handle.easy;
    std::string host = TransferLoop::host_key(job->call.url);
    network.transfers().add(easy, std::move(host), {},
                            [this, job = std::move(job)](CURLcode code) { transfer_done(*job, code); });
  }

  std::string configure(Job& job) {
    FetchOptions transfer;
    transfer.connect_timeout = options.connect_timeout;
    transfer.ca_file = options.ca_file;
    ServiceRequest post;
    post.url = &job.call.url;
    post.header_lines = job.call.headers;
    post.body = &job.call.body;
    post.timeout = options.timeout;
    post.write = collect_body;
    post.write_data = &job;
    post.before_request = before_request;
    post.before_request_data = &job;
    return open_service_request(job.handle, transfer, post);
  }

  static size_t collect_body(char* data, size_t size, size_t count, void* user) {
    auto* job = static_cast<Job*>(user);
    const std::size_t bytes = size * count;
    if (job->answer.body.size() + bytes > job->loop->options.max_response_bytes) {
      job->too_large = true;
      return CURL_WRITEFUNC_ERROR;
    }
    job->answer.body.append(data, bytes);
    return bytes;
  }

  /// The request is about to be written: its token is spent from now. A second call in one
  /// transfer is libcurl resending on a new connection; the first copy may have arrived.
  static int before_request(void* user, char*, char*, int, int) {
    auto* job = static_cast<Job*>(user);
    if (++job->writes > 1) return CURL_PREREQFUNC_ABORT;
    Lane& lane = *job->lane;
    lane.limiter.sent(*job->ticket, Clock::now());
    if (const auto at = lane.limiter.next_release(); at && !lane.waiting.empty()) {
      job->loop->wake_at(lane, *at);
    }
    return CURL_PREREQFUNC_OK;
  }

  void transfer_done(Job& job, CURLcode code) {
    Lane& lane = *job.lane;
    if (job.writes == 0) lane.limiter.unused(*job.ticket, Clock::now());
    UpstreamAnswer answer = std::move(job.answer);
    long status = 0;
    curl_easy_getinfo(job.handle.easy, CURLINFO_RESPONSE_CODE, &status);
    answer.status = static_cast<int>(status);
    const char* why = job.handle.error_text;
    const std::string failure =
        curl_easy_strerror(code) + (why[0] != '\0' ? " (" + std::string(why) + ")" : "");
    if (code == CURLE_OK) {
      answer.kind = UpstreamAnswer::Kind::answered;
      answer.content_type = header_value(job.handle.easy, "Content-Type");
      answer.retry_after = header_value(job.handle.easy, "Retry-After");
    } else if (job.too_large) {
      answer.kind = UpstreamAnswer::Kind::too_large;
      answer.detail = "the upstream answer is longer than " +
                      std::to_string(options.max_response_bytes) + " bytes";
    } else if (job.writes == 0) {
      answer.kind = UpstreamAnswer::Kind::not_sent;
      answer.detail = "nothing was sent upstream: " + failure;
    } else {
      answer.kind = UpstreamAnswer::Kind::possibly_billed;
      answer.detail = "the request was sent upstream, then: " + failure;
    }
    finish(job, std::move(answer));
    pump(lane);
  }

  static std::string header_value(CURL* easy, const char* name) {
    curl_header* header = nullptr;
    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK) return {};
    return header->value;
  }

  static void finish(Job& job, UpstreamAnswer answer) {
    auto done = std::move(job.call.done);
    done(std::move(answer));
  }
};

Forwarder::Forwarder(ForwarderOptions options)
    : options_(std::move(options)), loop_(std::make_unique<Loop>(options_)), thread_([this] { run(); }) {}

Forwarder::~Forwarder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  arrived_.notify_all();
  loop_->network.transfers().wakeup();
  thread_.join();
}

void Forwarder::submit(UpstreamCall call) {
  {
    std::lock_guard lock(mutex_);
    inbox_.push_back(std::move(call));
  }
  arrived_.notify_all();
  loop_->network.transfers().wakeup();
}

void Forwarder::run() {
  TransferLoop& transfers = loop_->network.transfers();
  for (;;) {
    std::vector<UpstreamCall> arrived;
    {
      std::unique_lock lock(mutex_);
      if (!transfers.has_work()) {
        arrived_.wait(lock, [this] { return stopping_ || !inbox_.empty(); });
      }
      if (stopping_ && inbox_.empty() && !transfers.has_work()) return;
      arrived.swap(inbox_);
    }
    for (UpstreamCall& call : arrived) loop_->accept(std::move(call));
    transfers.run_for(kInboxPoll);
  }
}

}  // namespace facegate::detail
