// facegate::Checker (include/facegate/check.hpp): admission, the local pool, the network
// thread and delivery. Each accepted input is "open" from submit() until its record has been
// handed to the callback; every path through this file ends an open input in deliver().
#include <simdjson.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <semaphore>
#include <thread>
#include <unordered_map>

#include "check/summary.hpp"
#include "detect/region.hpp"
#include "facegate/check.hpp"
#include "net/header_fetch.hpp"
#include "net/loop.hpp"
#include "rules/internal.hpp"
#include "upload/policy.hpp"
#include "upload/uploader.hpp"

namespace facegate {
namespace {

using Clock = std::chrono::steady_clock;

// One accepted input on its way: the input and the record it is becoming.
struct Job {
  CheckInput input;
  const ModelRules* model = nullptr;  // null in probe-only mode
  std::vector<Parameter> parameters;  // what the request would send
  std::vector<Parameter> judged;      // what evaluate() sees: those, and any the model lacks
  std::optional<ImageIdentity> file;  // a local pass to upload: its identity (online mode)
  CheckRecord record;
};

DetectResult not_sent(std::string why) {
  DetectResult result;
  result.outcome = DetectOutcome::not_sent;
  result.detail = std::move(why);
  return result;
}

// The deep decode's outcome as a finding, unless it is ok: image.corrupt (warn; strict:
// reject) or image.not_decoded (info), placed before model.retired, which ends every verdict.
void add_deep_finding(Verdict& verdict, const DeepResult& deep, bool strict) {
  if (deep.ok()) return;
  const bool corrupt = deep.outcome == DeepOutcome::corrupt;
  const Severity severity = !corrupt ? Severity::info : strict ? Severity::reject : Severity::warn;
  Finding finding{corrupt ? "image.corrupt" : "image.not_decoded", severity,
                  (corrupt ? "the image data is cut short or corrupt: " : "not decoded: ") + deep.reason,
                  {}, std::string(deep_outcome_name(deep.outcome))};
  const auto retired = std::find_if(verdict.findings.begin(), verdict.findings.end(),
                                    [](const Finding& f) { return f.code == "model.retired"; });
  verdict.findings.insert(retired, std::move(finding));
  if (severity == Severity::reject) verdict.decision = Decision::reject;
}

// deep_decode_file reads a file again from its start: a stream (a pipe, a FIFO), which the
// probe has read already, cannot be, and opening a FIFO could wait for a writer for ever.
bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

DeepResult deep_decode_input(const CheckInput& input, const ImageInfo& header, const DeepLimits& limits) {
  if (input.kind == CheckInput::Kind::memory) return deep_decode(input.bytes, header, limits);
  if (!is_regular_file(input.source)) {
    DeepResult stream;
    stream.outcome = DeepOutcome::not_checked;
    stream.reason = "not a regular file: a stream is read once, by the header check";
    return stream;
  }
  return deep_decode_file(input.source, header, limits);
}

// The most a URL's body may take for the deep check: the bound on files read, or the model's
// file-size limit when it is smaller (the service takes nothing larger).
std::uint64_t deep_download_cap(const ModelRules& model, const DeepLimits& limits) {
  if (!model.file_size) return limits.max_file_bytes;
  return std::min(limits.max_file_bytes, model.file_size->max_bytes);
}

// A download that brought no body to decode: over the cap (refused) or failed (io).
DeepResult failed_download(const Error& error) {
  DeepResult result;
  result.outcome = error.code == ErrorCode::byte_cap ? DeepOutcome::refused : DeepOutcome::io;
  result.reason = "the download of the whole image failed: " +
                  std::string(error_code_name(error.code)) + ": " + error.message;
  return result;
}

// The region the detector's calls come from (DetectOptions::region, "" = the default).
std::string_view call_region(const DetectOptions& detect) {
  return detect.region.empty() ? kDefaultRegion : std::string_view(detect.region);
}

// Why the options' region cannot be used: not a region at all, or (not offline) one that does
// not offer the default model by a rule that rejects. Empty when it can.
std::string region_problem(const CheckerOptions& options, const ModelRules* default_model) {
  const std::string_view region = call_region(options.detect);
  if (find_region(region) == nullptr) {
    return "unknown region '" + std::string(region) + "' (known: " + detail::region_names() + ")";
  }
  if (options.remote == RemoteMode::offline || default_model == nullptr) return {};
  const auto finding = detail::region_finding(*default_model, region, options.strict);
  if (!finding || finding->severity != Severity::reject) return {};
  return finding->message;
}

bool is_valid_json(std::string_view text) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(text);
  return parser.parse(padded).error() == simdjson::SUCCESS;
}

}  // namespace

CheckInput CheckInput::from_text(std::string text) {
  CheckInput input;
  input.kind = looks_like_url(text) ? Kind::url : Kind::path;
  input.source = std::move(text);
  return input;
}

CheckInput CheckInput::from_path(std::string path) {
  CheckInput input;
  input.kind = Kind::path;
  input.source = std::move(path);
  return input;
}

CheckInput CheckInput::from_walk(WalkEntry entry) {
  if (!entry.ok()) return from_failure(std::move(entry.path), std::move(entry.error));
  return from_path(std::move(entry.path));
}

