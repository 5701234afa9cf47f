// `facegate probe` and `facegate check`: inputs read lazily into a facegate::Checker, records
// streamed to stdout as they are done, progress on stderr, and interrupts that lose nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "commands.hpp"
#include "table.hpp"

namespace facegate::cli {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Signals: the handler only writes the signal to a pipe; a thread acts on it.

int g_signal_pipe = -1;

extern "C" void on_signal(int signal_number) {
  const unsigned char byte = static_cast<unsigned char>(signal_number);
  if (g_signal_pipe >= 0) [[maybe_unused]] auto n = ::write(g_signal_pipe, &byte, 1);
}

class SignalWatcher {
 public:
  template <typename First, typename Second>
  SignalWatcher(First on_first, Second on_second) {
    if (pipe2(pipe_, O_CLOEXEC) != 0) return;
    g_signal_pipe = pipe_[1];
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    thread_ = std::thread([this, on_first, on_second] {
      int received = 0;
      for (unsigned char byte; ::read(pipe_[0], &byte, 1) == 1 && byte != 0;) {
        if (++received == 1) {
          on_first();
        } else {
          on_second();
        }
      }
    });
  }
  ~SignalWatcher() {
    if (pipe_[1] < 0) return;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    g_signal_pipe = -1;
    const unsigned char stop = 0;
    [[maybe_unused]] auto n = ::write(pipe_[1], &stop, 1);
    thread_.join();
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  int pipe_[2] = {-1, -1};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Records to stdout

std::string count_text(std::uint64_t value) { return value ? std::to_string(value) : "-"; }

std::vector<std::string> probe_cells(const CheckRecord& record) {
  const ProbeResult& probe = record.probe;
  const ImageInfo& info = probe.info;
  const std::uint64_t read = probe.network ? probe.network->bytes_transferred : probe.bytes_read;
  return {record.source,
          info.format == Format::unknown ? "-" : std::string(format_name(info.format)),
          count_text(info.width),
          count_text(info.height),
          count_text(info.orientation),
          info.animated ? "yes" : "no",
          probe.file_size ? std::to_string(*probe.file_size) : "-",
          std::to_string(read),
          probe.ok() ? "" : std::string(error_code_name(probe.error.code)) + ": " + probe.error.message};
}

std::vector<std::string> check_cells(const CheckRecord& record) {
  const ImageInfo& info = record.probe.info;
  std::string findings;
  for (const Finding& finding : record.verdict->findings) {
    if (finding.severity == Severity::info) continue;
    if (!findings.empty()) findings += ", ";
    findings += finding.code;
  }
  std::string remote = "-";
  if (record.dry_run) remote = "dry run";
  if (record.remote) {
    remote = std::string(detect_outcome_name(record.remote->outcome));
    if (!record.remote->code.empty()) remote += " (" + record.remote->code + ")";
  }
  if (record.upload) remote += ", upload " + std::string(upload_outcome_name(record.upload->outcome));
  return {record.source,
          std::string(decision_name(record.verdict->decision)),
          info.format == Format::unknown ? "-" : std::string(format_name(info.format)),
          info.has_dimensions() ? std::to_string(info.width) + "x" + std::to_string(info.height) : "-",
          findings.empty() ? "-" : findings,
          remote};
}

// Writes records in the chosen order. add() runs on the Checker's delivery (one at a time);
// wait_for_room() on the thread that submits.
class RecordWriter {
 public:
  RecordWriter(const RunOptions& options, std::FILE* out)
      : options_(options),
        out_(out),
        table_(options.probe_only
                   ? std::vector<std::string>{"SOURCE", "FORMAT", "WIDTH", "HEIGHT", "ORIENT",
                                              "ANIM", "FILE_SIZE", "READ", "ERROR"}
                   : std::vector<std::string>{"SOURCE", "DECISION", "FORMAT", "SIZE", "FINDINGS",
                                              "REMOTE"}) {
    struct stat st {};
    // A regular file is written in large blocks; a pipe or terminal record by record.
    flush_each_ = fstat(fileno(out), &st) != 0 || !S_ISREG(st.st_mode);
  }

  void add(CheckRecord record) {
    std::unique_lock lock(mutex_);
    if (record.shown()) {
      all_passed_ = all_passed_ && record.passed();
      if (record.dry_run && !options_.json) {
        std::string shown;
        if (record.dry_run_upload) shown = render_upload_plan(*record.dry_run_upload, record.dry_run_has_key) + "\n";
        dry_runs_.push_back(shown + render_dry_run(*record.dry_run, record.dry_run_has_key));
      }
    }
    // Rendered only when written: the table takes its rows in the order they are printed.
    if (options_.order == RecordOrder::completion) {
      write_record(record);
    } else {
      const std::uint64_t sequence = record.sequence;
      held_.emplace(sequence, std::move(record));
      while (!held_.empty() && held_.begin()->first == next_to_write_) {
        write_record(held_.begin()->second);
        held_.erase(held_.begin());
        ++next_to_write_;
      }
    }
    if (flush_each_) flush();
    const bool wake = waiting_;
    lock.unlock();
    if (wake) room_.notify_all();
  }

  // Input order: blocks until `sequence` fits in the reorder window.
  void wait_for_room(std::uint64_t sequence) {
    if (options_.order == RecordOrder::completion) return;
    std::unique_lock lock(mutex_);
    waiting_ = true;
    room_.wait(lock, [&] { return failed_ || sequence < next_to_write_ + options_.reorder_window; });
    waiting_ = false;
  }

  // After the last record: what is held (an interrupted run's completed rest, in input
  // order), the table's last rows, the dry runs.
  void finish() {
    std::lock_guard lock(mutex_);
    for (auto& [sequence, record] : held_) write_record(record);
    held_.clear();
    if (!options_.json) {
      write(table_.flush());
      for (const std::string& dry_run : dry_runs_) write("\n" + dry_run);
    }
    flush();
  }

  // Holds the writer still for good (the second signal): no half-written line follows.
  void freeze() {
    mutex_.lock();
    std::fflush(out_);
  }

  bool failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  bool all_passed() const {
    std::lock_guard lock(mutex_);
    return all_passed_;
  }
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  std::string render(const CheckRecord& record) {
    if (options_.json) return to_json(record) + '\n';
    return table_.add_row(options_.probe_only ? probe_cells(record) : check_cells(record));
  }

  void write_record(const CheckRecord& record) {
    if (record.shown()) write(render(record));
  }

  void write(const std::string& text) {
    if (failed_ || text.empty()) return;
    if (std::fwrite(text.data(), 1, text.size(), out_) != text.size()) fail();
  }

  void flush() {
    if (!failed_ && std::fflush(out_) != 0) fail();
  }

  void fail() {
    failed_ = true;
    error_ = std::strerror(errno);
  }

  const RunOptions& options_;
  std::FILE* out_;
  mutable std::mutex mutex_;
  std::condition_variable room_;
  Table table_;
  std::map<std::uint64_t, CheckRecord> held_;  // input order: done, waiting for earlier ones
  std::uint64_t next_to_write_ = 0;
  std::vector<std::string> dry_runs_;
  bool flush_each_ = true;
  bool waiting_ = false;  // the submitting thread waits in wait_for_room()
  bool failed_ = false;
  std::string error_;  // why the write failed
  bool all_passed_ = true;
};

// ---------------------------------------------------------------------------------------------
// Progress on stderr

std::string duration_text(double seconds) {
  const auto total = static_cast<long long>(seconds);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", total / 3600, total / 60 % 60);
  } else {
    std::snprintf(text, sizeof text, "%lldm%02llds", total / 60, total % 60);
  }
  return text;
}

// Redraws one status line at most 4 times a second while the run lasts. The total is counted
// on a thread of its own ("?" until it is known, or when it is not cheap).
class Progress {
 public:
  Progress(const Checker& checker, const InputReader& reader)
      : checker_(checker),
        reader_(reader),
        start_(Clock::now()),
        thread_([this] { run(); }),
        counter_([this](std::stop_token stop) {
          if (auto total = reader_.count_total(stop)) total_ = *total;
        }) {}
  ~Progress() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [&] { return done_; })) draw();
  }

  void draw() const {
    const CheckSummary s = checker_.summary();
    const std::uint64_t total = total_;
    const bool known = total != kNoTotal && reader_.total_holds();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(s.records) / elapsed : 0;
    std::string line(1, '\r');
    line += std::to_string(s.records);
    line += '/';
    line += known ? std::to_string(total) : std::string("?");
    line += " inputs, ";
    char number[32];
    std::snprintf(number, sizeof number, "%.0f/s", rate);
    line += number;
    if (known && rate > 0 && total > s.records) {
      line += ", ETA " + duration_text(static_cast<double>(total - s.records) / rate);
    }
    if (s.online) {
      line += " | remote calls " + std::to_string(s.remote_calls) + ", billed " +
              std::to_string(s.billed);
      if (!s.cost.empty()) line += ", cost " + format_money(s.cost.front());
    }
    line += "\033[K";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }

  static constexpr std::uint64_t kNoTotal = ~std::uint64_t{0};

  const Checker& checker_;
  const InputReader& reader_;
  std::atomic<std::uint64_t> total_{kNoTotal};
  const Clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
  std::jthread counter_;  // last: stopped and joined first
};

