// The temporary upload of local files (include/facegate/upload.hpp, CheckerOptions::upload)
// through facegate::Checker, against the fake service's policy and upload endpoints
// (tests/servers/fake_dashscope.py): only passes are uploaded, each once; the ledger reuses an
// upload while it is valid; the policy's and the upload's faults end in clear records.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_run.hpp"
#include "facegate/check.hpp"
#include "process_memory.hpp"
#include "servers/fake_dashscope.hpp"
#include "servers/test_servers.hpp"

using namespace facegate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKey = "sk-test-upload-5d2a90c1";

fs::path example(std::string_view name) { return test::source_root() / "examples" / name; }

// A folder of local images: four that pass wan2.2-s2v-detect (one fails the fake's face rule)
// and two that it rejects.
struct LocalImages {
  test::TempDir dir{"facegate-upload-images-"};
  std::vector<std::string> passing, rejected;
  LocalImages() {
    for (const char* name : {"portrait-640x800.jpg", "banner-1600x400.webp", "mono-480x640.bmp"}) {
      fs::copy_file(example(name), dir.path() / name);
      passing.push_back((dir.path() / name).string());
    }
    // Other bytes than the portrait's (a byte after its end), so that its upload is its own:
    // the fake's face rule goes by the object's name.
    const fs::path noface = dir.path() / "portrait-noface.jpg";
    fs::copy_file(example("portrait-640x800.jpg"), noface);
    fs::resize_file(noface, fs::file_size(noface) + 1);
    passing.push_back(noface.string());
    for (const char* name : {"small-300x300.png", "wide-7200x600.png"}) {
      fs::copy_file(example(name), dir.path() / name);
      rejected.push_back((dir.path() / name).string());
    }
  }
  std::vector<std::string> all() const {
    std::vector<std::string> paths = passing;
    paths.insert(paths.end(), rejected.begin(), rejected.end());
    return paths;
  }
  std::uint64_t passing_bytes() const {
    std::uint64_t total = 0;
    for (const std::string& path : passing) total += fs::file_size(path);
    return total;
  }
};

// A clock the test moves (the ledger's and the upload's expiry).
struct TestClock {
  std::shared_ptr<std::chrono::system_clock::time_point> now =
      std::make_shared<std::chrono::system_clock::time_point>(
          std::chrono::sys_days{2026y / 12 / 1});
  std::function<std::chrono::system_clock::time_point()> function() const {
    return [now = now] { return *now; };
  }
};

CheckerOptions online(const test::FakeDashScope& fake) {
  CheckerOptions options;
  options.model = "wan2.2-s2v-detect";
  options.remote = RemoteMode::online;
  options.key = ApiKey(kKey);
  options.detect.base_url = fake.base_url();
  options.detect.backoff_base = 20ms;
  options.detect.backoff_cap = 100ms;
  options.detect.rate_window_margin = 250ms;  // the fake stamps arrivals late on a busy machine
  options.fetch.allow_private_network = true;
  return options;
}

// Checks every path and returns the records by path, and the summary.
std::map<std::string, CheckRecord> check_paths(CheckerOptions options,
                                               const std::vector<std::string>& paths,
                                               CheckSummary* summary = nullptr) {
  std::mutex mutex;
  std::map<std::string, CheckRecord> records;
  CheckerResult made = Checker::create(std::move(options), [&](CheckRecord record) {
    std::lock_guard lock(mutex);
    records.emplace(record.source, std::move(record));
  });
  REQUIRE_MESSAGE(made.ok(), made.error);
  for (const std::string& path : paths) {
    REQUIRE(made.checker->submit(CheckInput::from_path(path)) == SubmitStatus::accepted);
  }
  made.checker->finish();
  if (summary != nullptr) *summary = made.checker->summary();
  made.checker.reset();
  REQUIRE(records.size() == paths.size());
  for (const auto& entry : records) {
    const CheckRecord& record = entry.second;
    simdjson::dom::parser parser;
    simdjson::dom::element parsed;
    CHECK_MESSAGE(parser.parse(to_json(record)).get(parsed) == simdjson::SUCCESS, to_json(record));
  }
  return records;
}

std::string base_name(const std::string& path) { return fs::path(path).filename().string(); }

