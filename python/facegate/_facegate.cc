// facegate._facegate: the native half of the Python package (README, "Python"), over the public
// C++ API only (include/facegate/*.hpp). The Python half (python/facegate/__init__.py) shapes
// its answers: dataclasses, exceptions, the iterator of check().
//
// The GIL is released whenever the library reads, parses or waits. A Checker's records arrive
// on one of its own threads, which never touches Python: they wait in a queue until the
// iterating thread takes them (CheckRun::wait_record). The Python side never has more inputs
// submitted and not yet yielded than max_in_flight, which bounds that queue too.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "facegate/facegate.hpp"
#include "facegate/version.h"

namespace py = pybind11;

namespace facegate::python {
namespace {

py::object count_or_none(std::uint64_t value) { return value ? py::object(py::int_(value)) : py::none(); }

py::object text_or_none(std::string_view text) {
  return text.empty() ? py::object(py::none()) : py::object(py::str(text.data(), text.size()));
}

// The fields of facegate.ProbeResult after `source`, in its order (python/facegate/__init__.py).
py::tuple probe_fields(const ProbeResult& probe) {
  const ImageInfo& info = probe.info;
  const bool url = probe.network.has_value();
  const std::uint64_t status = url && probe.network->http_status > 0
                                   ? static_cast<std::uint64_t>(probe.network->http_status)
                                   : 0;
  return py::make_tuple(
      info.format == Format::unknown ? py::object(py::none()) : py::object(py::str(std::string(format_name(info.format)))),
      text_or_none(info.subtype), count_or_none(info.width), count_or_none(info.height),
      count_or_none(info.orientation), info.animated,
      probe.file_size ? py::object(py::int_(*probe.file_size)) : py::object(py::none()),
      probe.bytes_read, count_or_none(status),
      url ? py::object(py::int_(probe.network->bytes_transferred)) : py::object(py::none()),
      url ? py::object(py::int_(probe.network->requests)) : py::object(py::none()),
      probe.ok() ? py::object(py::none()) : py::object(py::str(std::string(error_code_name(probe.error.code)))),
      probe.ok() ? py::object(py::none()) : py::object(py::str(probe.error.message)),
      text_or_none(info.leniency));
}

py::tuple probe_path(const std::filesystem::path& path) {
  ProbeResult result;
  {
    py::gil_scoped_release unlocked;
    result = probe_file(path);
  }
  return probe_fields(result);
}

py::tuple probe_buffer(const py::buffer& data) {
  const py::buffer_info view = data.request();  // held: a bytearray cannot resize meanwhile
  const auto* first = static_cast<const std::byte*>(view.ptr);
  const std::span<const std::byte> bytes(first, static_cast<std::size_t>(view.size * view.itemsize));
  ProbeResult result;
  {
    py::gil_scoped_release unlocked;
    result = probe_memory(bytes);
  }
  return probe_fields(result);
}

FetchOptions fetch_options(bool allow_loopback, bool allow_private_network, double timeout_seconds) {
  FetchOptions options;
  options.allow_loopback = allow_loopback;
  options.allow_private_network = allow_private_network;
  options.deadline = std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
  return options;
}

py::tuple probe_one_url(const std::string& url, bool allow_loopback, bool allow_private_network,
                        double timeout_seconds) {
  const FetchOptions options = fetch_options(allow_loopback, allow_private_network, timeout_seconds);
  ProbeResult result;
  {
    py::gil_scoped_release unlocked;
    result = probe_url(url, options);
  }
  return probe_fields(result);
}

py::list probe_many_files(const std::vector<std::filesystem::path>& paths) {
  std::vector<ProbeResult> results;
  {
    py::gil_scoped_release unlocked;
    results = probe_files(paths);
  }
  py::list fields;
  for (const ProbeResult& result : results) fields.append(probe_fields(result));
  return fields;
}

// The rules file (the built-in one when `path` is empty), or ValueError saying what is wrong.
RuleSet load_rules(const std::string& path) {
  if (path.empty()) return builtin_rules().rules;
  RulesResult loaded = load_rules_file(path);
  if (!loaded.ok()) throw std::invalid_argument(path + ": " + loaded.error->message());
  return std::move(loaded.rules);
}

std::string rules_json(const std::string& path) { return rules_to_json(load_rules(path)); }

// (key or None, where it came from or why there is none), as load_api_key() finds it.
std::pair<std::optional<std::string>, std::string> find_api_key() {
  ApiKeyResult found = load_api_key();
  if (!found.ok()) return {std::nullopt, found.error};
  return {std::string(found.key.reveal()), found.source};
}

RemoteMode remote_mode(const std::string& name) {
  if (name == "offline") return RemoteMode::offline;
  if (name == "dry_run") return RemoteMode::dry_run;
  if (name == "online") return RemoteMode::online;
  throw std::invalid_argument("remote must be 'offline', 'dry_run' or 'online', not '" + name + "'");
}

std::vector<Parameter> parameters_from(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<Parameter> parameters;
  for (const auto& pair : pairs) parameters.push_back(Parameter{pair.first, pair.second});
  return parameters;
}

// A record as the queue holds it: its sequence and its JSON (none for a record the CLI would
// not print: cancelled, or not an image with only_images).
using QueuedRecord = std::pair<std::uint64_t, std::optional<std::string>>;

// One facegate.check() run: a Checker and the queue its records wait in.
class CheckRun {
 public:
  explicit CheckRun(CheckerOptions options) {
    CheckerResult made = Checker::create(std::move(options), [this](CheckRecord record) { deliver(std::move(record)); });
    if (!made.ok()) throw std::invalid_argument(made.error);
    checker_ = std::move(made.checker);
  }
  ~CheckRun() { close(); }
  CheckRun(const CheckRun&) = delete;
  CheckRun& operator=(const CheckRun&) = delete;