// ---------------------------------------------------------------------------------------------
// Setting up the Checker

// Online, dry-run or offline, and the notice that says so.
void choose_remote_mode(RunOptions& options) {
  CheckerOptions& checker = options.checker;
  if (options.probe_only) return;
  if (options.offline) {
    std::cerr << "facegate: offline: no remote detector calls\n";
    return;
  }
  ApiKeyResult key = load_api_key();
  if (options.dry_run) {
    checker.remote = RemoteMode::dry_run;
    if (key.ok()) {
      checker.key = std::move(key.key);
    } else {
      std::cerr << "facegate: " << key.error << ": the dry run shows the requests without one\n";
    }
    return;
  }
  if (!key.ok()) {
    std::cerr << "facegate: " << key.error << ": checking offline\n";
    return;
  }
  checker.remote = RemoteMode::online;
  checker.key = std::move(key.key);
}

// "90", "90s", "15m", "12h", "7d" as seconds.
std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  const std::uint64_t scale = unit.empty() || unit == "s" ? 1
                              : unit == "m"               ? 60
                              : unit == "h"               ? 3600
                              : unit == "d"               ? 86400
                                                          : 0;
  if (scale == 0 || value > (1ull << 40)) return std::nullopt;
  return std::chrono::seconds(value * scale);
}

