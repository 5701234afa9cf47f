// facegate::Checker (include/facegate/check.hpp) driven directly, without the CLI: local files,
// memory, failed inputs, URLs on nginx and the fake detector; one callback per accepted input,
// also when the run is cancelled or the Checker is destroyed with work pending.
#include "facegate/check.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "servers/fake_dashscope.hpp"
#include "servers/test_servers.hpp"

using namespace facegate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKey = "sk-test-check-9b1e44d0";
constexpr std::string_view kModel = "wan2.2-s2v-detect";

fs::path example(std::string_view name) { return test::source_root() / "examples" / name; }

std::vector<std::byte> file_bytes(const fs::path& path) {
  const std::string text = test::read_text(path);
  const auto* begin = reinterpret_cast<const std::byte*>(text.data());
  return {begin, begin + text.size()};
}

// The examples and their decision under wan2.2-s2v-detect (400..7000 px a side; jpeg, png,
// bmp, webp).
const std::vector<std::pair<std::string, Decision>>& example_decisions() {
  static const std::vector<std::pair<std::string, Decision>> decisions = {
      {"animated-480x480.gif", Decision::reject}, {"banner-1600x400.webp", Decision::pass},
      {"cut-short.jpg", Decision::error},         {"drawing.svg", Decision::reject},
      {"mono-480x640.bmp", Decision::pass},       {"portrait-640x800.jpg", Decision::pass},
      {"small-300x300.png", Decision::reject},    {"wide-7200x600.png", Decision::reject}};
  return decisions;
}

// Every record a Checker delivered, and whether a callback ever ran beside another one or on
// the thread that submits (the header promises neither happens).
class Records {
 public:
  RecordCallback callback() {
    return [this](CheckRecord record) { add(std::move(record)); };
  }

  // The records by sequence; checks that sequences 0 .. count-1 came exactly once each.
  std::vector<CheckRecord> exactly(std::size_t count) const {
    std::vector<CheckRecord> sorted;
    {
      std::lock_guard lock(mutex_);
      sorted = records_;
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const CheckRecord& a, const CheckRecord& b) { return a.sequence < b.sequence; });
    CHECK(sorted.size() == count);
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      CHECK_MESSAGE(sorted[i].sequence == i, "a sequence is missing or delivered twice near " << i);
    }
    CHECK_FALSE(overlapped_);
    CHECK_FALSE(on_submitter_);
    return sorted;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }

 private:
  void add(CheckRecord record) {
    if (inside_.exchange(true)) overlapped_ = true;
    if (std::this_thread::get_id() == submitter_) on_submitter_ = true;
    std::this_thread::yield();  // widens the window in which a second callback would overlap
    {
      std::lock_guard lock(mutex_);
      records_.push_back(std::move(record));
    }
    inside_ = false;
  }

  const std::thread::id submitter_ = std::this_thread::get_id();
  mutable std::mutex mutex_;
  std::vector<CheckRecord> records_;
  std::atomic<bool> inside_{false}, overlapped_{false}, on_submitter_{false};
};

std::unique_ptr<Checker> make_checker(CheckerOptions options, Records& records) {
  CheckerResult made = Checker::create(std::move(options), records.callback());
  REQUIRE_MESSAGE(made.ok(), made.error);
  return std::move(made.checker);
}

// Submits `inputs` in order, waits for their records and returns them by sequence.
std::vector<CheckRecord> check_all(CheckerOptions options, std::vector<CheckInput> inputs,
                                   CheckSummary* summary = nullptr) {
  Records records;
  auto checker = make_checker(std::move(options), records);
  const std::size_t count = inputs.size();
  for (CheckInput& input : inputs)
    REQUIRE(checker->submit(std::move(input)) == SubmitStatus::accepted);
  checker->finish();
  if (summary != nullptr) *summary = checker->summary();
  checker.reset();
  return records.exactly(count);
}

// ---------------------------------------------------------------------------------------------
// What to_json promises (README "Records"), read back with simdjson

std::vector<std::string> keys_of(simdjson::dom::object object) {
  std::vector<std::string> keys;
  for (auto field : object) keys.emplace_back(field.key);
  return keys;
}

// The value of `key` as minified JSON text; "<missing>" when there is none.
std::string value_at(simdjson::dom::object object, std::string_view key) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS) return "<missing>";
  return simdjson::minify(value);
}

std::string number_or_null(std::uint64_t value) { return value ? std::to_string(value) : "null"; }