  // "accepted", "full" or "cancelled" (Checker::try_submit).
  std::string try_submit(const std::string& kind, const std::string& source, const py::object& data,
                         const std::string& id_json, const std::string& model,
                         const std::optional<std::vector<std::pair<std::string, std::string>>>& parameters) {
    if (!checker_) return "cancelled";
    CheckInput input = make_input(kind, source, data);
    input.id_json = id_json;
    input.model = model;
    if (parameters) input.parameters = parameters_from(*parameters);
    switch (checker_->try_submit(input)) {
      case SubmitStatus::accepted: return "accepted";
      case SubmitStatus::full: return "full";
      case SubmitStatus::cancelled: break;
    }
    return "cancelled";
  }

  // The next record delivered, or None after `timeout_seconds` without one (GIL released).
  std::optional<QueuedRecord> wait_record(double timeout_seconds) {
    py::gil_scoped_release unlocked;
    std::unique_lock lock(mutex_);
    const auto timeout = std::chrono::duration<double>(timeout_seconds);
    if (!arrived_.wait_for(lock, timeout, [this] { return !queue_.empty(); })) return std::nullopt;
    QueuedRecord record = std::move(queue_.front());
    queue_.pop_front();
    return record;
  }

  // Cancels the run and waits until every accepted input has its record (GIL released).
  void close() {
    if (!checker_) return;
    std::unique_ptr<Checker> checker = std::move(checker_);
    py::gil_scoped_release unlocked;
    checker->cancel();
    checker.reset();
  }

 private:
  static CheckInput make_input(const std::string& kind, const std::string& source, const py::object& data) {
    if (kind == "path") return CheckInput::from_path(source);
    if (kind == "text") return CheckInput::from_text(source);
    const py::buffer_info view = py::reinterpret_borrow<py::buffer>(data).request();
    const auto* first = static_cast<const std::byte*>(view.ptr);
    return CheckInput::from_memory(
        source, std::vector<std::byte>(first, first + view.size * view.itemsize));
  }