// "0.05" in the model's price currency (USD where published) as Money.
std::optional<Money> parse_budget(std::string_view text, const ModelRules& model) {
  if (!model.price || model.price->per_image.empty()) return std::nullopt;
  std::optional<Money> unit = price_per_image(model, "USD");
  if (!unit) unit = model.price->per_image.front();
  const std::size_t point = text.find('.');
  const std::string_view whole = text.substr(0, point);
  std::string fraction(point == std::string_view::npos ? "" : text.substr(point + 1));
  if (fraction.size() > 6 || fraction.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  fraction.resize(6, '0');
  std::int64_t units = 0, micros = 0;
  if (std::from_chars(whole.data(), whole.data() + whole.size(), units).ec != std::errc{} ||
      std::from_chars(fraction.data(), fraction.data() + 6, micros).ec != std::errc{} || units < 0 ||
      units > 1'000'000'000) {
    return std::nullopt;
  }
  return Money{unit->currency, units * 1'000'000 + micros};
}

// The ledger and spend options of an online check; false (said on stderr) when one is bad.
bool set_ledger_options(RunOptions& options) {
  CheckerOptions& checker = options.checker;
  checker.reuse.retry_ambiguous = checker.detect.retry_ambiguous;
  if (!options.no_ledger) {
    checker.ledger = options.ledger_file ? std::filesystem::path(*options.ledger_file)
                                         : default_ledger_path();
  }
  if (options.max_age) {
    const auto age = parse_duration(*options.max_age);
    if (!age) {
      std::cerr << "facegate: --max-age " << *options.max_age << ": not a duration like 90s, 15m, 12h, 7d\n";
      return false;
    }
    checker.reuse.max_age = *age;
  }
  if (options.budget) {
    const ModelRules* model = checker.rules.find(checker.model);
    checker.budget = parse_budget(*options.budget, *model);
    if (!checker.budget) {
      std::cerr << "facegate: --budget " << *options.budget
                << (model->price ? ": not an amount like 0.05" : ": the model has no published price; use --max-calls")
                << '\n';
      return false;
    }
  }
  return true;
}

// Says on stderr, once each, why detector calls were not sent (records say it per input).
class NotSentNotices {
 public:
  void note(const CheckRecord& record) {
    if (!record.remote || record.remote->outcome != DetectOutcome::not_sent) return;
    const std::string& why = record.remote->detail;
    if (why.empty() || said_.size() >= kMostReasons || !said_.insert(why).second) return;
    std::cerr << "facegate: a detector call was not sent: " << why << '\n';
  }

 private:
  static constexpr std::size_t kMostReasons = 32;  // a bound, whatever the records say
  std::set<std::string> said_;
};

}  // namespace