// The image fields of `image`, which come after its first `skip` keys (the probe schema has
// source and id before them).
void check_image_json(simdjson::dom::object image, const ProbeResult& probe, std::size_t skip = 0) {
  std::vector<std::string> expected_keys = {"format",      "subtype",  "width",     "height",
                                            "orientation", "animated", "file_size", "bytes_read"};
  if (probe.network)
    expected_keys.insert(expected_keys.end(), {"http_status", "bytes_transferred", "requests"});
  expected_keys.push_back("error");
  const std::vector<std::string> keys = keys_of(image);
  REQUIRE(keys.size() >= skip);
  CHECK(std::vector<std::string>(keys.begin() + static_cast<std::ptrdiff_t>(skip), keys.end()) ==
        expected_keys);
  const ImageInfo& info = probe.info;
  CHECK(value_at(image, "format") ==
        (info.format == Format::unknown ? "null" : json_quote(format_name(info.format))));
  CHECK(value_at(image, "width") == number_or_null(info.width));
  CHECK(value_at(image, "height") == number_or_null(info.height));
  CHECK(value_at(image, "animated") == (info.animated ? "true" : "false"));
  CHECK(value_at(image, "file_size") ==
        (probe.file_size ? std::to_string(*probe.file_size) : "null"));
  CHECK(value_at(image, "bytes_read") == std::to_string(probe.bytes_read));
  if (probe.network) {
    CHECK(value_at(image, "bytes_transferred") == std::to_string(probe.network->bytes_transferred));
    CHECK(value_at(image, "requests") == std::to_string(probe.network->requests));
  }
  if (probe.ok()) {
    CHECK(value_at(image, "error") == "null");
    return;
  }
  CHECK(value_at(image, "error") == "{\"code\":" + json_quote(error_code_name(probe.error.code)) +
                                        ",\"message\":" + json_quote(probe.error.message) + "}");
}

void check_remote_json(simdjson::dom::object root, const CheckRecord& record) {
  if (!record.remote) {
    CHECK(value_at(root, "remote") == "null");
    return;
  }
  simdjson::dom::object remote;
  REQUIRE(root["remote"].get_object().get(remote) == simdjson::SUCCESS);
  const DetectResult& r = *record.remote;
  CHECK(value_at(remote, "outcome") == json_quote(detect_outcome_name(r.outcome)));
  CHECK(value_at(remote, "passed") == (r.passed ? "true" : "false"));
  CHECK(value_at(remote, "billed") == std::to_string(r.billed));
  CHECK(value_at(remote, "possibly_billed") == (r.billing_uncertain() ? "true" : "false"));
  CHECK(value_at(remote, "attempts") == std::to_string(r.attempts));
}