// The uploads the fake stored, by the base name at the end of their key.
std::multiset<std::string> stored_names(const test::FakeDashScope& fake) {
  std::multiset<std::string> names;
  for (const test::FakeUpload& upload : fake.uploads()) {
    if (upload.status != 200) continue;
    const std::string name = upload.key.substr(upload.key.find_last_of('/') + 1);
    names.insert(name.substr(name.find('-') + 1));  // after "{sha256 prefix}-"
  }
  return names;
}

std::multiset<std::string> names_of(const std::vector<std::string>& paths) {
  std::multiset<std::string> names;
  for (const std::string& path : paths) names.insert(base_name(path));
  return names;
}

}  // namespace

TEST_CASE("a mixed local batch: only the passes are uploaded, each once, and checked by oss://") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  test::TempDir state("facegate-upload-ledger-");
  const TestClock clock;
  CheckerOptions options = online(fake);
  options.ledger = state.path() / "ledger.sqlite3";
  options.ledger_options.clock = clock.function();

  CheckSummary summary;
  auto records = check_paths(options, images.all(), &summary);
  for (const std::string& path : images.rejected) {
    CAPTURE(path);
    CHECK(records[path].verdict->decision == Decision::reject);
    CHECK_FALSE(records[path].upload.has_value());
    CHECK_FALSE(records[path].remote.has_value());
  }
  std::set<std::string> oss_urls;
  for (const std::string& path : images.passing) {
    CAPTURE(path);
    const CheckRecord& record = records[path];
    REQUIRE(record.upload.has_value());
    CHECK(record.upload->outcome == UploadOutcome::uploaded);
    CHECK(record.upload->oss_url.starts_with("oss://"));
    CHECK(record.upload->bytes == fs::file_size(path));
    CHECK(record.upload->attempts == 1);
    REQUIRE(record.upload->expires_at.has_value());
    CHECK(*record.upload->expires_at == *clock.now + kOssUrlLifetime);
    const bool noface = path.find("noface") != std::string::npos;
    REQUIRE(record.remote.has_value());
    CHECK(record.remote->outcome == (noface ? DetectOutcome::failed_check : DetectOutcome::passed));
    CHECK(record.remote->billed == 1);
    CHECK(to_json(record).find("\"upload\":{\"outcome\":\"uploaded\"") != std::string::npos);
    oss_urls.insert(record.upload->oss_url);
  }
  // The fake: one policy, one upload per pass with the form in order, one call per pass, each
  // by its oss:// URL with the resolve header.
  CHECK(fake.policy_requests().size() == 1);
  CHECK(stored_names(fake) == names_of(images.passing));
  for (const test::FakeUpload& upload : fake.uploads()) {
    CHECK(upload.fields == std::vector<std::string>{"OSSAccessKeyId", "Signature", "policy", "key",
                                                    "x-oss-object-acl", "x-oss-forbid-overwrite",
                                                    "success_action_status", "file"});
  }
  std::set<std::string> called;
  for (const test::FakeRequest& request : fake.requests()) {
    CHECK(request.oss_resolve);
    called.insert(request.image_url);
  }
  CHECK(fake.requests().size() == images.passing.size());
  CHECK(called == oss_urls);
  CHECK(summary.uploads == 4);
  CHECK(summary.upload_bytes == images.passing_bytes());
  CHECK(summary.remote_calls == 4);
  CHECK(summary.calls_avoided == 2);
  CHECK(summary_text(summary, false)
            .find("uploads: 4 (" + std::to_string(images.passing_bytes()) +
                  " bytes), reused from the ledger: 0, failed: 0") != std::string::npos);

  // The later runs: the fake's logs keep the first run's entries (a reset would also forget
  // the uploaded objects).
  const std::size_t calls = fake.requests().size();
  SUBCASE("a second run reuses the answers: nothing is uploaded or called") {
    CheckSummary again;
    auto second = check_paths(options, images.all(), &again);
    for (const std::string& path : images.passing) {
      CHECK(second[path].remote->cached);
      CHECK_FALSE(second[path].upload.has_value());
    }
    CHECK(fake.uploads().size() == 4);
    CHECK(fake.policy_requests().size() == 1);
    CHECK(fake.requests().size() == calls);
    CHECK(again.reused == 4);
    CHECK(again.uploads == 0);
  }
  SUBCASE("--refresh within the validity: the calls again, by the remembered URLs") {
    options.reuse.refresh = true;
    *clock.now += 46h;  // 2 h left: more than the margin of 1 h
    auto second = check_paths(options, images.all());
    for (const std::string& path : images.passing) {
      REQUIRE(second[path].upload.has_value());
      CHECK(second[path].upload->outcome == UploadOutcome::reused);
      CHECK(second[path].upload->oss_url == records[path].upload->oss_url);
      CHECK_FALSE(second[path].remote->cached);
      CHECK(second[path].remote->billed == 1);
    }
    CHECK(fake.uploads().size() == 4);
    std::set<std::string> called_again, remembered;  // a 429 of the fake's window may add retries
    const std::vector<test::FakeRequest> requests = fake.requests();
    for (std::size_t i = calls; i < requests.size(); ++i)
      called_again.insert(requests[i].image_url);
    for (const std::string& path : images.passing) remembered.insert(records[path].upload->oss_url);
    CHECK(called_again == remembered);
  }
  SUBCASE("--refresh once the URLs are about to expire: uploaded again") {
    options.reuse.refresh = true;
    *clock.now += 47h + 30min;  // 30 min left: less than the margin
    auto second = check_paths(options, images.all());
    for (const std::string& path : images.passing) {
      CHECK(second[path].upload->outcome == UploadOutcome::uploaded);
      CHECK(second[path].upload->oss_url != records[path].upload->oss_url);  // a new policy
      CHECK(second[path].remote->outcome != DetectOutcome::not_sent);
    }
    std::multiset<std::string> twice = names_of(images.passing);
    for (const std::string& name : names_of(images.passing)) twice.insert(name);
    CHECK(stored_names(fake) == twice);
  }
}

