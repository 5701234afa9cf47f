// facegate::Checker's deep check and its only_images option, driven directly: an image whose
// header passes but whose data is cut short is image.corrupt (a warning; strict: a rejection),
// an intact one decodes, a limit refuses without a fault, inputs that are not images are
// counted instead of judged; CheckInput::from_walk turns walk records into inputs; with
// deep_urls, URLs served by nginx are downloaded whole and decoded the same way.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "facegate/check.hpp"
#include "servers/test_servers.hpp"

using namespace facegate;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> example_bytes(std::string_view name) {
  const std::string text = test::read_text(test::source_root() / "examples" / name);
  const auto* begin = reinterpret_cast<const std::byte*>(text.data());
  return {begin, begin + text.size()};
}

// The JPEG example, whole or cut after `keep` bytes (its header is in the first 512).
CheckInput portrait(std::size_t keep = ~std::size_t{0}) {
  std::vector<std::byte> bytes = example_bytes("portrait-640x800.jpg");
  bytes.resize(std::min(keep, bytes.size()));
  return CheckInput::from_memory("portrait", std::move(bytes));
}

CheckInput text_file() {
  const std::string text = "not an image at all";
  const auto* begin = reinterpret_cast<const std::byte*>(text.data());
  return CheckInput::from_memory("notes.txt", {begin, begin + text.size()});
}

CheckerOptions deep_options(std::string model = "wan2.2-s2v-detect") {
  CheckerOptions options;
  options.model = std::move(model);
  options.deep = true;
  options.local_threads = 2;
  return options;
}

// The records of `inputs` by sequence, and the summary after them.
std::vector<CheckRecord> check_all(CheckerOptions options, std::vector<CheckInput> inputs,
                                   CheckSummary& summary) {
  std::mutex mutex;
  std::vector<CheckRecord> records;
  CheckerResult made = Checker::create(std::move(options), [&](CheckRecord record) {
    std::lock_guard lock(mutex);
    records.push_back(std::move(record));
  });
  REQUIRE_MESSAGE(made.ok(), made.error);
  for (CheckInput& input : inputs) REQUIRE(made.checker->submit(std::move(input)) == SubmitStatus::accepted);
  made.checker->finish();
  summary = made.checker->summary();
  made.checker.reset();
  std::sort(records.begin(), records.end(),
            [](const CheckRecord& a, const CheckRecord& b) { return a.sequence < b.sequence; });
  REQUIRE(records.size() == inputs.size());
  return records;
}

std::vector<CheckRecord> check_all(CheckerOptions options, std::vector<CheckInput> inputs) {
  CheckSummary ignored;
  return check_all(std::move(options), std::move(inputs), ignored);
}

// The keys of a record's JSON object, in order.
std::vector<std::string> json_keys(const CheckRecord& record) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  REQUIRE(parser.parse(to_json(record)).get(object) == simdjson::SUCCESS);
  std::vector<std::string> keys;
  for (auto field : object) keys.emplace_back(field.key);
  return keys;
}

}  // namespace

TEST_CASE("deep: an intact image decodes; one cut inside its data is image.corrupt, a warning") {
  std::vector<CheckInput> inputs;
  inputs.push_back(portrait());
  inputs.push_back(portrait(3000));
  CheckSummary summary;
  const auto records = check_all(deep_options(), std::move(inputs), summary);

  const CheckRecord& intact = records[0];
  REQUIRE(intact.deep.has_value());
  CHECK(intact.deep->ok());
  CHECK(intact.deep->pixels == 640u * 800u);
  CHECK(intact.verdict->decision == Decision::pass);
  CHECK(intact.verdict->find("image.corrupt") == nullptr);

  const CheckRecord& cut = records[1];
  CHECK(cut.probe.ok());  // the header is intact
  REQUIRE(cut.deep.has_value());
  CHECK(cut.deep->outcome == DeepOutcome::corrupt);
  CHECK(cut.verdict->decision == Decision::pass);
  const Finding* corrupt = cut.verdict->find("image.corrupt");
  REQUIRE(corrupt != nullptr);
  CHECK(corrupt->severity == Severity::warn);
  CHECK(corrupt->message.find(cut.deep->reason) != std::string::npos);
  CHECK(cut.passed());

  CHECK(summary.deep_checked == 2);
  CHECK(summary.deep_corrupt == 1);
  CHECK(summary_text(summary, false).find("deep check: 2 images, 1 corrupt") != std::string::npos);
  const std::vector<std::string> keys = json_keys(cut);
  const std::vector<std::string> expected = {"source", "model", "decision", "findings", "image",
                                             "deep", "deep_outcome", "deep_us", "remote"};
  CHECK(keys == expected);
}