// to_json(record) read back: every field says what the record holds, in the README's order.
void check_json(const CheckRecord& record) {
  const std::string text = to_json(record);
  CAPTURE(text);
  CHECK(text.find('\n') == std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  REQUIRE(parser.parse(text).get(root) == simdjson::SUCCESS);
  std::vector<std::string> head = {"source"};
  if (!record.id_json.empty()) head.push_back("id");
  CHECK(value_at(root, "source") == json_quote(record.source));
  if (!record.id_json.empty()) {
    simdjson::dom::parser id_parser;
    CHECK(value_at(root, "id") == simdjson::minify(id_parser.parse(record.id_json).value()));
  }
  if (!record.verdict) {  // probe-only: the image fields at the top
    const std::vector<std::string> keys = keys_of(root);
    REQUIRE(keys.size() > head.size());
    CHECK(std::vector<std::string>(
              keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(head.size())) == head);
    check_image_json(root, record.probe, head.size());
    return;
  }
  head.insert(head.end(), {"model", "decision", "findings", "image", "remote"});
  CHECK(keys_of(root) == head);
  CHECK(value_at(root, "model") == json_quote(record.model));
  CHECK(value_at(root, "decision") == json_quote(decision_name(record.verdict->decision)));
  simdjson::dom::array findings;
  REQUIRE(root["findings"].get_array().get(findings) == simdjson::SUCCESS);
  std::vector<std::string> codes, expected_codes;
  for (simdjson::dom::element finding : findings)
    codes.push_back(simdjson::minify(finding["code"]));
  for (const Finding& finding : record.verdict->findings)
    expected_codes.push_back(json_quote(finding.code));
  CHECK(codes == expected_codes);
  simdjson::dom::object image;
  REQUIRE(root["image"].get_object().get(image) == simdjson::SUCCESS);
  check_image_json(image, record.probe);
  check_remote_json(root, record);
}

bool has_finding(const CheckRecord& record, std::string_view code) {
  if (!record.verdict) return false;
  const auto& findings = record.verdict->findings;
  return std::any_of(findings.begin(), findings.end(),
                     [&](const Finding& f) { return f.code == code; });
}

// The summary's counts against the records' own.
void check_summary(const CheckSummary& summary, const std::vector<CheckRecord>& records) {
  CheckSummary counted;
  for (const CheckRecord& record : records) {
    ++counted.records;
    if (!record.checked()) {
      ++counted.cancelled;
      continue;
    }
    counted.bytes_read += record.probe.bytes_read;
    if (record.probe.network) counted.bytes_transferred += record.probe.network->bytes_transferred;
    const Decision decision = record.verdict      ? record.verdict->decision
                              : record.probe.ok() ? Decision::pass
                                                  : Decision::error;
    ++(decision == Decision::pass     ? counted.pass
       : decision == Decision::reject ? counted.reject
       : decision == Decision::error  ? counted.error
                                      : counted.unknown);
    if (record.remote && record.remote->outcome != DetectOutcome::not_sent) {
      counted.remote_calls += record.remote->attempts;
      counted.billed += record.remote->billed;
      counted.remote_passed += record.remote->passed ? 1 : 0;
      counted.possibly_billed += record.remote->billing_uncertain() ? 1 : 0;
    }
  }
  const auto counts = [](const CheckSummary& s) {
    return std::map<std::string_view, std::uint64_t>{{"records", s.records},
                                                     {"cancelled", s.cancelled},
                                                     {"pass", s.pass},
                                                     {"reject", s.reject},
                                                     {"unknown", s.unknown},
                                                     {"error", s.error},
                                                     {"bytes_read", s.bytes_read},
                                                     {"bytes_transferred", s.bytes_transferred},
                                                     {"remote_calls", s.remote_calls},
                                                     {"billed", s.billed},
                                                     {"remote_passed", s.remote_passed},
                                                     {"possibly_billed", s.possibly_billed}};
  };
  const auto reported = counts(summary);
  for (const auto& count : counts(counted)) {
    const std::string_view name = count.first;  // not a binding: clang 14 cannot capture one
    CHECK_MESSAGE(reported.at(name) == count.second, name << ": " << reported.at(name) << " reported");
  }
  if (records.front().verdict) CHECK(summary.calls_avoided == counted.reject);
}

CheckInput with_model(CheckInput input, std::string model, std::string id_json = {},
                      std::optional<std::string> ratio = std::nullopt) {
  input.model = std::move(model);
  input.id_json = std::move(id_json);
  if (ratio) input.parameters = std::vector<Parameter>{Parameter{"ratio", *ratio}};
  return input;
}

CheckerOptions offline_options(std::string model = std::string(kModel)) {
  CheckerOptions options;
  options.model = std::move(model);
  options.fetch.allow_private_network = true;  // nginx on 127.0.0.1
  options.local_threads = 2;
  return options;
}

}  // namespace

TEST_CASE("create: an unknown default model and online mode without a key are refused") {
  Records records;
  CheckerOptions unknown;
  unknown.model = "no-such-model";
  const CheckerResult refused = Checker::create(unknown, records.callback());
  CHECK_FALSE(refused.ok());
  CHECK(refused.error.find("no-such-model") != std::string::npos);
  CheckerOptions keyless = offline_options();
  keyless.remote = RemoteMode::online;
  const CheckerResult no_key = Checker::create(keyless, records.callback());
  CHECK_FALSE(no_key.ok());
  CHECK(no_key.error.find("key") != std::string::npos);
  CHECK(records.size() == 0);
}