int run_inputs(RunOptions options) {
  CheckerOptions& checker_options = options.checker;
  if (!options.probe_only) {
    std::optional<RuleSet> rules = load_rules_or_report(options.rules_file, std::cerr);
    if (!rules) return kExitUsage;
    if (!find_model_or_report(*rules, checker_options.model, std::cerr)) return kExitUsage;
    checker_options.rules = std::move(*rules);
    if (options.ratio) checker_options.parameters.push_back(Parameter{"ratio", *options.ratio});
  }
  checker_options.grace = std::chrono::milliseconds(static_cast<long long>(options.grace_seconds * 1000));
  checker_options.file.stream_timeout =
      std::chrono::milliseconds(static_cast<long long>(options.read_timeout_seconds * 1000));
  checker_options.detect.use_environment_proxy = checker_options.fetch.use_environment_proxy;
  checker_options.detect.ca_file = checker_options.fetch.ca_file;
  choose_remote_mode(options);
  if (!options.probe_only && !set_ledger_options(options)) return kExitUsage;

  InputReader reader(options.inputs, options.input_format, options.walk);
  RecordWriter writer(options, stdout);
  NotSentNotices not_sent;
  CheckerResult made = Checker::create(checker_options, [&](CheckRecord record) {
    not_sent.note(record);
    writer.add(std::move(record));
  });
  if (!made.ok()) {
    std::cerr << "facegate: " << made.error << '\n';
    return kExitUsage;
  }
  Checker& checker = *made.checker;
  std::atomic<bool> interrupted{false};
  SignalWatcher signals(
      [&] {
        interrupted = true;
        reader.interrupt();
        checker.cancel();
      },
      [&] {
        writer.freeze();
        std::fputs("facegate: interrupted twice: stopped at once\n", stderr);
        _exit(kExitInterrupted);
      });
  const bool show_progress = options.progress.value_or(isatty(STDERR_FILENO) == 1);
  std::optional<Progress> progress;
  if (show_progress) progress.emplace(checker, reader);

  std::uint64_t sequence = 0;
  while (!writer.failed()) {
    std::optional<CheckInput> input = reader.next();
    if (!input) break;
    writer.wait_for_room(sequence);
    if (checker.submit(std::move(*input)) != SubmitStatus::accepted) break;
    ++sequence;
  }
  if (writer.failed()) checker.cancel();
  checker.finish();
  progress.reset();
  writer.finish();
  std::cerr << summary_text(checker.summary(), options.probe_only);
  if (writer.failed()) {
    std::cerr << "facegate: cannot write the records to standard output: " << writer.error() << '\n';
    return kExitWrite;
  }
  if (interrupted) return kExitInterrupted;
  return writer.all_passed() ? kExitOk : kExitFailed;
}

}  // namespace facegate::cli