TEST_CASE("deep, strict: image.corrupt rejects; without deep nothing is decoded") {
  CheckerOptions strict = deep_options();
  strict.strict = true;
  std::vector<CheckInput> inputs;
  inputs.push_back(portrait(3000));
  const CheckRecord cut = check_all(strict, std::move(inputs)).front();
  CHECK(cut.verdict->decision == Decision::reject);
  REQUIRE(cut.verdict->find("image.corrupt") != nullptr);
  CHECK(cut.verdict->find("image.corrupt")->severity == Severity::reject);
  CHECK_FALSE(cut.passed());

  CheckerOptions header_only = deep_options();
  header_only.deep = false;
  inputs.clear();
  inputs.push_back(portrait(3000));
  const CheckRecord unchecked = check_all(header_only, std::move(inputs)).front();
  CHECK_FALSE(unchecked.deep.has_value());
  CHECK(unchecked.verdict->decision == Decision::pass);
  const std::vector<std::string> keys = json_keys(unchecked);
  CHECK(std::find(keys.begin(), keys.end(), "deep") == keys.end());
}

TEST_CASE("deep: only images whose header passes are decoded; model.retired stays last") {
  std::vector<CheckInput> inputs;
  inputs.push_back(CheckInput::from_memory("small", example_bytes("small-300x300.png")));
  inputs.push_back(portrait(3000));
  // emo-detect-v1 is retired (model.retired ends its verdicts) and takes 640 x 800 JPEGs.
  const auto records = check_all(deep_options("emo-detect-v1"), std::move(inputs));
  CHECK(records[0].verdict->decision == Decision::reject);
  CHECK_FALSE(records[0].deep.has_value());
  REQUIRE(records[1].verdict->decision == Decision::pass);
  const std::vector<Finding>& findings = records[1].verdict->findings;
  REQUIRE(findings.size() >= 2);
  CHECK(findings[findings.size() - 2].code == "image.corrupt");
  CHECK(findings.back().code == "model.retired");
}

TEST_CASE("deep: an image above deep_limits.max_pixels is refused, an info, not a fault") {
  CheckerOptions options = deep_options();
  options.strict = true;
  options.deep_limits.max_pixels = 640 * 800 - 1;
  options.deep_decodes_in_flight = 1;
  std::vector<CheckInput> inputs;
  inputs.push_back(portrait());
  inputs.push_back(portrait(3000));
  for (const CheckRecord& record : check_all(options, std::move(inputs))) {
    REQUIRE(record.deep.has_value());
    CHECK(record.deep->outcome == DeepOutcome::refused);
    CHECK(record.deep->pixels == 0);
    REQUIRE(record.verdict->find("image.not_decoded") != nullptr);
    CHECK(record.verdict->find("image.not_decoded")->severity == Severity::info);
    CHECK(record.verdict->decision == Decision::pass);
  }
}

TEST_CASE("deep: a local file is read whole; one that is gone is not decoded, not corrupt") {
  test::TempDir dir("facegate-check-deep-");
  const fs::path path = dir.path() / "cut.jpg";
  const std::vector<std::byte> bytes = example_bytes("portrait-640x800.jpg");
  test::write_text(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), 3000));
  std::vector<CheckInput> inputs;
  inputs.push_back(CheckInput::from_path(path.string()));
  const CheckRecord cut = check_all(deep_options(), std::move(inputs)).front();
  REQUIRE(cut.deep.has_value());
  CHECK(cut.deep->outcome == DeepOutcome::corrupt);
  CHECK(*cut.probe.file_size == 3000);
}