TEST_CASE("create: an unknown region is refused; one that does not offer the model, unless offline") {
  Records records;
  CheckerOptions nowhere = offline_options();
  nowhere.detect.region = "eu-central-1";
  const CheckerResult unknown = Checker::create(nowhere, records.callback());
  CHECK_FALSE(unknown.ok());
  CHECK(unknown.error ==
        "unknown region 'eu-central-1' (known: cn-beijing, ap-southeast-1, us, cn-hongkong)");

  for (RemoteMode mode : {RemoteMode::dry_run, RemoteMode::online}) {
    CAPTURE(static_cast<int>(mode));
    CheckerOptions singapore = offline_options();  // wan2.2-s2v-detect: cn-beijing only
    singapore.remote = mode;
    singapore.key = ApiKey(kKey);
    singapore.detect.region = "ap-southeast-1";
    const CheckerResult refused = Checker::create(singapore, records.callback());
    CHECK_FALSE(refused.ok());
    CHECK(refused.error == "wan2.2-s2v-detect is offered only in cn-beijing, not in "
                           "ap-southeast-1 (Singapore): API keys are region-bound");
    singapore.detect.region = "cn-beijing";
    CHECK(Checker::create(singapore, records.callback()).ok());
    singapore.model = "emoji-detect-v1";  // no region rule
    singapore.detect.region = "ap-southeast-1";
    CHECK(Checker::create(singapore, records.callback()).ok());
  }
  CheckerOptions offline = offline_options();
  offline.detect.region = "ap-southeast-1";
  CHECK(Checker::create(offline, records.callback()).ok());
  CHECK(records.size() == 0);
}

TEST_CASE("the region is judged unless offline: an input's own model not offered there rejects") {
  const auto portrait = file_bytes(example("portrait-640x800.jpg"));
  auto inputs = [&] {
    std::vector<CheckInput> list;
    CheckInput wan = CheckInput::from_memory("memory:wan", portrait);
    wan.model = std::string(kModel);
    list.push_back(std::move(wan));
    list.push_back(CheckInput::from_memory("memory:emoji", portrait));
    return list;
  };
  CheckerOptions options = offline_options("emoji-detect-v1");
  options.parameters = {{"ratio", "1:1"}};
  options.detect.region = "us";
  const std::vector<CheckRecord> offline = check_all(options, inputs());
  for (const CheckRecord& record : offline) {
    CAPTURE(record.source);
    REQUIRE(record.verdict);
    CHECK(record.verdict->decision == Decision::pass);
    CHECK(record.verdict->find("model.region") == nullptr);
  }
  options.remote = RemoteMode::dry_run;
  const std::vector<CheckRecord> dry = check_all(options, inputs());
  REQUIRE(dry[0].verdict);
  CHECK(dry[0].verdict->decision == Decision::reject);
  REQUIRE(dry[0].verdict->find("model.region") != nullptr);
  CHECK(dry[0].verdict->find("model.region")->actual == "us");
  REQUIRE(dry[1].verdict);
  CHECK(dry[1].verdict->decision == Decision::pass);
  CHECK(dry[1].verdict->find("model.region") == nullptr);
}

