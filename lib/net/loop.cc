#include "net/loop.hpp"

#include <algorithm>
#include <mutex>
#include <thread>

namespace facegate::detail {
namespace {

// libcurl 7.84+ makes curl_global_init thread-safe; once per process, never cleaned up, as
// other libcurl users in the process may still need it.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Longest single wait, so that a loop with nothing scheduled still notices new tasks.
constexpr std::chrono::milliseconds kLongestPoll{1000};

}  // namespace

TransferLoop::TransferLoop(const NetworkLoopOptions& options) : options_(options) {
  init_curl_once();
  options_.max_transfers = std::max<std::uint32_t>(options_.max_transfers, 1);
  options_.max_transfers_per_host = std::max<std::uint32_t>(options_.max_transfers_per_host, 1);
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return;
  // HTTP/2 streams share one connection per host where the server offers it.
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, long{CURLPIPE_MULTIPLEX});
  curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, long{options_.max_transfers});
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, long{options_.max_transfers_per_host});
  // Keep idle connections for reuse by later URLs of the same hosts.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, long{options_.max_transfers});
}

TransferLoop::~TransferLoop() {
  for (const auto& entry : running_) curl_multi_remove_handle(multi_, entry.first);
  // Callbacks may own the easy handles: drop them only once no handle is in the multi.
  running_.clear();
  queued_.clear();
  tasks_.clear();
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

std::string TransferLoop::host_key(std::string_view url) {
  CURLU* parsed = curl_url();
  std::string key(url);
  if (parsed == nullptr) return key;
  const std::string text(url);
  if (curl_url_set(parsed, CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    char* port = nullptr;
    if (curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      key = std::string(scheme) + "://" + host + ":" + port;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(parsed);
  return key;
}

void TransferLoop::add(CURL* easy, std::string host_key, TransferStart on_start,
                       TransferDone on_done) {
  Transfer transfer{easy, std::move(host_key), std::move(on_start), std::move(on_done)};
  if (multi_ == nullptr) {
    // No multi handle (out of memory at construction): fail the transfer from the loop.
    post([done = std::move(transfer.on_done)] { done(CURLE_FAILED_INIT); });
    return;
  }
  // A free slot is taken at once: from a completion callback, that is the slot just freed,
  // so a started URL's further range goes ahead of the queue.
  if (can_start(transfer)) {
    start(std::move(transfer));
  } else {
    queued_.push_back(std::move(transfer));
  }
}

void TransferLoop::schedule(Clock::time_point when, std::function<void()> task) {
  tasks_.emplace(when, std::move(task));
}

bool TransferLoop::can_start(const Transfer& transfer) const {
  if (running_.size() >= options_.max_transfers) return false;
  auto it = running_per_host_.find(transfer.host);
  return it == running_per_host_.end() || it->second < options_.max_transfers_per_host;
}

void TransferLoop::start(Transfer transfer) {
  if (transfer.on_start) transfer.on_start();
  CURL* easy = transfer.easy;
  const CURLMcode added = curl_multi_add_handle(multi_, easy);
  if (added != CURLM_OK) {
    post([done = std::move(transfer.on_done)] { done(CURLE_FAILED_INIT); });
    return;
  }
  ++running_per_host_[transfer.host];
  running_.emplace(easy, std::move(transfer));
}

bool TransferLoop::remove(CURL* easy) {
  const auto queued = std::find_if(queued_.begin(), queued_.end(),
                                   [easy](const Transfer& transfer) { return transfer.easy == easy; });
  if (queued != queued_.end()) {
    queued_.erase(queued);
    return true;
  }
  const auto running = running_.find(easy);
  if (running == running_.end()) return false;
  curl_multi_remove_handle(multi_, easy);
  release_host_slot(running->second.host);
  running_.erase(running);
  return true;
}

void TransferLoop::release_host_slot(const std::string& host) {
  if (auto slot = running_per_host_.find(host); slot != running_per_host_.end()) {
    if (--slot->second == 0) running_per_host_.erase(slot);
  }
}

// First-come first-served, except that a transfer held back by its host's limit does not
// block transfers to other hosts behind it.
void TransferLoop::start_queued() {
  for (auto it = queued_.begin(); it != queued_.end() && running_.size() < options_.max_transfers;) {
    if (can_start(*it)) {
      Transfer transfer = std::move(*it);
      it = queued_.erase(it);
      start(std::move(transfer));
    } else {
      ++it;
    }
  }
}

void TransferLoop::finish_completed() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    const CURLcode result = message->data.result;
    auto it = running_.find(easy);
    if (it == running_.end()) continue;
    Transfer transfer = std::move(it->second);
    running_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    release_host_slot(transfer.host);
    // The callback may add this handle again (a further range); see add().
    transfer.on_done(result);
  }
}

void TransferLoop::run_due_tasks() {
  const auto now = Clock::now();
  while (!tasks_.empty() && tasks_.begin()->first <= now) {
    auto task = std::move(tasks_.begin()->second);
    tasks_.erase(tasks_.begin());
    task();
  }
}

void TransferLoop::wakeup() noexcept {
  woken_.store(true);
  if (multi_ != nullptr) curl_multi_wakeup(multi_);
}

bool TransferLoop::has_work() const noexcept {
  return !running_.empty() || !queued_.empty() || !tasks_.empty();
}

void TransferLoop::step(Clock::time_point until) {
  start_queued();
  if (!running_.empty()) {
    int still_running = 0;
    curl_multi_perform(multi_, &still_running);
    finish_completed();
  }
  run_due_tasks();
  start_queued();
  if (!has_work()) return;

  // Rounded up: a wait rounded down to 0 would spin until a task is due.
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
  wait = std::min(wait, kLongestPoll);
  if (!tasks_.empty()) {
    wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(tasks_.begin()->first -
                                                                       Clock::now()));
  }
  long curl_timeout = -1;
  if (!running_.empty() && curl_multi_timeout(multi_, &curl_timeout) == CURLM_OK &&
      curl_timeout >= 0) {
    wait = std::min(wait, std::chrono::milliseconds(curl_timeout));
  }
  wait = std::max(wait, std::chrono::milliseconds(0));
  if (multi_ == nullptr) {
    std::this_thread::sleep_for(wait);
    return;
  }
  curl_multi_poll(multi_, nullptr, 0, static_cast<int>(wait.count()), nullptr);
}

bool TransferLoop::run_for(std::chrono::milliseconds max_wait) {
  const auto until = Clock::now() + max_wait;
  do {
    step(until);
  } while (has_work() && Clock::now() < until && !woken_.exchange(false));
  return has_work();
}

void TransferLoop::run() {
  while (has_work()) step(Clock::now() + kLongestPoll);
}

}  // namespace facegate::detail