TEST_CASE("only_images: inputs that are not images are counted, not judged") {
  for (const bool probe_only : {false, true}) {
    CAPTURE(probe_only);
    CheckerOptions options = deep_options(probe_only ? "" : "wan2.2-s2v-detect");
    options.only_images = true;
    std::vector<CheckInput> inputs;
    inputs.push_back(text_file());
    inputs.push_back(portrait());
    inputs.push_back(CheckInput::from_memory("svg", example_bytes("drawing.svg")));  // an image
    CheckSummary summary;
    const auto records = check_all(options, std::move(inputs), summary);
    CHECK(records[0].not_an_image);
    CHECK_FALSE(records[0].shown());
    CHECK_FALSE(records[0].verdict.has_value());
    CHECK(records[0].probe.error.code == ErrorCode::unsupported_format);
    CHECK_FALSE(records[1].not_an_image);
    CHECK_FALSE(records[2].not_an_image);
    CHECK(records[2].shown());
    CHECK(summary.records == 3);
    CHECK(summary.not_images == 1);
    CHECK(summary.pass + summary.reject + summary.unknown + summary.error == 2);
    CHECK(summary_text(summary, probe_only).find("not images: 1 skipped") != std::string::npos);
  }

  CheckerOptions judged = deep_options();
  std::vector<CheckInput> inputs;
  inputs.push_back(text_file());
  CheckSummary summary;
  const CheckRecord text = check_all(judged, std::move(inputs), summary).front();
  CHECK_FALSE(text.not_an_image);  // without only_images: judged, format.unknown
  CHECK(text.verdict->find("format.unknown") != nullptr);
  CHECK(summary.not_images == 0);
}