TEST_CASE(
    "offline: files, memory, failed inputs and nginx URLs get one record each, as to_json says") {
  test::NginxServer nginx(test::source_root() / "examples");
  std::vector<CheckInput> inputs;
  std::vector<Decision> decisions;
  for (const auto& [name, decision] : example_decisions()) {
    inputs.push_back(CheckInput::from_text(example(name).string()));
    decisions.push_back(decision);
    inputs.push_back(CheckInput::from_text(nginx.url(name)));  // a URL is judged like its file
    decisions.push_back(decision);
  }
  const std::size_t first_special = inputs.size();
  inputs.push_back(
      CheckInput::from_memory("memory:portrait", file_bytes(example("portrait-640x800.jpg"))));
  inputs.push_back(CheckInput::from_text(nginx.url("no-such-image.png")));
  inputs.push_back(
      CheckInput::from_failure("list.txt:3", Error{ErrorCode::bad_input, "list.txt:3: not JSON"}));
  const std::string portrait = example("portrait-640x800.jpg").string();
  inputs.push_back(with_model(CheckInput::from_text(portrait), "no-such-model"));
  inputs.push_back(with_model(CheckInput::from_text(portrait), "", "{oops"));
  inputs.push_back(with_model(CheckInput::from_text(portrait), "emo-detect-v1", "\"p-1\"", "16:9"));
  inputs.push_back(
      with_model(CheckInput::from_text(portrait), "emo-detect-v1", "{\"k\":[1,2]}", "3:4"));
  inputs.push_back(
      with_model(CheckInput::from_text(example("small-300x300.png").string()), "", "42"));
  std::vector<std::string> sources;
  for (const CheckInput& input : inputs) sources.push_back(input.source);

  CheckSummary summary;
  const std::vector<CheckRecord> records = check_all(offline_options(), inputs, &summary);
  REQUIRE(records.size() == inputs.size());
  for (const CheckRecord& record : records) {
    CAPTURE(record.source);
    CHECK(record.source == sources[record.sequence]);
    REQUIRE(record.verdict.has_value());
    CHECK_FALSE(record.remote.has_value());  // offline: no call, not even a not_sent one
    check_json(record);
  }
  for (std::size_t i = 0; i < first_special; ++i) {
    CAPTURE(records[i].source);
    CHECK(records[i].model == kModel);
    CHECK(records[i].verdict->decision == decisions[i]);
    CHECK(records[i].probe.network.has_value() == (i % 2 == 1));
  }
  const CheckRecord* special = &records[first_special];
  CHECK(special[0].verdict->decision == Decision::pass);  // memory: the portrait's bytes
  CHECK(special[0].probe.info.width == 640);
  CHECK(special[0].probe.info.height == 800);
  CHECK(special[1].verdict->decision == Decision::error);  // a 404
  CHECK(special[1].probe.error.code == ErrorCode::http_status);
  CHECK(special[2].verdict->decision == Decision::error);  // failed before it could be read
  CHECK(special[2].probe.error.code == ErrorCode::bad_input);
  CHECK(special[2].probe.error.message == "list.txt:3: not JSON");
  // An unknown model of its own: no rules to judge by.
  CHECK(special[3].model == "no-such-model");
  CHECK(special[3].verdict->decision == Decision::error);
  CHECK(has_finding(special[3], "model.unknown"));
  CHECK(special[3].probe.error.code == ErrorCode::bad_input);
  // An id that is not JSON is never echoed: the input is bad.
  CHECK(special[4].id_json.empty());
  CHECK(special[4].probe.error.code == ErrorCode::bad_input);
  CHECK(special[4].verdict->decision == Decision::error);
  CHECK(to_json(special[4]).find("oops") == std::string::npos);
  // Its own model and ratio: emo-detect-v1 takes 1:1 and 3:4 only.
  CHECK(special[5].model == "emo-detect-v1");
  CHECK(special[5].id_json == "\"p-1\"");
  CHECK(special[5].verdict->decision == Decision::reject);
  CHECK(has_finding(special[5], "param.ratio.invalid"));
  CHECK(special[6].verdict->decision == Decision::pass);
  CHECK(to_json(special[6]).find(",\"id\":{\"k\":[1,2]},") != std::string::npos);
  CHECK(special[7].model == kModel);
  CHECK(special[7].verdict->decision == Decision::reject);

  check_summary(summary, records);
  CHECK(summary.records == inputs.size());
  CHECK(summary.cancelled == 0);
  CHECK(summary.bytes_transferred > 0);
  CHECK_FALSE(summary.online);
  const std::string text = summary_text(summary, false);
  CHECK(text.find("checked " + std::to_string(inputs.size()) + ": " + std::to_string(summary.pass) +
                  " pass, " + std::to_string(summary.reject) + " reject, 0 unknown, " +
                  std::to_string(summary.error) + " error\n") != std::string::npos);
  CHECK(text.find("interrupted") == std::string::npos);
}

TEST_CASE("probe-only (no model): probe records, no verdicts, the probe schema") {
  test::NginxServer nginx(test::source_root() / "examples");
  std::vector<CheckInput> inputs;
  for (const auto& [name, decision] : example_decisions()) {
    inputs.push_back(CheckInput::from_text(example(name).string()));
  }
  inputs.push_back(CheckInput::from_text(nginx.url("small-300x300.png")));
  inputs.push_back(CheckInput::from_memory("memory:bmp", file_bytes(example("mono-480x640.bmp"))));
  inputs.push_back(CheckInput::from_failure("@missing-list", Error{ErrorCode::io, "cannot open"}));
  inputs.back().id_json = "\"x\"";
  CheckSummary summary;
  const std::vector<CheckRecord> records = check_all(offline_options(""), inputs, &summary);
  for (const CheckRecord& record : records) {
    CAPTURE(record.source);
    CHECK(record.model.empty());
    CHECK_FALSE(record.verdict.has_value());
    CHECK_FALSE(record.remote.has_value());
    check_json(record);
  }
  CHECK(records[2].probe.error.code == ErrorCode::truncated);  // cut-short.jpg
  CHECK(records[8].probe.info.width == 300);
  CHECK(records[8].probe.network.has_value());
  CHECK(records[9].probe.info.height == 640);
  CHECK(records[10].probe.error.code == ErrorCode::io);
  CHECK(records[10].passed() == false);
  CHECK(to_json(records[10])
            .rfind("{\"source\":\"@missing-list\",\"id\":\"x\",\"format\":null,", 0) == 0);
  check_summary(summary, records);
  CHECK(summary.error == 2);
  CHECK(summary.calls_avoided == 0);
  CHECK(summary_text(summary, true).empty());  // probe-only prints no verdict counts
}