CheckInput CheckInput::from_memory(std::string label, std::vector<std::byte> bytes) {
  CheckInput input;
  input.kind = Kind::memory;
  input.source = std::move(label);
  input.bytes = std::move(bytes);
  return input;
}

CheckInput CheckInput::from_failure(std::string source, Error why) {
  CheckInput input;
  input.kind = Kind::failed;
  input.source = std::move(source);
  input.failure = std::move(why);
  return input;
}

bool CheckRecord::passed() const noexcept {
  if (!verdict) return probe.ok();
  if (verdict->decision != Decision::pass) return false;
  if (upload && upload->outcome == UploadOutcome::failed) return false;
  return !remote || remote->passed || remote->outcome == DetectOutcome::not_sent;
}

struct Checker::State {
  CheckerOptions options;
  RecordCallback on_record;
  const ModelRules* default_model = nullptr;

  // Admission: open inputs, sequence numbers, cancellation.
  std::mutex admit_mutex;
  std::condition_variable admit_changed;
  std::size_t open = 0;
  std::size_t waiting_submitters = 0;  // submit() and finish() calls waiting for room
  std::uint64_t next_sequence = 0;
  std::atomic<bool> cancelled{false};

  // Delivery: one callback at a time; the summary under its own lock, so that a callback may
  // ask for it.
  std::mutex callback_mutex;
  mutable std::mutex summary_mutex;
  detail::SummaryTally tally;

  // The local pool.
  std::mutex local_mutex;
  std::condition_variable local_ready;
  std::deque<Job> local_jobs;
  unsigned idle_workers = 0;
  std::atomic<bool> stopping{false};  // set under local_mutex and net_mutex
  std::vector<std::thread> local_threads;
  std::deque<std::function<void()>> local_tasks;  // posted by the network thread: URL decodes
  // Deep decodes running at once: CheckerOptions::deep_decodes_in_flight.
  std::unique_ptr<std::counting_semaphore<>> deep_slots;

  // The network thread and its inbox.
  std::mutex net_mutex;
  std::condition_variable net_ready;
  std::deque<Job> net_jobs;
  std::deque<std::pair<std::uint64_t, DeepResult>> net_deep_done;  // URL decodes, by sequence
  detail::TransferLoop* net_loop = nullptr;  // set while the network thread runs its loop
  std::thread net_thread;
  std::optional<Ledger> ledger;  // opened by create(), then the network thread's

  void start();
  void stop();
  SubmitStatus admit(CheckInput& input, bool wait);
  Job make_job(CheckInput input, std::uint64_t sequence) const;
  void dispatch(Job job);
  void run_local();
  void post_local(std::function<void()> task);
  bool check_local(Job& job);
  bool uploads(const Job& job) const;
  void deep_check(Job& job);
  void run_network();
  void judge(Job& job, SourceKind kind) const;
  void deliver(CheckRecord record);
  void wake_network();
  class NetworkSide;
};

// ---------------------------------------------------------------------------------------------
// Admission

Job Checker::State::make_job(CheckInput input, std::uint64_t sequence) const {
  Job job;
  job.record.sequence = sequence;
  job.record.source = input.source;
  job.record.id_json = input.id_json;
  if (!input.id_json.empty() && !is_valid_json(input.id_json)) {
    input = CheckInput::from_failure(input.source, Error{ErrorCode::bad_input,
                                                         "the input's id is not valid JSON"});
    job.record.id_json.clear();
  }
  if (default_model != nullptr || !input.model.empty()) {
    job.model = input.model.empty() ? default_model : options.rules.find(input.model);
    job.record.model = input.model.empty() ? default_model->name : input.model;
    if (job.model == nullptr) {
      input = CheckInput::from_failure(
          input.source, Error{ErrorCode::bad_input, "unknown model '" + input.model + "'"});
    } else {
      const std::vector<Parameter>& given = input.parameters ? *input.parameters : options.parameters;
      job.parameters = request_parameters(*job.model, given);
      // A parameter the model does not define is not sent, but evaluate() warns about it.
      job.judged = job.parameters;
      for (const Parameter& parameter : given) {
        const bool sent = std::any_of(job.parameters.begin(), job.parameters.end(),
                                      [&](const Parameter& p) { return p.name == parameter.name; });
        if (!sent) job.judged.push_back(parameter);
      }
    }
  }
  job.input = std::move(input);
  return job;
}

SubmitStatus Checker::State::admit(CheckInput& input, bool wait) {
  std::uint64_t sequence = 0;
  {
    std::unique_lock lock(admit_mutex);
    const auto has_room = [&] { return cancelled || open < options.max_in_flight; };
    if (!wait && !has_room()) return SubmitStatus::full;
    ++waiting_submitters;
    admit_changed.wait(lock, has_room);
    --waiting_submitters;
    if (cancelled) return SubmitStatus::cancelled;
    ++open;
    sequence = next_sequence++;
  }
  dispatch(make_job(std::move(input), sequence));
  return SubmitStatus::accepted;
}