TEST_CASE("a large file is streamed: the upload holds a small part of it at once") {
  test::TempDir dir("facegate-upload-large-");
  const fs::path large = dir.path() / "large-portrait.jpg";
  fs::copy_file(example("portrait-640x800.jpg"), large);
  constexpr std::uint64_t kSize = 96ull << 20;
  fs::resize_file(large, kSize);  // the header is intact; the rest reads as zeros
  test::FakeDashScope fake{std::string(kKey)};
  test::reset_peak_rss();  // the peak is now the resident size: the baseline
  const std::uint64_t before = test::status_bytes("VmHWM:");
  auto records = check_paths(online(fake), {large.string()});
  // The kernel updates the peak lazily (on unmap, among others): it may read below the
  // baseline when nothing grew.
  const std::uint64_t after = test::status_bytes("VmHWM:");
  const std::uint64_t peak = after > before ? after - before : 0;
  const CheckRecord& record = records.begin()->second;
  REQUIRE(record.upload.has_value());
  CHECK(record.upload->outcome == UploadOutcome::uploaded);
  CHECK(record.upload->bytes == kSize);
  REQUIRE(fake.uploads().size() == 1);
  CHECK(fake.uploads().front().size == static_cast<std::int64_t>(kSize));
  MESSAGE("a 96 MiB upload: peak RSS +" << (peak >> 20) << " MiB");
  CHECK(peak < (32ull << 20));
}

TEST_CASE("policy faults: 500 and 429 are asked again; 401 fails every upload, none is called") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  SUBCASE("500 then success") {
    fake.set_fault("policy", "500", 1);
    auto records = check_paths(online(fake), images.passing);
    for (const auto& entry : records)
      CHECK(entry.second.upload->outcome == UploadOutcome::uploaded);
    CHECK(fake.policy_requests().size() == 2);
  }
  SUBCASE("429 then success") {
    fake.set_fault("policy", "429", 1);
    auto records = check_paths(online(fake), images.passing);
    for (const auto& entry : records)
      CHECK(entry.second.upload->outcome == UploadOutcome::uploaded);
    CHECK(fake.policy_requests().size() == 2);
  }
  SUBCASE("401: asked once, every upload fails") {
    fake.set_fault("policy", "401", 100);
    CheckSummary summary;
    auto records = check_paths(online(fake), images.all(), &summary);
    for (const std::string& path : images.passing) {
      const CheckRecord& record = records[path];
      REQUIRE(record.upload.has_value());
      CHECK(record.upload->outcome == UploadOutcome::failed);
      CHECK(record.upload->error.find("401") != std::string::npos);
      CHECK(record.remote->outcome == DetectOutcome::not_sent);
      CHECK(record.remote->detail.find("the upload failed") != std::string::npos);
      CHECK_FALSE(record.passed());
    }
    CHECK(fake.policy_requests().size() == 1);
    CHECK(fake.uploads().empty());
    CHECK(fake.requests().empty());
    CHECK(summary.upload_failures == 4);
    CHECK(summary.remote_calls == 0);
  }
}