  // On a Checker thread: never touches Python.
  void deliver(CheckRecord record) {
    QueuedRecord queued{record.sequence, std::nullopt};
    if (record.shown()) queued.second = to_json(record);
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(queued));
    }
    arrived_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<QueuedRecord> queue_;
  std::unique_ptr<Checker> checker_;  // last: destroyed first, while the queue still exists
};

// The options of facegate.check() as CheckerOptions; ValueError when one is unusable.
CheckerOptions checker_options(const py::kwargs& given) {
  auto get = [&](const char* name) { return given[name]; };
  CheckerOptions options;
  options.rules = load_rules(get("rules_file").cast<std::string>());
  options.model = get("model").cast<std::string>();
  if (!options.rules.find(options.model)) {
    std::string known;
    for (std::string_view name : options.rules.names()) known += (known.empty() ? "" : ", ") + std::string(name);
    throw std::invalid_argument("unknown model '" + options.model + "' (known: " + known + ")");
  }
  options.parameters = parameters_from(get("parameters").cast<std::vector<std::pair<std::string, std::string>>>());
  options.strict = get("strict").cast<bool>();
  options.deep = get("deep").cast<bool>();
  options.only_images = get("only_images").cast<bool>();
  options.fetch.allow_loopback = get("allow_loopback").cast<bool>();
  options.fetch.allow_private_network = get("allow_private_network").cast<bool>();
  options.loop.max_transfers = get("jobs").cast<std::uint32_t>();
  options.loop.max_transfers_per_host = get("per_host").cast<std::uint32_t>();
  options.local_threads = get("threads").cast<unsigned>();
  options.max_in_flight = get("max_in_flight").cast<std::size_t>();
  options.grace = std::chrono::milliseconds(static_cast<long long>(get("grace").cast<double>() * 1000));
  options.remote = remote_mode(get("remote").cast<std::string>());
  options.key = ApiKey(get("key").cast<std::string>());
  options.detect.base_url = get("base_url").cast<std::string>();
  options.detect.region = get("region").cast<std::string>();
  if (std::string problem = base_url_problem(dashscope_base_url(options.detect.base_url, options.detect.region)); !problem.empty()) {
    throw std::invalid_argument(problem);
  }
  options.detect.requests_per_second = get("rps").cast<std::optional<std::uint32_t>>();
  options.detect.retry_ambiguous = get("retry_ambiguous").cast<bool>();
  options.reuse.retry_ambiguous = options.detect.retry_ambiguous;
  options.reuse.refresh = get("refresh").cast<bool>();
  options.max_calls = get("max_calls").cast<std::optional<std::uint64_t>>();
  if (auto ledger = get("ledger").cast<std::optional<std::string>>()) options.ledger = *ledger;
  options.upload = get("upload").cast<bool>();
  return options;
}

std::unique_ptr<CheckRun> start_check(const py::kwargs& given) {
  CheckerOptions options = checker_options(given);
  py::gil_scoped_release unlocked;  // opening the ledger may wait for another process
  return std::make_unique<CheckRun>(std::move(options));
}

}  // namespace
}  // namespace facegate::python

PYBIND11_MODULE(_facegate, module) {
  module.attr("__version__") = FACEGATE_VERSION;  // project(version:) of meson.build
  namespace fp = facegate::python;
  module.doc() = "The native half of the facegate package; use the facegate module instead.";
  module.def("probe_path", &fp::probe_path, py::arg("path"), "probe_file(path): ProbeResult fields");
  module.def("probe_buffer", &fp::probe_buffer, py::arg("data"), "probe_memory(data): ProbeResult fields");
  module.def("probe_url", &fp::probe_one_url, py::arg("url"), py::arg("allow_loopback"),
             py::arg("allow_private_network"), py::arg("timeout"), "probe_url(url): ProbeResult fields");
  module.def("probe_files", &fp::probe_many_files, py::arg("paths"), "probe_files(paths): fields per path");
  module.def("looks_like_url", [](const std::string& text) { return facegate::looks_like_url(text); },
             py::arg("text"));
  module.def("rules_json", &fp::rules_json, py::arg("rules_file"), "The rules as rules-file JSON");
  module.def("find_api_key", &fp::find_api_key, "(key or None, its source or why there is none)");
  module.def("default_ledger_path", [] { return facegate::default_ledger_path().string(); });
  py::class_<fp::CheckRun>(module, "CheckRun")
      .def("try_submit", &fp::CheckRun::try_submit, py::arg("kind"), py::arg("source"),
           py::arg("data"), py::arg("id_json"), py::arg("model"), py::arg("parameters"))
      .def("wait_record", &fp::CheckRun::wait_record, py::arg("timeout"))
      .def("close", &fp::CheckRun::close);
  module.def("start_check", &fp::start_check, "A CheckRun for facegate.check()'s options");
}