TEST_CASE("online against the fake: local passes are sent once each, the rest never") {
  test::TempDir images("facegate-check-images-");
  for (const char* name :
       {"portrait-640x800.jpg", "small-300x300.png", "banner-1600x400.webp", "mono-480x640.bmp"}) {
    fs::copy_file(example(name), images.path() / name);
  }
  fs::copy_file(example("portrait-640x800.jpg"), images.path() / "portrait-noface.jpg");
  test::FakeDashScope fake{std::string(kKey), images.path()};

  CheckerOptions options = offline_options();
  options.remote = RemoteMode::online;
  options.key = ApiKey(kKey);
  options.detect.base_url = fake.base_url();
  options.detect.backoff_base = 50ms;
  options.detect.rate_window_margin = 250ms;  // the fake stamps arrivals late on a busy machine
  options.upload = false;  // uploads: check_upload_test.cc
  const std::vector<std::pair<std::string, std::optional<DetectOutcome>>> expected = {
      {fake.file_url("portrait-640x800.jpg"), DetectOutcome::passed},
      {fake.file_url("portrait-noface.jpg"), DetectOutcome::failed_check},
      {fake.file_url("small-300x300.png"), std::nullopt},  // a local reject: no call
      {fake.file_url("banner-1600x400.webp"), DetectOutcome::passed},
      {example("portrait-640x800.jpg").string(), DetectOutcome::not_sent},  // a local file
      {fake.file_url("mono-480x640.bmp"), DetectOutcome::passed},
  };
  std::vector<CheckInput> inputs;
  for (const auto& [source, outcome] : expected) inputs.push_back(CheckInput::from_text(source));
  inputs.push_back(
      CheckInput::from_memory("memory:portrait", file_bytes(example("portrait-640x800.jpg"))));

  CheckSummary summary;
  const std::vector<CheckRecord> records = check_all(options, inputs, &summary);
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(records[i].source);
    check_json(records[i]);
    const auto& outcome = expected[i].second;
    REQUIRE(records[i].remote.has_value() == outcome.has_value());
    if (!outcome) continue;
    CHECK(records[i].verdict->decision == Decision::pass);
    CHECK(records[i].remote->outcome == *outcome);
    if (*outcome != DetectOutcome::not_sent) {
      sent.push_back(expected[i].first);
      CHECK(records[i].remote->billed == 1);
      CHECK(records[i].remote->attempts == 1);
    }
  }
  CHECK(records.back().remote->outcome == DetectOutcome::not_sent);  // memory cannot be sent
  CHECK(records.back().remote->detail.find("public URLs") != std::string::npos);

  std::vector<std::string> received;
  for (const test::FakeRequest& request : fake.requests()) received.push_back(request.image_url);
  std::sort(received.begin(), received.end());
  std::sort(sent.begin(), sent.end());
  CHECK(received == sent);

  check_summary(summary, records);
  CHECK(summary.online);
  CHECK(summary.remote_calls == 4);
  CHECK(summary.billed == 4);
  CHECK(summary.remote_passed == 3);
  CHECK(summary.possibly_billed == 0);
  CHECK(summary.calls_avoided == 1);
  CHECK(summary.cost ==
        std::vector<Money>{{"USD", 4 * 574},
                           {"CNY", 4 * 4000}});  // per image: USD 0.000574, CNY 0.004
  CHECK(summary_text(summary, false)
            .find("remote calls: 4, passed: 3, billed: 4, cost: USD 0.002296") !=
        std::string::npos);
}