TEST_CASE("upload faults: an expired policy is renewed once; a cut-off upload is sent again") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  SUBCASE("Policy expired: a new policy, then the upload") {
    fake.set_fault("upload", "expired", 1);
    auto records = check_paths(online(fake), {images.passing[0]});
    const CheckRecord& record = records.begin()->second;
    CHECK(record.upload->outcome == UploadOutcome::uploaded);
    CHECK(record.upload->attempts == 2);
    CHECK(fake.policy_requests().size() == 2);
    CHECK(record.remote->outcome == DetectOutcome::passed);
    CHECK(fake.requests().size() == 1);
  }
  SUBCASE("Policy expired twice: the file fails, nothing is called") {
    fake.set_fault("upload", "expired", 2);
    auto records = check_paths(online(fake), {images.passing[0]});
    const CheckRecord& record = records.begin()->second;
    CHECK(record.upload->outcome == UploadOutcome::failed);
    CHECK(record.upload->error.find("Policy expired") != std::string::npos);
    CHECK(fake.requests().empty());
  }
  SUBCASE("cut off once: sent again, called once") {
    fake.set_fault("upload", "reset", 1);
    auto records = check_paths(online(fake), {images.passing[0]});
    const CheckRecord& record = records.begin()->second;
    CHECK(record.upload->outcome == UploadOutcome::uploaded);
    // Posted twice: by facegate, or by libcurl itself when the connection it reused (the
    // policy's, to the same host) died before an answer; then the file is read again.
    CHECK(fake.uploads().size() == 2);
    CHECK(fake.uploads().back().status == 200);
    CHECK(fake.uploads().back().size ==
          static_cast<std::int64_t>(fs::file_size(images.passing[0])));
    // The bytes of the cut-off post count too.
    CHECK(record.upload->bytes >= fs::file_size(images.passing[0]));
    CHECK(record.upload->bytes <= 2 * fs::file_size(images.passing[0]));
    CHECK(record.remote->billed == 1);
    CHECK(fake.requests().size() == 1);
  }
  SUBCASE("cut off every time: a clear failure after the attempts, never called") {
    fake.set_fault("upload", "reset", 100);
    CheckSummary summary;
    auto records = check_paths(online(fake), {images.passing[0]}, &summary);
    const CheckRecord& record = records.begin()->second;
    CHECK(record.upload->outcome == UploadOutcome::failed);
    CHECK(record.upload->attempts == 3);
    CHECK(record.upload->error.find("after 3 attempt(s)") != std::string::npos);
    CHECK(record.remote->outcome == DetectOutcome::not_sent);
    CHECK(summary.billed == 0);
    CHECK(summary.possibly_billed == 0);
    CHECK(fake.requests().empty());
  }
}

TEST_CASE("one file twice in a run: the second post finds the object there (409), both called") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  std::mutex mutex;
  std::vector<CheckRecord> records;
  CheckerResult made = Checker::create(online(fake), [&](CheckRecord record) {
    std::lock_guard lock(mutex);
    records.push_back(std::move(record));
  });
  REQUIRE(made.ok());
  for (int i = 0; i < 2; ++i) made.checker->submit(CheckInput::from_path(images.passing[0]));
  made.checker->finish();
  made.checker.reset();
  REQUIRE(records.size() == 2);
  std::multiset<int> statuses;
  for (const test::FakeUpload& upload : fake.uploads()) statuses.insert(upload.status);
  CHECK(statuses == std::multiset<int>{200, 409});
  CHECK(records[0].upload->oss_url == records[1].upload->oss_url);
  for (const CheckRecord& record : records) {
    CHECK(record.upload->outcome == UploadOutcome::uploaded);
    CHECK(record.remote->outcome == DetectOutcome::passed);
  }
  // The one found there has no known expiry.
  CHECK(records[0].upload->expires_at.has_value() != records[1].upload->expires_at.has_value());
}