void Checker::State::dispatch(Job job) {
  if (job.input.kind == CheckInput::Kind::url) {
    {
      std::lock_guard lock(net_mutex);
      net_jobs.push_back(std::move(job));
    }
    wake_network();
    return;
  }
  bool wake = false;
  {
    std::lock_guard lock(local_mutex);
    local_jobs.push_back(std::move(job));
    wake = idle_workers > 0;
  }
  // Waking a worker costs a system call or two: only when one is idle.
  if (wake) local_ready.notify_one();
}

void Checker::State::wake_network() {
  std::lock_guard lock(net_mutex);
  net_ready.notify_one();
  if (net_loop != nullptr) net_loop->wakeup();
}

// ---------------------------------------------------------------------------------------------
// Judging and delivery

void Checker::State::judge(Job& job, SourceKind kind) const {
  CheckRecord& record = job.record;
  if (job.input.kind == CheckInput::Kind::failed && job.model == nullptr && !record.model.empty()) {
    // An unknown model: there are no rules to judge by.
    record.verdict = Verdict{Decision::error,
                             {Finding{"model.unknown", Severity::error, record.probe.error.message,
                                      {}, record.model}}};
    return;
  }
  if (options.only_images && record.probe.error.code == ErrorCode::unsupported_format) {
    record.not_an_image = true;
    return;
  }
  if (job.model == nullptr) return;  // probe-only
  Subject subject = subject_from_probe(record.probe, kind);
  if (kind == SourceKind::url) subject.url = job.input.source;
  subject.private_network_reachable = options.fetch.allow_private_network;
  subject.parameters = job.judged;
  subject.strict = options.strict;
  if (options.remote != RemoteMode::offline) subject.region = call_region(options.detect);
  subject.uploaded = uploads(job);
  record.verdict = evaluate(*job.model, subject);
}

void Checker::State::deliver(CheckRecord record) {
  {
    std::lock_guard lock(summary_mutex);
    tally.add(record, options.rules);
  }
  {
    std::lock_guard lock(callback_mutex);
    if (on_record) on_record(std::move(record));
  }
  bool wake = false;
  {
    std::lock_guard lock(admit_mutex);
    --open;
    wake = waiting_submitters > 0;
  }
  if (wake) admit_changed.notify_all();
}

// ---------------------------------------------------------------------------------------------
// The local pool: paths, memory and inputs that failed before they could be read

// A local input whose header passed, decoded whole (CheckerOptions::deep).
void Checker::State::deep_check(Job& job) {
  CheckRecord& record = job.record;
  if (!options.deep || !record.verdict || record.verdict->decision != Decision::pass) return;
  deep_slots->acquire();
  record.deep = deep_decode_input(job.input, record.probe.info, options.deep_limits);
  deep_slots->release();
  add_deep_finding(*record.verdict, *record.deep, options.strict);
}

// A local file that passed goes to the network side to be uploaded (online, dry run).
bool Checker::State::uploads(const Job& job) const {
  return options.upload && options.remote != RemoteMode::offline &&
         job.input.kind == CheckInput::Kind::path;
}

// Probes and judges a local input; false when it went on to the network side for its upload.
bool Checker::State::check_local(Job& job) {
  CheckRecord& record = job.record;
  SourceKind kind = SourceKind::local_file;
  switch (job.input.kind) {
    case CheckInput::Kind::path:
      record.probe = probe_file(job.input.source, options.file);
      break;
    case CheckInput::Kind::memory:
      record.probe = probe_memory(job.input.bytes);
      kind = SourceKind::memory;
      break;
    case CheckInput::Kind::failed:
      record.probe.error = job.input.failure;
      kind = SourceKind::none;
      break;
    case CheckInput::Kind::url:
      break;  // never queued here
  }
  judge(job, kind);
  deep_check(job);
  if (!record.verdict || record.verdict->decision != Decision::pass ||
      options.remote == RemoteMode::offline) {
    return true;
  }
  if (!uploads(job)) {
    record.remote = not_sent(job.input.kind == CheckInput::Kind::memory
                                 ? "bytes in memory are not uploaded: the service fetches only public URLs"
                                 : "a local file is not uploaded (upload is off): the service "
                                   "fetches only URLs");
    return true;
  }
  if (options.remote == RemoteMode::online) {
    Error error;
    job.file = identify_local_file(job.input.source, &error);
    if (!job.file) {
      record.remote = not_sent("the file cannot be uploaded: " + error.message);
      return true;
    }
    // The hash the upload is held to must be of the bytes judged: not of a file replaced since.
    if (job.file->content_length != record.probe.file_size) {
      record.remote = not_sent("not uploaded: the file changed while it was checked");
      return true;
    }
  }
  {
    std::lock_guard lock(net_mutex);
    net_jobs.push_back(std::move(job));
  }
  wake_network();
  return false;
}

void Checker::State::post_local(std::function<void()> task) {
  {
    std::lock_guard lock(local_mutex);
    local_tasks.push_back(std::move(task));
  }
  local_ready.notify_one();
}