// Two slow calls on the wire, two waiting for a rate slot, two header fetches that hang and
// many local inputs when cancel() comes: each gets its record, and no call goes out after it.
TEST_CASE("cancel with slow calls in flight: a record for every input, no call after cancel") {
  test::TempDir images("facegate-check-images-");
  fs::copy_file(example("portrait-640x800.jpg"), images.path() / "portrait.jpg");
  test::FakeDashScope fake{std::string(kKey), images.path()};
  test::FaultServer hanging(images.path());

  CheckerOptions options = offline_options();
  options.remote = RemoteMode::online;
  options.key = ApiKey(kKey);
  options.detect.base_url = fake.base_url();
  // Two calls a window (1 s + margin): the third and fourth wait for a slot that opens inside
  // the grace period, so a cancel that let them go would be seen by the fake.
  options.detect.requests_per_second = 2;
  options.detect.request_timeout = 20s;
  options.grace = 1500ms;
  Records records;
  auto checker = make_checker(options, records);

  std::vector<std::string> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(fake.file_url("portrait.jpg?fault=slow&delay=6&n=" + std::to_string(i)));
    REQUIRE(checker->submit(CheckInput::from_text(slow.back())) == SubmitStatus::accepted);
  }
  REQUIRE(fake.wait_for_requests(2).size() >= 2);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(checker->submit(CheckInput::from_text(hanging.url("hang"))) == SubmitStatus::accepted);
  }
  const std::vector<std::byte> portrait = file_bytes(example("portrait-640x800.jpg"));
  constexpr std::size_t kLocal = 300;
  for (std::size_t i = 0; i < kLocal; ++i) {
    REQUIRE(checker->submit(CheckInput::from_memory("memory:" + std::to_string(i), portrait)) ==
            SubmitStatus::accepted);
  }
  checker->cancel();
  const double cancelled_at = test::monotonic_seconds();
  CHECK(checker->submit(CheckInput::from_memory("late", portrait)) == SubmitStatus::cancelled);
  CheckInput late = CheckInput::from_memory("late", portrait);
  CHECK(checker->try_submit(late) == SubmitStatus::cancelled);
  checker->cancel();  // twice is harmless
  checker->finish();
  const CheckSummary summary = checker->summary();
  checker.reset();
  const std::vector<test::FakeRequest> requests = fake.requests();

  const std::vector<CheckRecord> all = records.exactly(slow.size() + 2 + kLocal);
  std::set<std::string> abandoned;
  std::size_t not_sent = 0;
  for (std::size_t i = 0; i < slow.size(); ++i) {
    const CheckRecord& record = all[i];
    CAPTURE(record.source);
    REQUIRE(record.verdict.has_value());
    CHECK(record.verdict->decision == Decision::pass);
    REQUIRE(record.remote.has_value());
    check_json(record);
    if (record.remote->outcome == DetectOutcome::not_sent) {
      ++not_sent;
      CHECK(record.remote->detail.find("cancel") != std::string::npos);
      continue;
    }
    // On the wire for 6 s, abandoned after the 1.5 s grace: it may have been billed.
    CHECK(record.remote->outcome == DetectOutcome::possibly_billed);
    CHECK(record.remote->billing_uncertain());
    CHECK(record.remote->attempts == 1);
    abandoned.insert(record.source);
  }
  CHECK(abandoned.size() >= 2);
  MESSAGE(not_sent << " calls were waiting for a rate slot at cancel");
  for (std::size_t i = slow.size(); i < slow.size() + 2; ++i) {
    CHECK_FALSE(all[i].checked());  // its header never came
    CHECK(all[i].probe.error.code == ErrorCode::cancelled);
    CHECK_FALSE(all[i].verdict.has_value());
  }
  for (std::size_t i = slow.size() + 2; i < all.size(); ++i) {
    if (all[i].checked()) {
      CHECK(all[i].verdict->decision == Decision::pass);
    } else {
      CHECK(all[i].probe.error.code == ErrorCode::cancelled);
    }
  }
  // The fake saw the calls that were on the wire, and none sent after cancel() returned.
  std::set<std::string> received;
  for (const test::FakeRequest& request : requests) {
    CAPTURE(request.image_url);
    CHECK(request.arrival < cancelled_at + 0.25);
    CHECK(received.insert(request.image_url).second);
  }
  CHECK(received == abandoned);

  check_summary(summary, all);
  CHECK(summary.possibly_billed == abandoned.size());
  CHECK(summary.cancelled >= 2);
  CHECK(summary_text(summary, false)
            .find("interrupted: " + std::to_string(summary.cancelled) + " inputs not checked\n") !=
        std::string::npos);
}