TEST_CASE("--max-calls: a file whose call would not be sent is not uploaded either") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  CheckerOptions options = online(fake);
  options.max_calls = 1;
  CheckSummary summary;
  auto records = check_paths(options, images.passing, &summary);
  CHECK(summary.uploads == 1);
  CHECK(summary.budget_exhausted == 3);
  CHECK(fake.uploads().size() == 1);
  CHECK(fake.requests().size() == 1);
  for (const auto& entry : records) {
    if (entry.second.remote->outcome == DetectOutcome::budget_exhausted) {
      CHECK_FALSE(entry.second.upload.has_value());
    }
  }
}

TEST_CASE("cancel while files upload: a record for each, no upload counted as failed") {
  test::TempDir dir("facegate-upload-cancel-");
  std::vector<std::string> paths;
  for (int i = 0; i < 24; ++i) {
    paths.push_back((dir.path() / ("face-" + std::to_string(i) + ".jpg")).string());
    fs::copy_file(example("portrait-640x800.jpg"), paths.back());
    fs::resize_file(paths.back(), fs::file_size(paths.back()) + i);  // each its own bytes
  }
  test::FakeDashScope fake{std::string(kKey)};
  fake.set_fault("policy", "500", 1);  // the first policy waits for a retry: a cancel finds work
  std::mutex mutex;
  std::vector<CheckRecord> records;
  CheckerOptions options = online(fake);
  options.grace = 2s;
  CheckerResult made = Checker::create(options, [&](CheckRecord record) {
    std::lock_guard lock(mutex);
    records.push_back(std::move(record));
  });
  REQUIRE(made.ok());
  for (const std::string& path : paths) made.checker->submit(CheckInput::from_path(path));
  std::this_thread::sleep_for(10ms);
  made.checker->cancel();
  made.checker->finish();
  const CheckSummary summary = made.checker->summary();
  made.checker.reset();
  REQUIRE(records.size() == paths.size());
  std::size_t called = 0;
  for (const CheckRecord& record : records) {
    CAPTURE(record.source);
    CHECK_FALSE((record.upload && record.upload->outcome == UploadOutcome::failed));
    if (record.remote && record.remote->attempts > 0) ++called;
  }
  CHECK(summary.upload_failures == 0);
  CHECK(fake.requests().size() == called);
  MESSAGE(called << " of " << paths.size() << " were called before the cancel");
}

TEST_CASE("a file over the policy's max_file_size_mb is not posted") {
  test::TempDir dir("facegate-upload-big-");
  const fs::path big = dir.path() / "big-portrait.jpg";
  fs::copy_file(example("portrait-640x800.jpg"), big);
  fs::resize_file(big, 2 * 1024 * 1024);  // the header is intact: the local check passes
  test::FakeDashScopeOptions fake_options;
  fake_options.max_file_size_mb = 1;
  test::FakeDashScope fake{std::string(kKey), {}, fake_options};
  auto records = check_paths(online(fake), {big.string()});
  const CheckRecord& record = records.begin()->second;
  CHECK(record.verdict->decision == Decision::pass);
  CHECK(record.upload->outcome == UploadOutcome::failed);
  CHECK(record.upload->error.find("max_file_size_mb") != std::string::npos);
  CHECK(fake.uploads().empty());
  CHECK(fake.requests().empty());
}