// Each worker takes a few jobs at a time: one lock, and fewer wake-ups, for several files.
// A posted task goes first: an input on the network side waits for it.
void Checker::State::run_local() {
  constexpr std::size_t kBatch = 16;
  std::vector<Job> batch;
  for (;;) {
    batch.clear();
    std::function<void()> task;
    {
      std::unique_lock lock(local_mutex);
      ++idle_workers;
      local_ready.wait(lock, [&] { return stopping || !local_jobs.empty() || !local_tasks.empty(); });
      --idle_workers;
      if (!local_tasks.empty()) {
        task = std::move(local_tasks.front());
        local_tasks.pop_front();
      } else {
        if (local_jobs.empty()) return;
        // Leave work for the other workers when there is little of it.
        const std::size_t share = std::max<std::size_t>(1, local_jobs.size() / local_threads.size());
        for (std::size_t i = 0; i < std::min(kBatch, share); ++i) {
          batch.push_back(std::move(local_jobs.front()));
          local_jobs.pop_front();
        }
      }
    }
    if (task) task();
    for (Job& job : batch) {
      if (cancelled) {
        job.record.probe.error = Error{ErrorCode::cancelled, "the run was cancelled"};
      } else if (!check_local(job)) {
        continue;  // the network side delivers it
      }
      deliver(std::move(job.record));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The network thread: header fetches and detector calls on one libcurl loop

namespace {

// What the network thread holds for each of its open inputs.
struct RemoteInput {
  Job job;
  std::string image_url;             // the URL the detect call sends (a URL input's, or oss://)
  bool calling = false;              // a detector call was submitted
  std::optional<std::int64_t> row;   // its claim in the ledger
  std::optional<BeginCall> begin;    // the ledger's answer when the call was about to go out
  std::optional<Money> price;        // what the call may cost, in the spend's currency
  bool reserved = false;             // the spend counts this call already (from its upload on)
};

// What the run may still spend: calls sent whose billing is not settled count as billed.
class Spend {
 public:
  explicit Spend(const CheckerOptions& options) : max_calls_(options.max_calls), budget_(options.budget) {}

  // The price a call is counted at: in the budget's currency, else USD, else the first.
  std::optional<Money> price_of(const ModelRules& model) const {
    if (!model.price || model.price->per_image.empty()) return std::nullopt;
    if (budget_) return price_per_image(model, budget_->currency);
    if (auto usd = price_per_image(model, "USD")) return usd;
    return model.price->per_image.front();
  }

  // Why one more call of this price does not fit; empty when it does.
  std::string refusal(const std::optional<Money>& price) const {
    if (max_calls_ && calls_ + 1 > *max_calls_) {
      return "not sent: --max-calls " + std::to_string(*max_calls_) + " reached";
    }
    if (!budget_) return {};
    if (!price) return "not sent: the model has no published price in " + budget_->currency;
    if (micros_ + price->amount_micros > budget_->amount_micros) {
      return "not sent: it could take the run past the budget of " + format_money(*budget_);
    }
    return {};
  }

  void reserve(const std::optional<Money>& price) {
    ++calls_;
    if (price) micros_ += price->amount_micros;
  }

  // The call's answer is in: it costs what was billed, or may have been.
  void settle(const std::optional<Money>& price, const DetectResult& result) {
    const std::uint64_t charged = result.billed + (result.billing_uncertain() ? 1 : 0);
    calls_ = calls_ - 1 + charged;
    if (price) micros_ += price->amount_micros * (static_cast<std::int64_t>(charged) - 1);
  }

 private:
  std::optional<std::uint64_t> max_calls_;
  std::optional<Money> budget_;
  std::uint64_t calls_ = 0;
  std::int64_t micros_ = 0;
};

}  // namespace

class Checker::State::NetworkSide {
 public:
  explicit NetworkSide(Checker::State& state) : state_(state) { loop_.emplace(state.options.loop); }

  void run();

 private:
  bool take_jobs();
  void start(Job job);
  void fetched(std::uint64_t sequence, ProbeResult result);
  void judged(std::uint64_t sequence);
  void start_deep_downloads();
  void downloaded(std::uint64_t sequence, ProbeResult facts, std::vector<std::byte> body);
  void deep_decoded(std::uint64_t sequence, DeepResult result);
  void record_deep(std::uint64_t sequence, DeepResult result);
  void start_upload(std::uint64_t sequence);
  bool reuse_before_upload(std::uint64_t sequence);
  void uploaded(std::uint64_t sequence, UploadFacts facts);
  void request_call(std::uint64_t sequence);
  bool claim(std::uint64_t sequence);
  void settle_from_ledger(std::uint64_t sequence, BeginCall begin);
  void called(std::uint64_t sequence, DetectResult result);
  void finish(std::uint64_t sequence);
  void begin_cancel();
  void abandon_all();

  Checker::State& state_;
  std::optional<NetworkLoop> loop_;  // reset when the grace period ends
  std::optional<DetectClient> client_;
  std::optional<detail::Uploader> uploader_;
  std::string upload_scope_;  // the account and region an upload's oss:// URL is valid for
  std::optional<Ledger> ledger_;
  Spend spend_{state_.options};
  std::unordered_map<std::uint64_t, RemoteInput> open_;
  std::optional<Clock::time_point> grace_end_;
  // The deep check of URLs: inputs waiting for a download, and bodies held (downloading or
  // decoding), at most deep_decodes_in_flight.
  std::deque<std::uint64_t> deep_waiting_;
  unsigned deep_bodies_ = 0;
};

void Checker::State::NetworkSide::run() {
  const CheckerOptions& options = state_.options;
  if (options.remote == RemoteMode::online) {
    client_.emplace(*loop_, options.key, options.detect);
    ledger_ = std::move(state_.ledger);
    uploader_.emplace(loop_->transfers(), options.key, options.detect, client_->base_url(),
                      options.ledger_options.clock, options.loop.max_transfers_per_host);
    upload_scope_ = detail::upload_scope(options.key, client_->base_url());
  } else if (options.remote == RemoteMode::dry_run) {
    client_.emplace(*loop_, ApiKey{}, options.detect);  // builds requests only
  }
  {
    std::lock_guard lock(state_.net_mutex);
    state_.net_loop = &loop_->transfers();
  }
  for (;;) {
    const bool stopping = take_jobs();
    if (state_.cancelled && !grace_end_) begin_cancel();
    if (grace_end_ && Clock::now() >= *grace_end_) abandon_all();
    if (stopping && open_.empty()) break;
    if (loop_ && loop_->transfers().has_work()) {
      loop_->run_for(std::chrono::milliseconds(200));
      continue;
    }
    std::unique_lock lock(state_.net_mutex);
    state_.net_ready.wait_for(lock, std::chrono::milliseconds(200), [&] {
      return !state_.net_jobs.empty() || !state_.net_deep_done.empty() || state_.stopping ||
             (state_.cancelled && !grace_end_);
    });
  }
  std::lock_guard lock(state_.net_mutex);
  state_.net_loop = nullptr;
}

// Starts what the inbox holds; true once the Checker is stopping (no more jobs will come).
bool Checker::State::NetworkSide::take_jobs() {
  std::deque<Job> jobs;
  std::deque<std::pair<std::uint64_t, DeepResult>> decoded;
  bool stopping = false;
  {
    std::lock_guard lock(state_.net_mutex);
    jobs.swap(state_.net_jobs);
    decoded.swap(state_.net_deep_done);
    stopping = state_.stopping;
  }
  for (auto& done : decoded) deep_decoded(done.first, std::move(done.second));
  for (Job& job : jobs) start(std::move(job));
  return stopping;
}

void Checker::State::NetworkSide::start(Job job) {
  const std::uint64_t sequence = job.record.sequence;
  if (state_.cancelled || !loop_) {
    if (job.record.verdict) {  // a local pass, judged already
      job.record.remote = not_sent("the run was cancelled before this call was sent");
    } else {
      job.record.probe.error = Error{ErrorCode::cancelled, "the run was cancelled"};
    }
    state_.deliver(std::move(job.record));
    return;
  }
  const std::string url = job.input.source;
  const bool local = job.input.kind == CheckInput::Kind::path;
  RemoteInput input;
  input.job = std::move(job);
  open_.emplace(sequence, std::move(input));
  if (local) return start_upload(sequence);
  probe_url_async(*loop_, url, state_.options.fetch, [this, sequence](ProbeResult result) {
    fetched(sequence, std::move(result));
  });
}

void Checker::State::NetworkSide::fetched(std::uint64_t sequence, ProbeResult result) {
  auto it = open_.find(sequence);
  if (it == open_.end()) return;  // abandoned
  Job& job = it->second.job;
  job.record.probe = std::move(result);
  state_.judge(job, SourceKind::url);
  const bool pass = job.record.verdict && job.record.verdict->decision == Decision::pass;
  if (pass && state_.options.deep && state_.options.deep_urls) {
    deep_waiting_.push_back(sequence);
    return start_deep_downloads();
  }
  judged(sequence);
}

// The deep check of a URL whose header passed: its whole body is downloaded here, within
// deep_download_cap(), then decoded on the local pool (never on this thread).
void Checker::State::NetworkSide::start_deep_downloads() {
  const unsigned most = std::max(1u, state_.options.deep_decodes_in_flight);
  while (loop_ && deep_bodies_ < most && !deep_waiting_.empty()) {
    const std::uint64_t sequence = deep_waiting_.front();
    deep_waiting_.pop_front();
    const auto it = open_.find(sequence);
    if (it == open_.end()) continue;  // abandoned
    if (state_.cancelled) {  // no new download: the record stands as judged
      judged(sequence);
      continue;
    }
    const Job& job = it->second.job;
    FetchOptions whole = state_.options.fetch;
    whole.byte_cap = deep_download_cap(*job.model, state_.options.deep_limits);
    ++deep_bodies_;
    detail::start_body_fetch(loop_->transfers(), job.input.source, whole,
                             [this, sequence](ProbeResult facts, std::vector<std::byte> body) {
                               downloaded(sequence, std::move(facts), std::move(body));
                             });
  }
}

void Checker::State::NetworkSide::downloaded(std::uint64_t sequence, ProbeResult facts,
                                             std::vector<std::byte> body) {
  const auto it = open_.find(sequence);
  if (it == open_.end()) {
    --deep_bodies_;
    return start_deep_downloads();
  }
  CheckRecord& record = it->second.job.record;
  // What the download received counts with the header's bytes.
  if (record.probe.network && facts.network) {
    record.probe.network->bytes_transferred += facts.network->bytes_transferred;
    record.probe.network->requests += facts.network->requests;
  }
  if (facts.error) {
    --deep_bodies_;
    start_deep_downloads();
    return record_deep(sequence, failed_download(facts.error));
  }
  state_.post_local([state = &state_, sequence, body = std::move(body), header = record.probe.info] {
    state->deep_slots->acquire();
    DeepResult result = deep_decode(body, header, state->options.deep_limits);
    state->deep_slots->release();
    {
      std::lock_guard lock(state->net_mutex);
      state->net_deep_done.emplace_back(sequence, std::move(result));
    }
    state->wake_network();
  });
}

void Checker::State::NetworkSide::deep_decoded(std::uint64_t sequence, DeepResult result) {
  --deep_bodies_;
  start_deep_downloads();
  record_deep(sequence, std::move(result));
}

// The deep check's outcome joins the verdict; the input goes on as any judged one.
void Checker::State::NetworkSide::record_deep(std::uint64_t sequence, DeepResult result) {
  const auto it = open_.find(sequence);
  if (it == open_.end()) return;  // abandoned while it was decoded
  CheckRecord& record = it->second.job.record;
  record.deep = std::move(result);
  add_deep_finding(*record.verdict, *record.deep, state_.options.strict);
  judged(sequence);
}

// A judged URL: sent to the detector when it passes and the run is online, built only in a
// dry run, else recorded.
void Checker::State::NetworkSide::judged(std::uint64_t sequence) {
  const auto it = open_.find(sequence);
  Job& job = it->second.job;
  const bool pass = job.record.verdict && job.record.verdict->decision == Decision::pass;
  if (!pass || !client_) return finish(sequence);
  it->second.image_url = normalize_url(job.input.source);
  if (state_.options.remote == RemoteMode::dry_run) {
    job.record.dry_run = client_->request_for(*job.model, it->second.image_url, job.parameters);
    job.record.dry_run_has_key = !state_.options.key.empty();
    return finish(sequence);
  }
  it->second.price = spend_.price_of(*job.model);
  request_call(sequence);
}

// A local file that passed: shown in a dry run; else answered from the ledger, sent by an
// earlier upload's URL, or uploaded, then called like a URL.
void Checker::State::NetworkSide::start_upload(std::uint64_t sequence) {
  RemoteInput& open = open_.at(sequence);
  Job& job = open.job;
  if (state_.options.remote == RemoteMode::dry_run) {
    UploadPlan plan;
    plan.policy_url = detail::policy_url(client_->base_url(), job.model->name);
    plan.path = job.input.source;
    plan.bytes = job.record.probe.file_size.value_or(0);
    plan.object_name = detail::upload_object_name(job.input.source, "{sha256}");
    job.record.dry_run = client_->request_for(*job.model, plan.oss_url(), job.parameters);
    job.record.dry_run_upload = std::move(plan);
    job.record.dry_run_has_key = !state_.options.key.empty();
    return finish(sequence);
  }
  open.price = spend_.price_of(*job.model);
  if (reuse_before_upload(sequence)) return;
  // The call is counted from the upload on: over the budget, the upload would be for nothing.
  if (std::string refusal = spend_.refusal(open.price); !refusal.empty()) {
    job.record.remote = not_sent(std::move(refusal));
    job.record.remote->outcome = DetectOutcome::budget_exhausted;
    return finish(sequence);
  }
  spend_.reserve(open.price);
  open.reserved = true;
  detail::UploadTask task;
  task.model = job.model->name;
  task.path = job.input.source;
  task.size = job.file->content_length.value_or(0);
  task.sha256 = job.file->content_hash;
  uploader_->submit(std::move(task), [this, sequence](UploadFacts facts) {
    uploaded(sequence, std::move(facts));
  });
}

// The ledger first: a completed answer for these bytes (nothing to upload), an earlier call
// that may have been billed (nothing to send), or an upload still valid. True when settled or
// sent without a new upload.
bool Checker::State::NetworkSide::reuse_before_upload(std::uint64_t sequence) {
  if (!ledger_) return false;
  RemoteInput& open = open_.at(sequence);
  const Job& job = open.job;
  CallKey key{job.model->name, job.parameters, *job.file};
  if (std::optional<BeginCall> earlier = ledger_->reuse_call(key, state_.options.reuse)) {
    settle_from_ledger(sequence, std::move(*earlier));
    return true;
  }
  const UploadKey upload_key{job.file->content_hash, job.file->content_length.value_or(0),
                             job.model->name, upload_scope_};
  std::optional<StoredUpload> stored =
      ledger_->find_upload(upload_key, state_.options.upload_reuse_margin);
  if (!stored) return false;
  UploadFacts facts;
  facts.outcome = UploadOutcome::reused;
  facts.oss_url = stored->oss_url;
  facts.expires_at = stored->expires_at;
  open.image_url = stored->oss_url;
  open.job.record.upload = std::move(facts);
  request_call(sequence);
  return true;
}

void Checker::State::NetworkSide::uploaded(std::uint64_t sequence, UploadFacts facts) {
  const auto it = open_.find(sequence);
  if (it == open_.end()) return;  // abandoned
  RemoteInput& open = it->second;
  CheckRecord& record = open.job.record;
  if (facts.outcome == UploadOutcome::failed) {
    spend_.settle(open.price, not_sent({}));  // no call: its reservation goes
    open.reserved = false;
    if (state_.cancelled) {  // cut off by the cancel, not failed
      record.remote = not_sent("the run was cancelled before this call was sent");
      return finish(sequence);
    }
    record.remote = not_sent("not sent: the upload failed: " + facts.error);
    record.upload = std::move(facts);
    return finish(sequence);
  }
  open.image_url = facts.oss_url;
  if (ledger_ && facts.expires_at) {  // an object found there already has no known expiry
    StoredUpload stored;
    stored.oss_url = facts.oss_url;
    stored.expires_at = *facts.expires_at;
    stored.uploaded_at = stored.expires_at - kOssUrlLifetime;
    stored.bytes = facts.bytes;
    const UploadKey key{open.job.file->content_hash, open.job.file->content_length.value_or(0),
                        open.job.model->name, upload_scope_};
    if (const LedgerError error = ledger_->record_upload(key, stored)) {
      facts.error = "not remembered: " + error.message;
    }
  }
  record.upload = std::move(facts);
  request_call(sequence);
}

// Sends the call of a pass, unless the run is cancelled or the spend limits say no. The ledger
// is asked right before the first attempt goes out (claim()), so that a claim stands only for
// a request really sent.
void Checker::State::NetworkSide::request_call(std::uint64_t sequence) {
  auto it = open_.find(sequence);
  if (it == open_.end()) return;
  RemoteInput& open = it->second;
  CheckRecord& record = open.job.record;
  if (state_.cancelled) {
    record.remote = not_sent("the run was cancelled before this call was sent");
    return finish(sequence);
  }
  if (!open.reserved) {
    if (std::string refusal = spend_.refusal(open.price); !refusal.empty()) {
      record.remote = not_sent(std::move(refusal));
      record.remote->outcome = DetectOutcome::budget_exhausted;
      return finish(sequence);
    }
    spend_.reserve(open.price);
  }
  open.reserved = false;  // called() settles it
  open.calling = true;
  open.begin.reset();
  SendGate gate;
  if (ledger_) gate = [this, sequence] { return claim(sequence); };
  // The URL the fetch used (normalize_url), not a re-encoding of raw bytes by the JSON writer.
  client_->submit(*open.job.model, open.image_url, open.job.parameters,
                  [this, sequence](DetectResult r) { called(sequence, std::move(r)); },
                  std::move(gate));
}

// The ledger's word before paying: true when this process claimed the call.
bool Checker::State::NetworkSide::claim(std::uint64_t sequence) {
  auto it = open_.find(sequence);
  if (it == open_.end()) return false;
  RemoteInput& open = it->second;
  const Job& job = open.job;
  CallKey key;
  key.model = job.model->name;
  key.parameters = job.parameters;
  key.image = job.file ? *job.file : identify_url(job.input.source, job.record.probe);
  open.begin = ledger_->begin_call(key, state_.options.reuse, open.price ? &*open.price : nullptr);
  if (open.begin->outcome != BeginOutcome::claimed) return false;
  open.row = open.begin->row;
  return true;
}

// A call the ledger withdrew: its record comes from the ledger (a reused answer, an ambiguous
// earlier call, a failure), or, while another process holds the claim, it is asked again.
void Checker::State::NetworkSide::settle_from_ledger(std::uint64_t sequence, BeginCall begin) {
  RemoteInput& open = open_.at(sequence);
  std::optional<DetectResult>& remote = open.job.record.remote;
  switch (begin.outcome) {
    case BeginOutcome::claimed:
      return;  // not withdrawn
    case BeginOutcome::in_flight:
      open.calling = false;
      loop_->transfers().schedule(Clock::now() + std::chrono::seconds(1),
                                  [this, sequence] { request_call(sequence); });
      return;
    case BeginOutcome::reuse:  // the answer as it came, so a re-run's records match
      remote = std::move(begin.answer);
      break;
    case BeginOutcome::ambiguous:
      remote = std::move(begin.answer);
      remote->detail = "not resent: an earlier call (ledger row " + std::to_string(begin.row) +
                       ") may have been billed without an answer; --retry-ambiguous sends it again";
      break;
    case BeginOutcome::error:
      remote = not_sent("not sent: the ledger failed: " + begin.error.message);
      return finish(sequence);
  }
  remote->cached = true;
  remote->billed = 0;
  finish(sequence);
}

void Checker::State::NetworkSide::called(std::uint64_t sequence, DetectResult result) {
  auto it = open_.find(sequence);
  if (it == open_.end()) return;
  RemoteInput& open = it->second;
  spend_.settle(open.price, result);
  if (open.begin && open.begin->outcome != BeginOutcome::claimed) {
    BeginCall begin = std::move(*open.begin);
    open.begin.reset();
    return settle_from_ledger(sequence, std::move(begin));
  }
  if (open.row) {
    // A call that never left (cancelled while it waited for a rate slot) frees its claim.
    const bool never_sent = result.outcome == DetectOutcome::not_sent && result.attempts == 0;
    const LedgerError error =
        never_sent ? ledger_->release_claim(*open.row) : ledger_->complete_call(*open.row, result);
    if (error) result.detail += (result.detail.empty() ? "" : "; ") + ("ledger: " + error.message);
  }
  open.job.record.remote = std::move(result);
  finish(sequence);
}

void Checker::State::NetworkSide::finish(std::uint64_t sequence) {
  auto it = open_.find(sequence);
  CheckRecord record = std::move(it->second.job.record);
  open_.erase(it);
  state_.deliver(std::move(record));
}

// No new call: calls waiting for a rate slot or a backoff end as not_sent (through their
// callbacks); calls on the wire get the grace period.
void Checker::State::NetworkSide::begin_cancel() {
  grace_end_ = Clock::now() + state_.options.grace;
  if (client_) client_->cancel_pending();
  if (uploader_) uploader_->cancel_pending();
}

// The grace period is over: what is still open is recorded as it stands. A call on the wire
// may have reached the service, so it counts as possibly billed.
void Checker::State::NetworkSide::abandon_all() {
  for (auto& [sequence, open] : open_) {
    CheckRecord& record = open.job.record;
    if (open.calling) {
      DetectResult lost;
      lost.outcome = DetectOutcome::possibly_billed;
      lost.attempts = 1;
      lost.detail = "abandoned in flight when the run was cancelled: may have been billed";
      if (open.row) ledger_->complete_call(*open.row, lost);
      record.remote = std::move(lost);
    } else if (record.verdict) {
      record.remote = not_sent("the run was cancelled before this call was sent");
    } else {
      record.probe.error = Error{ErrorCode::cancelled, "the run was cancelled"};
      record.verdict.reset();
    }
    state_.deliver(std::move(record));
  }
  open_.clear();
  client_.reset();
  uploader_.reset();
  {
    std::lock_guard lock(state_.net_mutex);
    state_.net_loop = nullptr;
  }
  loop_.reset();  // drops the transfers' callbacks without calling them
  grace_end_ = Clock::time_point::max();
}

void Checker::State::run_network() { NetworkSide(*this).run(); }

// ---------------------------------------------------------------------------------------------
// Threads

void Checker::State::start() {
  unsigned threads = options.local_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  deep_slots = std::make_unique<std::counting_semaphore<>>(
      std::max<std::ptrdiff_t>(1, options.deep_decodes_in_flight));
  for (unsigned i = 0; i < threads; ++i) local_threads.emplace_back([this] { run_local(); });
  net_thread = std::thread([this] { run_network(); });
}

void Checker::State::stop() {
  {
    std::scoped_lock lock(local_mutex, net_mutex);
    stopping = true;
  }
  local_ready.notify_all();
  wake_network();
  for (std::thread& thread : local_threads) thread.join();
  net_thread.join();
}

// ---------------------------------------------------------------------------------------------
// The public side

CheckerResult Checker::create(CheckerOptions options, RecordCallback on_record) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  state->options.max_in_flight = std::max<std::size_t>(state->options.max_in_flight, 1);
  state->on_record = std::move(on_record);
  if (!state->options.model.empty()) {
    state->default_model = state->options.rules.find(state->options.model);
    if (state->default_model == nullptr) {
      return {nullptr, "unknown model '" + state->options.model + "'"};
    }
  }
  if (std::string problem = region_problem(state->options, state->default_model);
      !problem.empty()) {
    return {nullptr, std::move(problem)};
  }
  if (state->options.remote != RemoteMode::offline) {
    const DetectOptions& detect = state->options.detect;
    const std::string problem = base_url_problem(dashscope_base_url(detect.base_url, detect.region));
    if (!problem.empty()) return {nullptr, problem};
  }
  if (state->options.remote == RemoteMode::online && state->options.key.empty()) {
    return {nullptr, "online mode needs an API key"};
  }
  if (state->options.remote == RemoteMode::online && state->options.ledger) {
    LedgerOpenResult opened = Ledger::open(*state->options.ledger, state->options.ledger_options);
    if (!opened.ok()) return {nullptr, opened.error.message};
    state->ledger = std::move(opened.ledger);
  }
  state->start();
  return {std::unique_ptr<Checker>(new Checker(std::move(state))), {}};
}

Checker::Checker(std::unique_ptr<State> state) : state_(std::move(state)) {}

Checker::~Checker() {
  cancel();
  finish();
  state_->stop();
}

SubmitStatus Checker::submit(CheckInput input) { return state_->admit(input, true); }

SubmitStatus Checker::try_submit(CheckInput& input) { return state_->admit(input, false); }

void Checker::finish() {
  std::unique_lock lock(state_->admit_mutex);
  ++state_->waiting_submitters;
  state_->admit_changed.wait(lock, [&] { return state_->open == 0; });
  --state_->waiting_submitters;
}

void Checker::cancel() {
  {
    std::lock_guard lock(state_->admit_mutex);
    state_->cancelled = true;
  }
  state_->admit_changed.notify_all();
  state_->wake_network();
}

CheckSummary Checker::summary() const {
  std::lock_guard lock(state_->summary_mutex);
  return state_->tally.summary(state_->options.remote == RemoteMode::online);
}

const CheckerOptions& Checker::options() const noexcept { return state_->options; }

}  // namespace facegate