TEST_CASE("destroying a Checker with work pending: all 200 callbacks still run") {
  test::NginxServer nginx(test::source_root() / "examples");
  const std::vector<std::byte> bytes = file_bytes(example("mono-480x640.bmp"));
  CheckerOptions options = offline_options();
  options.grace = 1s;
  Records records;
  auto checker = make_checker(options, records);
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < 200; ++i) {
    const std::string& name = example_decisions()[i % example_decisions().size()].first;
    CheckInput input = i % 3 == 0   ? CheckInput::from_text(example(name).string())
                       : i % 3 == 1 ? CheckInput::from_text(nginx.url(name))
                                    : CheckInput::from_memory("memory:" + std::to_string(i), bytes);
    sources.push_back(input.source);
    REQUIRE(checker->submit(std::move(input)) == SubmitStatus::accepted);
  }
  checker.reset();  // cancels, then waits for every record
  const std::vector<CheckRecord> all = records.exactly(200);
  std::size_t checked = 0;
  for (const CheckRecord& record : all) {
    CHECK(record.source == sources[record.sequence]);
    if (record.checked()) {
      ++checked;
      CHECK(record.verdict.has_value());
    } else {
      CHECK(record.probe.error.code == ErrorCode::cancelled);
    }
  }
  MESSAGE(checked << " of 200 were checked before the Checker went");
}

TEST_CASE("max_in_flight 1: try_submit is full while an input is open; submit waits") {
  test::FaultServer hanging(test::source_root() / "examples");
  CheckerOptions options = offline_options();
  options.max_in_flight = 1;
  options.grace = 100ms;
  Records records;
  auto checker = make_checker(options, records);
  REQUIRE(checker->submit(CheckInput::from_text(hanging.url("hang"))) == SubmitStatus::accepted);

  const std::vector<std::byte> bytes = file_bytes(example("portrait-640x800.jpg"));
  CheckInput waiting = CheckInput::from_memory("waiting", bytes);
  CHECK(checker->try_submit(waiting) == SubmitStatus::full);
  CHECK(waiting.source == "waiting");  // not taken: left as it was
  CHECK(waiting.bytes == bytes);
  auto blocked =
      std::async(std::launch::async, [&] { return checker->submit(std::move(waiting)); });
  CHECK(blocked.wait_for(300ms) == std::future_status::timeout);
  checker->cancel();
  REQUIRE(blocked.wait_for(10s) == std::future_status::ready);
  CHECK(blocked.get() == SubmitStatus::cancelled);
  checker->finish();
  const std::vector<CheckRecord> all = records.exactly(1);
  CHECK(all[0].probe.error.code == ErrorCode::cancelled);

  // Without a cancel, a submit that waits goes on when the open input closes.
  Records sequential;
  auto one_at_a_time = make_checker(options, sequential);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(one_at_a_time->submit(CheckInput::from_memory("m", bytes)) == SubmitStatus::accepted);
  }
  one_at_a_time->finish();
  for (const CheckRecord& record : sequential.exactly(50)) {
    CHECK(record.verdict->decision == Decision::pass);
  }
}

// A call handed to the loop but queued behind the per-host limit has not been sent when
// cancel() comes: it must not go out when the call ahead of it ends within the grace period.
TEST_CASE("cancel: a call still queued behind the per-host limit is never sent") {
  test::TempDir images("facegate-check-images-");
  fs::copy_file(example("portrait-640x800.jpg"), images.path() / "portrait.jpg");
  test::FakeDashScope fake{std::string(kKey)};
  test::NginxServer nginx(images.path());  // the images on a host of their own
  CheckerOptions options = offline_options();
  options.remote = RemoteMode::online;
  options.key = ApiKey(kKey);
  options.detect.base_url = fake.base_url();
  options.loop.max_transfers_per_host = 1;
  options.grace = 5s;  // long enough for the first call to end
  Records records;
  auto checker = make_checker(options, records);
  const std::string first = nginx.url("portrait.jpg?fault=slow&delay=1&n=0");
  const std::string second = nginx.url("portrait.jpg?fault=slow&delay=1&n=1");
  REQUIRE(checker->submit(CheckInput::from_text(first)) == SubmitStatus::accepted);
  REQUIRE(checker->submit(CheckInput::from_text(second)) == SubmitStatus::accepted);
  REQUIRE(fake.wait_for_requests(1).size() == 1);
  checker->cancel();
  const double cancelled_at = test::monotonic_seconds();
  checker->finish();
  const std::vector<CheckRecord> all = records.exactly(2);
  const std::vector<test::FakeRequest> requests = fake.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].image_url == first);
  CHECK(requests[0].arrival < cancelled_at);
  REQUIRE(all[0].remote.has_value());
  CHECK(all[0].remote->outcome == DetectOutcome::passed);  // it ended within the grace period
  REQUIRE(all[1].remote.has_value());
  CHECK(all[1].remote->outcome == DetectOutcome::not_sent);
  MESSAGE(all[1].remote->detail);
  CHECK_FALSE(all[1].remote->billing_uncertain());
}