TEST_CASE("dry run: the policy request and the upload are shown, nothing is sent") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  CheckerOptions options = online(fake);
  options.remote = RemoteMode::dry_run;
  auto records = check_paths(options, images.all());
  for (const std::string& path : images.passing) {
    const CheckRecord& record = records[path];
    REQUIRE(record.dry_run_upload.has_value());
    CHECK(record.dry_run_upload->policy_url ==
          fake.base_url() + "/uploads?action=getPolicy&model=wan2.2-s2v-detect");
    CHECK(record.dry_run_upload->bytes == fs::file_size(path));
    REQUIRE(record.dry_run.has_value());
    CHECK(record.dry_run->body.find("oss://{upload_dir}/{sha256}-" + base_name(path)) !=
          std::string::npos);
    const std::string text = render_upload_plan(*record.dry_run_upload, true);
    CHECK(text.find("Authorization: Bearer sk-***") != std::string::npos);
    CHECK(text.find(std::string(kKey)) == std::string::npos);
    CHECK(text.rfind("file = " + path) != std::string::npos);
  }
  for (const std::string& path : images.rejected)
    CHECK_FALSE(records[path].dry_run_upload.has_value());
  CHECK(fake.policy_requests().empty());
  CHECK(fake.uploads().empty());
  CHECK(fake.requests().empty());
}

TEST_CASE("upload off: a local pass is recorded not_sent, nothing is uploaded") {
  const LocalImages images;
  test::FakeDashScope fake{std::string(kKey)};
  CheckerOptions options = online(fake);
  options.upload = false;
  auto records = check_paths(options, images.passing);
  for (const auto& entry : records) {
    const CheckRecord& record = entry.second;
    CHECK(record.remote->outcome == DetectOutcome::not_sent);
    CHECK(record.remote->detail.find("upload is off") != std::string::npos);
    CHECK_FALSE(record.upload.has_value());
  }
  CHECK(fake.policy_requests().empty());
  CHECK(fake.uploads().empty());
}

// The acceptance, as a user runs it: `facegate check --model wan2.2-s2v-detect
// examples/*` with a key, against the fake, twice on one ledger.
TEST_CASE("CLI: the sample images, online: the passes are uploaded and checked, the rest not") {
  std::vector<std::string> samples;
  for (const auto& entry : fs::directory_iterator(test::source_root() / "examples")) {
    samples.push_back(entry.path().string());
  }
  std::sort(samples.begin(), samples.end());
  const std::set<std::string> passing = {"banner-1600x400.webp", "mono-480x640.bmp",
                                         "portrait-640x800.jpg"};
  std::uint64_t passing_bytes = 0;
  for (const std::string& name : passing) passing_bytes += fs::file_size(example(name));
  test::FakeDashScope fake{std::string(kKey)};
  test::TempDir state("facegate-upload-cli-");
  std::vector<std::string> args{"check",
                                "--model",
                                "wan2.2-s2v-detect",
                                "--base-url",
                                fake.base_url(),
                                "--ledger",
                                (state.path() / "ledger").string()};
  args.insert(args.end(), samples.begin(), samples.end());
  const std::vector<std::string> env{"DASHSCOPE_API_KEY=" + std::string(kKey)};

  const test::cli::Run first = test::cli::run(args, {}, env);
  CAPTURE(first.out);
  CAPTURE(first.err);
  CHECK(first.exit_code == 1);  // some samples are rejected (README, "Exit codes")
  for (const std::string& line : first.lines()) {
    const bool pass = std::any_of(passing.begin(), passing.end(), [&](const std::string& name) {
      return line.find(name) != std::string::npos;
    });
    if (line.starts_with("SOURCE")) continue;
    CHECK_MESSAGE((line.find("passed, upload uploaded") != std::string::npos) == pass, line);
  }
  CHECK(stored_names(fake) == std::multiset<std::string>(passing.begin(), passing.end()));
  CHECK(fake.requests().size() == 3);
  CHECK(first.err.find("remote calls avoided: 4") != std::string::npos);
  CHECK(first.err.find("remote calls: 3, passed: 3, billed: 3") != std::string::npos);
  CHECK(first.err.find("uploads: 3 (" + std::to_string(passing_bytes) +
                       " bytes), reused from the ledger: 0, failed: 0") != std::string::npos);

  const test::cli::Run second = test::cli::run(args, {}, env);
  CAPTURE(second.err);
  CHECK(second.exit_code == 1);
  CHECK(fake.uploads().size() == 3);  // none more
  CHECK(fake.requests().size() == 3);
  CHECK(second.err.find("remote calls: 0, passed: 0, billed: 0") != std::string::npos);
  CHECK(second.err.find("reused from the ledger: 3") != std::string::npos);
}