TEST_CASE("from_walk: files are path inputs, entries that could not be walked failed ones") {
  test::TempDir dir("facegate-check-walk-");
  fs::create_directories(dir.path() / "x:");
  const std::vector<std::byte> bytes = example_bytes("portrait-640x800.jpg");
  test::write_text(dir.path() / "x:" / "y.jpg", std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  fs::create_symlink("missing", dir.path() / "x:" / "z.jpg");

  // A root named "x://": its file's path "x://y.jpg" looks like a URL, yet is a path.
  std::vector<CheckInput> inputs;
  const fs::path previous = fs::current_path();
  fs::current_path(dir.path());
  for (DirectoryWalker walk("x://", WalkOptions{true}); auto entry = walk.next();) {
    inputs.push_back(CheckInput::from_walk(std::move(*entry)));
  }
  REQUIRE(inputs.size() == 2);
  CHECK(inputs[0].kind == CheckInput::Kind::path);
  CHECK(inputs[0].source == "x://y.jpg");
  CHECK(inputs[1].kind == CheckInput::Kind::failed);
  CHECK(inputs[1].failure.code == ErrorCode::io);
  const auto records = check_all(deep_options(), std::move(inputs));
  fs::current_path(previous);
  CHECK(records[0].verdict->decision == Decision::pass);
  CHECK(records[0].deep.has_value());
  CHECK(records[1].verdict->decision == Decision::error);
  CHECK(records[1].source == "x://z.jpg");
}

namespace {

// Examples served by nginx on loopback: three intact images and the portrait cut inside its
// data (header intact).
class ServedExamples {
 public:
  ServedExamples() {
    for (const char* name : kIntact) {
      fs::copy_file(test::source_root() / "examples" / name, dir_.path() / name);
    }
    const std::vector<std::byte> bytes = example_bytes("portrait-640x800.jpg");
    test::write_text(dir_.path() / "cut.jpg",
                     std::string_view(reinterpret_cast<const char*>(bytes.data()), 3000));
    nginx_.emplace(dir_.path());
  }
  std::string url(std::string_view name) const { return nginx_->url(name); }

  static constexpr const char* kIntact[] = {"portrait-640x800.jpg", "mono-480x640.bmp",
                                            "banner-1600x400.webp"};

 private:
  test::TempDir dir_{"facegate-deep-urls-"};
  std::optional<test::NginxServer> nginx_;
};

CheckerOptions deep_url_options() {
  CheckerOptions options = deep_options();
  options.deep_urls = true;
  options.fetch.allow_private_network = true;  // the service could fetch them: judged as files
  return options;
}

}  // namespace

TEST_CASE("deep_urls: a URL whose header passes is downloaded whole and decoded") {
  const ServedExamples served;
  std::vector<CheckInput> inputs;
  for (const char* name : ServedExamples::kIntact) {
    inputs.push_back(CheckInput::from_text(served.url(name)));
  }
  inputs.push_back(CheckInput::from_text(served.url("cut.jpg")));
  CheckSummary summary;
  const auto records = check_all(deep_url_options(), std::move(inputs), summary);
  for (std::size_t i = 0; i < 3; ++i) {
    const CheckRecord& intact = records[i];
    INFO(intact.source);
    REQUIRE(intact.deep.has_value());
    CHECK(intact.deep->ok());
    CHECK(intact.deep->pixels == std::uint64_t{intact.probe.info.width} * intact.probe.info.height);
    CHECK(intact.verdict->decision == Decision::pass);
    // The header's bytes, then the whole file once more: both count.
    const auto size = fs::file_size(test::source_root() / "examples" / ServedExamples::kIntact[i]);
    CHECK(intact.probe.network->bytes_transferred > size);
    CHECK(intact.probe.network->requests == 2);
  }
  const CheckRecord& cut = records[3];
  CHECK(cut.probe.ok());
  REQUIRE(cut.deep.has_value());
  CHECK(cut.deep->outcome == DeepOutcome::corrupt);
  const Finding* corrupt = cut.verdict->find("image.corrupt");
  REQUIRE(corrupt != nullptr);
  CHECK(corrupt->severity == Severity::warn);
  CHECK(cut.verdict->decision == Decision::pass);
  CHECK(summary.deep_checked == 4);
  CHECK(summary.deep_corrupt == 1);
  const std::vector<std::string> keys = json_keys(cut);
  CHECK(std::find(keys.begin(), keys.end(), "deep_outcome") != keys.end());

  CheckerOptions strict = deep_url_options();
  strict.strict = true;
  inputs.clear();
  inputs.push_back(CheckInput::from_text(served.url("cut.jpg")));
  const CheckRecord rejected = check_all(strict, std::move(inputs)).front();
  CHECK(rejected.verdict->decision == Decision::reject);
  REQUIRE(rejected.verdict->find("image.corrupt") != nullptr);
  CHECK(rejected.verdict->find("image.corrupt")->severity == Severity::reject);
}

TEST_CASE("deep_urls: a body above the cap is not decoded, an info; without it nothing is downloaded") {
  const ServedExamples served;
  CheckerOptions capped = deep_url_options();
  capped.strict = true;
  capped.deep_limits.max_file_bytes = 5000;  // the portrait has 5597 bytes
  std::vector<CheckInput> inputs;
  inputs.push_back(CheckInput::from_text(served.url("portrait-640x800.jpg")));
  const CheckRecord over = check_all(capped, std::move(inputs)).front();
  REQUIRE(over.deep.has_value());
  CHECK(over.deep->outcome == DeepOutcome::refused);
  CHECK(over.deep->reason.find("byte_cap") != std::string::npos);
  const Finding* not_decoded = over.verdict->find("image.not_decoded");
  REQUIRE(not_decoded != nullptr);
  CHECK(not_decoded->severity == Severity::info);
  CHECK(over.verdict->decision == Decision::pass);
  CHECK(over.probe.network->bytes_transferred <= 1024 + 512 + 5000 + 16 * 1024);  // + one read

  for (const bool deep : {false, true}) {
    CAPTURE(deep);
    CheckerOptions header_only = deep_url_options();
    header_only.deep = deep;
    header_only.deep_urls = false;
    inputs.clear();
    inputs.push_back(CheckInput::from_text(served.url("cut.jpg")));
    inputs.push_back(CheckInput::from_text(served.url("portrait-640x800.jpg")));
    for (const CheckRecord& record : check_all(header_only, std::move(inputs))) {
      CHECK_FALSE(record.deep.has_value());
      CHECK(record.verdict->decision == Decision::pass);
      CHECK(record.probe.network->requests == 1);
      CHECK(record.probe.network->bytes_transferred < 2048);  // one 1 KiB range and its headers
    }
  }
}
