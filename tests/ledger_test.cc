// The ledger of remote calls (include/facegate/ledger.hpp): claims, reuse, ambiguity, owners
// that die or live elsewhere, two processes racing, damaged and newer files, the report and
// the export, the identity of images, and `facegate ledger` end to end.
//
// Processes are forked before the parent opens any SQLite connection (SQLite connections must
// not cross a fork); children report through their exit status and never run doctest macros.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "facegate/ledger.hpp"
#include "servers/test_servers.hpp"

namespace fs = std::filesystem;
using namespace facegate;
using namespace std::chrono_literals;
using facegate::test::TempDir;
using Clock = std::chrono::system_clock;

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

// 2026-11-23T10:00:00Z: a fixed "now" for rows written with an injected clock.
const Clock::time_point kDay1 = Clock::time_point(std::chrono::sys_days(
                                    std::chrono::year{2026} / 11 / 23)) + 10h;
const Clock::time_point kDay2 = kDay1 + 23h;  // 2026-11-24T09:00:00Z

// A clock the test moves by hand.
struct ManualClock {
  Clock::time_point now = kDay1;
  LedgerOptions options() {
    LedgerOptions o;
    o.clock = [this] { return now; };
    return o;
  }
};

Ledger open_ledger(const fs::path& file, LedgerOptions options = {}) {
  LedgerOpenResult opened = Ledger::open(file, std::move(options));
  REQUIRE_MESSAGE(opened.ok(), opened.error.message);
  return std::move(*opened.ledger);
}

CallKey url_key(std::string url, std::string etag = "\"v1\"", std::string model = "wan2.2-s2v-detect") {
  CallKey key;
  key.model = std::move(model);
  key.image.source = std::move(url);
  key.image.etag = std::move(etag);
  key.image.last_modified = "Mon, 23 Nov 2026 09:00:00 GMT";
  key.image.content_length = 123456;
  return key;
}

DetectResult passed(std::string request_id) {
  DetectResult r;
  r.outcome = DetectOutcome::passed;
  r.passed = true;
  r.billed = 1;
  r.humanoid = true;
  r.request_id = std::move(request_id);
  r.http_status = 200;
  r.attempts = 1;
  return r;
}

// A call sent whose answer never came (a timeout after sending): possibly billed.
DetectResult timed_out() {
  DetectResult r;
  r.outcome = DetectOutcome::possibly_billed;
  r.attempts = 1;
  r.detail = "timeout after the request was sent";
  return r;
}

// Claims written as a process that has ended: this pid, with another start time.
LedgerOptions as_ended_process() {
  LedgerOptions options;
  options.owner = ClaimOwner::current();
  options.owner->start_ticks += 1;
  return options;
}

// Every field set, some to values that need escaping or are negative.
DetectResult full_answer() {
  DetectResult r;
  r.outcome = DetectOutcome::failed_check;
  r.passed = false;
  r.billed = 1;
  r.code = "NoFace";
  r.message = "no face \"found\"\n\xC3\xA9";
  r.face_bbox = BoundingBox{1, 2, 3, 4};
  r.ext_bbox = BoundingBox{-5, 0, 100000, 200};
  r.humanoid = false;
  r.bodystyle = "half";
  r.request_id = "7f3a-req";
  r.http_status = 200;
  r.attempts = 2;
  r.earlier_possibly_billed = 1;
  r.detail = "retried once after a reset";
  return r;
}

void check_same(const DetectResult& got, const DetectResult& want) {
  CHECK(got.outcome == want.outcome);
  CHECK(got.passed == want.passed);
  CHECK(got.billed == want.billed);
  CHECK(got.code == want.code);
  CHECK(got.message == want.message);
  CHECK(got.face_bbox == want.face_bbox);
  CHECK(got.ext_bbox == want.ext_bbox);
  CHECK(got.humanoid == want.humanoid);
  CHECK(got.bodystyle == want.bodystyle);
  CHECK(got.request_id == want.request_id);
  CHECK(got.http_status == want.http_status);
  CHECK(got.attempts == want.attempts);
  CHECK(got.earlier_possibly_billed == want.earlier_possibly_billed);
  CHECK(got.detail == want.detail);
}

// "prefix<n>suffix" (built with append: GCC 12 warns falsely about `"text" + std::string`).
std::string numbered(std::string_view prefix, int n, std::string_view suffix = "") {
  return std::string(prefix).append(std::to_string(n)).append(suffix);
}

std::int64_t claim(Ledger& ledger, const CallKey& key, const ReusePolicy& policy = {},
                   const Money* price = nullptr) {
  const BeginCall call = ledger.begin_call(key, policy, price);
  REQUIRE_MESSAGE(call.outcome == BeginOutcome::claimed,
                  begin_outcome_name(call.outcome) << " " << call.error.message);
  CHECK(call.row > 0);
  return call.row;
}

BeginOutcome outcome_of(Ledger& ledger, const CallKey& key, const ReusePolicy& policy = {}) {
  const BeginCall call = ledger.begin_call(key, policy, nullptr);
  CHECK_MESSAGE(call.outcome != BeginOutcome::error, call.error.message);
  return call.outcome;
}

// The first column of the first row of `sql` on a connection of its own, as text.
std::string sql_text(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(db));
  std::string text = "<no row>";
  if (sqlite3_step(statement) == SQLITE_ROW) {
    const auto* bytes = sqlite3_column_text(statement, 0);
    text = bytes == nullptr ? "<null>" : reinterpret_cast<const char*>(bytes);
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return text;
}

void sql_exec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string why = message == nullptr ? "" : message;
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, why);
}

// Runs `child` in a forked process and returns its exit status (128 + signal if killed).
template <typename Child>
int in_child(Child&& child) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(child());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A pipe whose ends are closed on destruction, for parent-child handshakes. receive() gives
// '\0' after 10 s without a byte, so a failed peer cannot hang the test.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { REQUIRE(::pipe(fds) == 0); }
  ~Pipe() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  void send(char c) const { REQUIRE(::write(fds[1], &c, 1) == 1); }
  char receive() const {
    pollfd ready{fds[0], POLLIN, 0};
    char c = 0;
    if (::poll(&ready, 1, 10000) != 1 || ::read(fds[0], &c, 1) != 1) return '\0';
    return c;
  }
};

std::vector<std::string> output_lines(const std::vector<std::string>& argv, int& exit_status) {
  facegate::test::ChildProcess child(argv, /*capture_stdout=*/true, /*silence_stderr=*/true);
  std::vector<std::string> lines;
  while (auto line = child.read_line(10s)) lines.push_back(*line);
  exit_status = child.wait();
  return lines;
}

simdjson::dom::element parse_json(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element element;
  REQUIRE_MESSAGE(parser.parse(text).get(element) == simdjson::SUCCESS, text);
  return element;
}

std::string read_bytes(const fs::path& file) { return facegate::test::read_text(file); }

// Every call row and how often each was reused, as export_rows writes them.
std::vector<std::string> exported(Ledger& ledger) {
  std::vector<std::string> lines;
  REQUIRE_FALSE(ledger.export_rows([&](std::string_view line) { lines.emplace_back(line); }));
  return lines;
}

// reuse_call's answer for `key`, checked to be ambiguous over the possibly billed `row` and to
// have left every call row as it was.
BeginCall ambiguous_unchanged(Ledger& ledger, const CallKey& key, std::int64_t row) {
  const std::vector<std::string> before = exported(ledger);
  const std::optional<BeginCall> asked = ledger.reuse_call(key, {});
  REQUIRE(asked);
  CHECK(asked->outcome == BeginOutcome::ambiguous);
  CHECK(asked->row == row);
  CHECK(asked->answer.outcome == DetectOutcome::possibly_billed);
  CHECK(exported(ledger) == before);
  return *asked;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Claim, complete, reuse

TEST_CASE("a claimed call, completed, is reused with its answer, request id and time") {
  TempDir dir("facegate-ledger-");
  ManualClock clock;
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3", clock.options());
  const CallKey key = url_key("https://images.example/a.jpg");
  const Money price{"USD", 574};

  const std::int64_t row = claim(ledger, key, {}, &price);
  CHECK(outcome_of(ledger, key) == BeginOutcome::in_flight);  // this process still holds it
  REQUIRE_FALSE(ledger.complete_call(row, full_answer()));

  clock.now += 5min;
  const BeginCall again = ledger.begin_call(key, {}, &price);
  REQUIRE(again.outcome == BeginOutcome::reuse);
  CHECK(again.row == row);
  CHECK(again.requested_at == kDay1);
  check_same(again.answer, full_answer());
  CHECK(ledger.report({}).total.reused == 1);
  CHECK(ledger.report({}).total.calls == 1);
}

TEST_CASE("the key is model, parameters (in any order) and image") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  CallKey key = url_key("https://images.example/a.jpg");
  key.parameters = {{"ratio", "1:1"}, {"style", "x"}};
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, key), passed("r1")));

  CallKey reordered = key;
  reordered.parameters = {{"style", "x"}, {"ratio", "1:1"}};
  CHECK(outcome_of(ledger, reordered) == BeginOutcome::reuse);
  CallKey other_value = key;
  other_value.parameters[0].value = "3:4";
  CHECK(outcome_of(ledger, other_value) == BeginOutcome::claimed);
  CallKey other_model = key;
  other_model.model = "emo-detect-v1";
  CHECK(outcome_of(ledger, other_model) == BeginOutcome::claimed);
}

TEST_CASE("a change of ETag, Last-Modified, size or URL is a new image") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  const CallKey key = url_key("https://images.example/a.jpg", "\"v1\"");
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, key), passed("r1")));
  CHECK(outcome_of(ledger, key) == BeginOutcome::reuse);

  CallKey etag = key;
  etag.image.etag = "\"v2\"";
  CHECK(outcome_of(ledger, etag) == BeginOutcome::claimed);
  CallKey modified = key;
  modified.image.last_modified = "Tue, 24 Nov 2026 09:00:00 GMT";
  CHECK(outcome_of(ledger, modified) == BeginOutcome::claimed);
  CallKey length = key;
  length.image.content_length = 123457;
  CHECK(outcome_of(ledger, length) == BeginOutcome::claimed);
  CallKey url = key;
  url.image.source += "?x=1";
  CHECK(outcome_of(ledger, url) == BeginOutcome::claimed);
}

TEST_CASE("a URL without ETag and Last-Modified is recorded but never reused") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  CallKey key = url_key("https://images.example/a.jpg", "");
  key.image.last_modified.clear();
  CHECK_FALSE(key.image.reusable());
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, key), passed("r1")));
  CHECK(outcome_of(ledger, key) == BeginOutcome::claimed);
  CHECK(ledger.report({}).total.calls == 2);
}

TEST_CASE("max_age: an answer older than it is not reused") {
  TempDir dir("facegate-ledger-");
  ManualClock clock;
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3", clock.options());
  const CallKey key = url_key("https://images.example/a.jpg");
  const std::int64_t first = claim(ledger, key);
  REQUIRE_FALSE(ledger.complete_call(first, passed("old")));

  clock.now += 2h;
  ReusePolicy three_hours{std::chrono::seconds(3h)};
  BeginCall reuse = ledger.begin_call(key, three_hours, nullptr);
  CHECK(reuse.outcome == BeginOutcome::reuse);
  CHECK(reuse.row == first);

  ReusePolicy one_hour{std::chrono::seconds(1h)};
  const std::int64_t second = claim(ledger, key, one_hour);
  CHECK(second != first);
  REQUIRE_FALSE(ledger.complete_call(second, passed("new")));
  reuse = ledger.begin_call(key, one_hour, nullptr);
  CHECK(reuse.outcome == BeginOutcome::reuse);
  CHECK(reuse.row == second);
  CHECK(reuse.answer.request_id == "new");
  CHECK(reuse.requested_at == kDay1 + 2h);
}

TEST_CASE("refresh skips reuse but records the new call, which later runs reuse") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  const CallKey key = url_key("https://images.example/a.jpg");
  const std::int64_t first = claim(ledger, key);
  REQUIRE_FALSE(ledger.complete_call(first, passed("first")));

  ReusePolicy refresh;
  refresh.refresh = true;
  const std::int64_t second = claim(ledger, key, refresh);
  CHECK(second > first);
  REQUIRE_FALSE(ledger.complete_call(second, passed("second")));
  const BeginCall reuse = ledger.begin_call(key, {}, nullptr);
  CHECK(reuse.outcome == BeginOutcome::reuse);
  CHECK(reuse.answer.request_id == "second");
  CHECK(ledger.report({}).total.calls == 2);
}

TEST_CASE("answers that are not a completed check are not reused") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  for (const DetectOutcome outcome : {DetectOutcome::request_error, DetectOutcome::transport_error,
                                      DetectOutcome::not_sent}) {
    const CallKey key = url_key("https://images.example/" +
                                std::string(detect_outcome_name(outcome)) + ".jpg");
    DetectResult r;
    r.outcome = outcome;
    r.http_status = outcome == DetectOutcome::request_error ? 400 : 0;
    REQUIRE_FALSE(ledger.complete_call(claim(ledger, key), r));
    CHECK(outcome_of(ledger, key) == BeginOutcome::claimed);
  }
}

TEST_CASE("a possibly billed answer makes the key ambiguous until retry_ambiguous") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  const CallKey key = url_key("https://images.example/a.jpg");
  const DetectResult lost = timed_out();
  const std::int64_t row = claim(ledger, key);
  REQUIRE_FALSE(ledger.complete_call(row, lost));

  // reuse_call says so too, and writes nothing.
  CHECK(ambiguous_unchanged(ledger, key, row).answer.detail == lost.detail);

  const BeginCall ambiguous = ledger.begin_call(key, {}, nullptr);
  CHECK(ambiguous.outcome == BeginOutcome::ambiguous);
  CHECK(ambiguous.row == row);
  CHECK(ambiguous.answer.outcome == DetectOutcome::possibly_billed);
  CHECK(ambiguous.answer.detail == lost.detail);
  ReusePolicy refresh;
  refresh.refresh = true;
  CHECK(outcome_of(ledger, key, refresh) == BeginOutcome::ambiguous);

  ReusePolicy retry;
  retry.retry_ambiguous = true;
  const auto before = exported(ledger);
  CHECK_FALSE(ledger.reuse_call(key, retry));  // nothing stands in the way of a retry
  CHECK(exported(ledger) == before);
  const std::int64_t retried = claim(ledger, key, retry);
  REQUIRE_FALSE(ledger.complete_call(retried, passed("r2")));
  // The completed answer settles the key: the earlier possibly billed call no longer matters.
  CHECK(outcome_of(ledger, key) == BeginOutcome::reuse);
  refresh.refresh = true;
  CHECK(outcome_of(ledger, key, refresh) == BeginOutcome::claimed);
  CHECK(ledger.report({}).total.possibly_billed == 2);  // the lost call and the pending one
}

TEST_CASE("release_claim forgets a request never sent; rows complete once") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  const CallKey key = url_key("https://images.example/a.jpg");
  const std::int64_t row = claim(ledger, key);
  REQUIRE_FALSE(ledger.release_claim(row));
  CHECK(ledger.report({}).total.calls == 0);
  CHECK(ledger.complete_call(row, passed("r")).code == LedgerErrorCode::bad_row);
  CHECK(ledger.release_claim(row).code == LedgerErrorCode::bad_row);

  const std::int64_t next = claim(ledger, key);
  REQUIRE_FALSE(ledger.complete_call(next, passed("r")));
  CHECK(ledger.complete_call(next, passed("again")).code == LedgerErrorCode::bad_row);
  CHECK(ledger.release_claim(next).code == LedgerErrorCode::bad_row);
  CHECK(ledger.begin_call(key, {}, nullptr).answer.request_id == "r");
}

// ---------------------------------------------------------------------------------------------
// Uploads

namespace {

const UploadKey kUploadKey{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3,
                           "wan2.2-s2v-detect", "account-1/cn-beijing"};

StoredUpload upload_at(Clock::time_point uploaded_at, std::string url,
                       std::chrono::hours validity = 48h) {
  return StoredUpload{std::move(url), uploaded_at, uploaded_at + validity, 3};
}

}  // namespace

TEST_CASE("an upload is found while its URL is valid for the margin, then no more") {
  TempDir dir("facegate-ledger-");
  ManualClock clock;
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3", clock.options());
  LedgerError error;
  CHECK_FALSE(ledger.find_upload(kUploadKey, 1h, &error));
  CHECK_FALSE(error);
  const StoredUpload upload = upload_at(kDay1, "oss://dashscope-instant/a.jpg");
  REQUIRE_FALSE(ledger.record_upload(kUploadKey, upload));

  clock.now = kDay1 + 1h;
  const auto found = ledger.find_upload(kUploadKey, 1h, &error);
  CHECK_FALSE(error);
  REQUIRE(found);
  CHECK(found->oss_url == "oss://dashscope-instant/a.jpg");
  CHECK(found->uploaded_at == kDay1);
  CHECK(found->expires_at == kDay1 + 48h);
  CHECK(found->bytes == 3);

  clock.now = kDay1 + 47h - 1s;  // expires_at - margin is one second ahead
  CHECK(ledger.find_upload(kUploadKey, 1h) == std::optional<StoredUpload>(upload));
  clock.now = kDay1 + 47h;  // expires_at - margin is now: not after it
  CHECK_FALSE(ledger.find_upload(kUploadKey, 1h, &error));
  CHECK_FALSE(error);
  CHECK(ledger.find_upload(kUploadKey, 0s));  // without a margin it still has an hour
  clock.now = kDay1 + 48h;
  CHECK_FALSE(ledger.find_upload(kUploadKey, 0s));
}

TEST_CASE("an upload is only for the same bytes, size, model and scope") {
  TempDir dir("facegate-ledger-");
  ManualClock clock;
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3", clock.options());
  REQUIRE_FALSE(ledger.record_upload(kUploadKey, upload_at(kDay1, "oss://x/a.jpg")));
  CHECK(ledger.find_upload(kUploadKey, 1h));
  UploadKey hash = kUploadKey;
  hash.content_hash[0] = 'c';
  UploadKey size = kUploadKey;
  size.size = 4;
  UploadKey model = kUploadKey;
  model.model = "emo-detect-v1";
  UploadKey scope = kUploadKey;
  scope.scope = "account-2/cn-beijing";
  UploadKey huge = kUploadKey;
  huge.size = std::numeric_limits<std::uint64_t>::max();
  int n = 0;
  for (const UploadKey& other : {hash, size, model, scope, huge}) {
    CAPTURE(n++);
    LedgerError error;
    CHECK_FALSE(ledger.find_upload(other, 1h, &error));
    CHECK_FALSE(error);
  }
  CHECK(ledger.record_upload(huge, upload_at(kDay1, "oss://x/huge")).code == LedgerErrorCode::bad_row);
}

TEST_CASE("the newest valid upload of a key wins, also after reopening") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  ManualClock clock;
  clock.now = kDay1 + 2h;
  const StoredUpload older = upload_at(kDay1, "oss://x/older");
  const StoredUpload newer = upload_at(kDay1 + 1h, "oss://x/newer");
  const StoredUpload short_lived = upload_at(kDay1 + 90min, "oss://x/short", 3h);
  {
    Ledger ledger = open_ledger(file, clock.options());
    // Recorded out of order: uploaded_at decides, not the order of the rows.
    REQUIRE_FALSE(ledger.record_upload(kUploadKey, newer));
    REQUIRE_FALSE(ledger.record_upload(kUploadKey, older));
    REQUIRE_FALSE(ledger.record_upload(kUploadKey, short_lived));
    CHECK(ledger.find_upload(kUploadKey, 1h) == std::optional<StoredUpload>(short_lived));
  }
  Ledger ledger = open_ledger(file, clock.options());
  CHECK(ledger.find_upload(kUploadKey, 1h) == std::optional<StoredUpload>(short_lived));
  CHECK(ledger.find_upload(kUploadKey, 3h) == std::optional<StoredUpload>(newer));  // short: 2.5h left
  clock.now = kDay1 + 48h;  // newer has an hour left, older none
  CHECK(ledger.find_upload(kUploadKey, 30min) == std::optional<StoredUpload>(newer));
  CHECK_FALSE(ledger.find_upload(kUploadKey, 1h));
}

// ---------------------------------------------------------------------------------------------
// reuse_call

TEST_CASE("reuse_call reuses a completed answer and records the reuse") {
  TempDir dir("facegate-ledger-");
  ManualClock clock;
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3", clock.options());
  const CallKey key = url_key("https://images.example/a.jpg");
  const RawAnswer raw{200, "application/json", R"({"output":{}})"};
  const std::int64_t row = claim(ledger, key);
  REQUIRE_FALSE(ledger.complete_call(row, full_answer(), &raw));

  clock.now += 1h;
  const auto reuse = ledger.reuse_call(key, {});
  REQUIRE(reuse);
  CHECK(reuse->outcome == BeginOutcome::reuse);
  CHECK(reuse->row == row);
  CHECK(reuse->requested_at == kDay1);
  CHECK(reuse->raw == std::optional<RawAnswer>(raw));
  check_same(reuse->answer, full_answer());
  CHECK(ledger.report().total.reused == 1);
  CHECK(sql_text(ledger.path(), "SELECT reused_at FROM reuses") == "2026-11-23T11:00:00.000Z");
  REQUIRE(ledger.reuse_call(key, {}));
  CHECK(ledger.report().total.reused == 2);

  // What begin_call would not reuse, reuse_call does not either, and records nothing.
  ReusePolicy refresh;
  refresh.refresh = true;
  ReusePolicy young{std::chrono::seconds(30min)};
  for (const ReusePolicy& policy : {refresh, young}) {
    const auto before = exported(ledger);
    CHECK_FALSE(ledger.reuse_call(key, policy));
    CHECK(exported(ledger) == before);
  }
  CHECK(ledger.report().total.reused == 2);
}

TEST_CASE("reuse_call: nothing for an unknown key, a released claim or a live claim, nothing written") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "ledger.sqlite3");
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, url_key("https://images.example/other.jpg")),
                                     passed("r")));
  const CallKey unknown = url_key("https://images.example/unknown.jpg");
  const CallKey released = url_key("https://images.example/released.jpg");
  REQUIRE_FALSE(ledger.release_claim(claim(ledger, released)));
  const CallKey live = url_key("https://images.example/live.jpg");
  claim(ledger, live);  // this process runs: in flight

  const auto before = exported(ledger);
  REQUIRE(before.size() == 2);
  int n = 0;
  for (const CallKey& key : {unknown, released, live}) {
    CAPTURE(n++);
    CHECK_FALSE(ledger.reuse_call(key, {}));
  }
  CHECK(exported(ledger) == before);
  CHECK(ledger.report().total.reused == 0);
  CHECK(outcome_of(ledger, live) == BeginOutcome::in_flight);  // what begin_call says after
}

TEST_CASE("reuse_call: a dead process's claim is ambiguous, decided without the write lock") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  const CallKey key = url_key("https://images.example/a.jpg");
  Ledger theirs = open_ledger(file, as_ended_process());
  const std::int64_t row = claim(theirs, key);
  LedgerOptions impatient;
  impatient.busy_timeout = 50ms;
  Ledger ledger = open_ledger(file, impatient);

  sqlite3* other = nullptr;  // another process writing: it holds the write lock throughout
  REQUIRE(sqlite3_open(file.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  const BeginCall ambiguous = ambiguous_unchanged(ledger, key, row);
  CHECK(ambiguous.answer.detail.find("ended before it recorded the answer") != std::string::npos);
  const CallKey unknown = url_key("https://images.example/unknown.jpg");
  CHECK_FALSE(ledger.reuse_call(unknown, {}));
  // begin_call needs the lock for both.
  CHECK(ledger.begin_call(key, {}, nullptr).error.code == LedgerErrorCode::busy);
  CHECK(ledger.begin_call(unknown, {}, nullptr).error.code == LedgerErrorCode::busy);
  REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);

  // The row stays pending until begin_call marks it lost, with the same answer.
  CHECK(sql_text(file, "SELECT state FROM calls WHERE id = " + std::to_string(row)) == "pending");
  const BeginCall call = ledger.begin_call(key, {}, nullptr);
  CHECK(call.outcome == BeginOutcome::ambiguous);
  CHECK(call.answer.detail == ambiguous.answer.detail);
  CHECK(sql_text(file, "SELECT state FROM calls WHERE id = " + std::to_string(row)) == "lost");
}

// ---------------------------------------------------------------------------------------------
// Owners

TEST_CASE("a claim by a process killed before completing is possibly billed, not resent") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  const CallKey key = url_key("https://images.example/a.jpg");
  const int status = in_child([&] {
    auto opened = Ledger::open(file);
    if (!opened.ok() || opened.ledger->begin_call(key, {}, nullptr).outcome != BeginOutcome::claimed) {
      return 1;
    }
    ::raise(SIGKILL);  // killed between the claim and the answer
    return 2;
  });
  REQUIRE(status == 128 + SIGKILL);

  Ledger ledger = open_ledger(file);
  const BeginCall first = ledger.begin_call(key, {}, nullptr);
  CHECK(first.outcome == BeginOutcome::ambiguous);
  CHECK(first.answer.outcome == DetectOutcome::possibly_billed);
  CHECK(first.answer.detail.find("ended before it recorded the answer") != std::string::npos);
  CHECK(sql_text(file, "SELECT state FROM calls WHERE id = " + std::to_string(first.row)) == "lost");
  CHECK(outcome_of(ledger, key) == BeginOutcome::ambiguous);  // also on the next run
  CHECK(ledger.report({}).total.possibly_billed == 1);

  ReusePolicy retry;
  retry.retry_ambiguous = true;
  const std::int64_t row = claim(ledger, key, retry);
  CHECK(row != first.row);
  REQUIRE_FALSE(ledger.complete_call(row, passed("r")));
  CHECK(outcome_of(ledger, key) == BeginOutcome::reuse);
}

TEST_CASE("a claim whose pid now belongs to another process, or to an earlier boot, is lost") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  ClaimOwner reused_pid = ClaimOwner::current();
  reused_pid.start_ticks += 1;  // same pid, another process
  ClaimOwner rebooted = ClaimOwner::current();
  rebooted.boot_id = "00000000-0000-0000-0000-000000000000";
  int n = 0;
  for (const ClaimOwner& owner : {reused_pid, rebooted}) {
    CAPTURE(n);
    const CallKey key = url_key(numbered("https://images.example/", n++, ".jpg"));
    LedgerOptions as_owner;
    as_owner.owner = owner;
    Ledger theirs = open_ledger(file, as_owner);
    claim(theirs, key);
    Ledger ours = open_ledger(file);
    CHECK(outcome_of(ours, key) == BeginOutcome::ambiguous);
  }
}

TEST_CASE("a live process's claim is in flight; its answer is reused once completed") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  const CallKey key = url_key("https://images.example/a.jpg");
  Pipe claimed, go;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(claimed.fds[0]);
    ::close(go.fds[1]);
    auto opened = Ledger::open(file);
    const BeginCall call = opened.ok() ? opened.ledger->begin_call(key, {}, nullptr) : BeginCall{};
    claimed.send(call.outcome == BeginOutcome::claimed ? 'c' : 'x');
    if (go.receive() != 'g') ::_exit(1);
    ::_exit(opened.ledger->complete_call(call.row, passed("theirs")) ? 1 : 0);
  }
  REQUIRE(claimed.receive() == 'c');
  {
    Ledger ledger = open_ledger(file);
    const BeginCall call = ledger.begin_call(key, {}, nullptr);
    CHECK(call.outcome == BeginOutcome::in_flight);
    CHECK(call.row == 1);
  }
  go.send('g');
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  Ledger ledger = open_ledger(file);
  const BeginCall call = ledger.begin_call(key, {}, nullptr);
  CHECK(call.outcome == BeginOutcome::reuse);
  CHECK(call.answer.request_id == "theirs");
}

TEST_CASE("another host's claim is in flight until the foreign claim timeout") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  const CallKey key = url_key("https://images.example/a.jpg");
  ManualClock clock;
  LedgerOptions elsewhere = clock.options();
  elsewhere.owner = ClaimOwner{"another-host", 4242, 17, "11111111-2222-3333-4444-555555555555"};
  Ledger theirs = open_ledger(file, elsewhere);
  claim(theirs, key);

  LedgerOptions here = clock.options();
  here.foreign_claim_timeout = 1h;
  Ledger ours = open_ledger(file, here);
  clock.now += 59min;
  CHECK(outcome_of(ours, key) == BeginOutcome::in_flight);
  clock.now += 2min;
  CHECK(outcome_of(ours, key) == BeginOutcome::ambiguous);
}

TEST_CASE("two processes racing over the same 50 images: each image claimed exactly once") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  constexpr int kKeys = 50;
  // Rounds in lock step: the parent lets both children go at once, then waits for both. Round
  // 0 opens the new file; round k + 1 asks for image k (and completes it when claimed).
  Pipe go, done;
  std::array<pid_t, 2> children{};
  std::array<fs::path, 2> claims_files{dir.path() / "claims0", dir.path() / "claims1"};
  for (std::size_t c = 0; c < children.size(); ++c) {
    children[c] = ::fork();
    REQUIRE(children[c] >= 0);
    if (children[c] != 0) continue;
    if (go.receive() != 'g') ::_exit(1);
    auto opened = Ledger::open(file);
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.error.message.c_str());
      ::_exit(2);
    }
    done.send('d');
    std::string claimed;
    for (int k = 0; k < kKeys; ++k) {
      if (go.receive() != 'g') ::_exit(1);
      const BeginCall call =
          opened.ledger->begin_call(url_key(numbered("https://images.example/", k, ".jpg")), {},
                                    nullptr);
      if (call.outcome == BeginOutcome::error) ::_exit(3);
      if (call.outcome == BeginOutcome::claimed) {
        claimed += numbered("", k, "\n");
        if (opened.ledger->complete_call(call.row, passed(numbered("r", k)))) ::_exit(4);
      }
      done.send('d');
    }
    facegate::test::write_text(claims_files[c], claimed);
    ::_exit(0);
  }
  for (int round = 0; round <= kKeys; ++round) {
    go.send('g');
    go.send('g');
    if (done.receive() != 'd' || done.receive() != 'd') break;  // a child failed
  }
  for (const pid_t child : children) {
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  std::multiset<std::string> claimed;
  for (const auto& claims : claims_files) {
    std::istringstream lines(facegate::test::read_text(claims));
    for (std::string line; std::getline(lines, line);) claimed.insert(line);
  }
  CHECK(claimed.size() == kKeys);
  for (int k = 0; k < kKeys; ++k) CHECK(claimed.count(std::to_string(k)) == 1);
  CHECK(sql_text(file, "SELECT count(*) FROM calls") == std::to_string(kKeys));
  CHECK(sql_text(file, "SELECT count(*) FROM calls WHERE state = 'completed'") ==
        std::to_string(kKeys));
}

// ---------------------------------------------------------------------------------------------
// The file

TEST_CASE("a new ledger: parent directories, WAL mode, schema version, readable by sqlite3") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "state" / "facegate" / "ledger.sqlite3";
  Ledger ledger = open_ledger(file);
  CHECK(ledger.path() == file);
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, url_key("https://images.example/a.jpg")),
                                     passed("r1")));
  claim(ledger, url_key("https://images.example/b.jpg"));
  for (const std::string suffix : {"", "-wal", "-shm"}) {
    CAPTURE(suffix);
    CHECK((fs::status(file.string() + suffix).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
  }
  CHECK((fs::status(file.parent_path()).permissions() & fs::perms::all) == fs::perms::owner_all);
  CHECK((fs::status(file.parent_path().parent_path()).permissions() & fs::perms::all) ==
        fs::perms::owner_all);
  CHECK(sql_text(file, "PRAGMA journal_mode") == "wal");
  CHECK(sql_text(file, "PRAGMA user_version") == std::to_string(kLedgerSchemaVersion));
  CHECK(sql_text(file, "PRAGMA application_id") == std::to_string(0x66676C67));

  const fs::path shell = facegate::test::find_program({"sqlite3"});
  int status = -1;
  auto lines = output_lines({shell.string(), file.string(), "select count(*) from calls"}, status);
  CHECK(status == 0);
  CHECK(lines == std::vector<std::string>{"2"});
  lines = output_lines({shell.string(), file.string(),
                        "select state || ' ' || coalesce(request_id, '-') from calls order by id"},
                       status);
  CHECK(lines == std::vector<std::string>{"completed r1", "pending -"});
}

TEST_CASE("files that are not a ledger are refused and left byte for byte as they were") {
  TempDir dir("facegate-ledger-");
  const fs::path text = dir.path() / "notes.txt";
  facegate::test::write_text(text, "not a database at all, but long enough to have a header\n");
  const fs::path other = dir.path() / "other.sqlite3";
  sql_exec(other, "CREATE TABLE photos (name TEXT); INSERT INTO photos VALUES ('x')");
  const fs::path corrupt = dir.path() / "corrupt.sqlite3";
  {
    Ledger ledger = open_ledger(corrupt);
    for (int i = 0; i < 40; ++i) {
      REQUIRE_FALSE(ledger.complete_call(
          claim(ledger, url_key(numbered("https://images.example/", i, ".jpg"))),
          passed(numbered("r", i))));
    }
  }  // closed: the WAL is checkpointed into the file
  std::string bytes = read_bytes(corrupt);
  REQUIRE(bytes.size() > 3 * 4096);
  for (std::size_t i = 4096; i < 3 * 4096; ++i) bytes[i] = static_cast<char>(0xA5 ^ (i * 31));
  facegate::test::write_text(corrupt, bytes);
  const fs::path directory = dir.path() / "a-directory";
  fs::create_directory(directory);

  struct Case {
    fs::path file;
    LedgerErrorCode code;
  };
  for (const Case& c : {Case{text, LedgerErrorCode::not_a_ledger},
                        Case{other, LedgerErrorCode::not_a_ledger},
                        Case{corrupt, LedgerErrorCode::not_a_ledger},
                        Case{directory, LedgerErrorCode::io}}) {
    CAPTURE(c.file);
    const std::string before = fs::is_regular_file(c.file) ? read_bytes(c.file) : "";
    const LedgerOpenResult opened = Ledger::open(c.file);
    CHECK_FALSE(opened.ok());
    CHECK(opened.error.code == c.code);
    CHECK(opened.error.message.find(c.file.string()) != std::string::npos);
    if (fs::is_regular_file(c.file)) CHECK(read_bytes(c.file) == before);
    // A reader of a WAL-mode file (the sqlite3 shell too) may leave an empty -wal beside it.
    const fs::path wal = c.file.string() + "-wal";
    if (fs::exists(wal)) CHECK(fs::file_size(wal) == 0);
  }
}

TEST_CASE("a ledger of a newer schema is refused and left as it was") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  { open_ledger(file); }
  sql_exec(file, "PRAGMA user_version = " + std::to_string(kLedgerSchemaVersion + 1));
  const std::string before = read_bytes(file);
  const LedgerOpenResult opened = Ledger::open(file);
  CHECK_FALSE(opened.ok());
  CHECK(opened.error.code == LedgerErrorCode::newer_schema);
  CHECK(opened.error.message.find("newer") != std::string::npos);
  CHECK(read_bytes(file) == before);
}

TEST_CASE("a missing ledger is created unless create_if_missing is false; an empty file is one") {
  TempDir dir("facegate-ledger-");
  LedgerOptions existing_only;
  existing_only.create_if_missing = false;
  const LedgerOpenResult missing = Ledger::open(dir.path() / "none.sqlite3", existing_only);
  CHECK(missing.error.code == LedgerErrorCode::missing);
  CHECK_FALSE(fs::exists(dir.path() / "none.sqlite3"));

  const fs::path empty = dir.path() / "empty.sqlite3";
  facegate::test::write_text(empty, "");
  Ledger ledger = open_ledger(empty);
  claim(ledger, url_key("https://images.example/a.jpg"));
}

// The version 1 schema as released, frozen here: later versions must still open these files.
constexpr std::string_view kSchemaVersion1 = R"sql(
CREATE TABLE calls (
  id INTEGER PRIMARY KEY, model TEXT NOT NULL, parameters TEXT NOT NULL, image_key TEXT NOT NULL,
  source TEXT NOT NULL, etag TEXT, last_modified TEXT, content_length INTEGER, mtime_ns INTEGER,
  content_hash TEXT, state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'lost')),
  requested_at TEXT NOT NULL, completed_at TEXT, owner_host TEXT NOT NULL,
  owner_pid INTEGER NOT NULL, owner_start_ticks INTEGER NOT NULL, owner_boot_id TEXT NOT NULL,
  price_currency TEXT, price_micros INTEGER, outcome TEXT, passed INTEGER,
  billed INTEGER NOT NULL DEFAULT 0, possibly_billed INTEGER NOT NULL DEFAULT 0,
  http_status INTEGER, request_id TEXT, code TEXT, message TEXT, face_bbox TEXT, ext_bbox TEXT,
  humanoid INTEGER, bodystyle TEXT, attempts INTEGER, earlier_possibly_billed INTEGER,
  detail TEXT);
CREATE INDEX calls_by_key ON calls (image_key, model, parameters);
CREATE TABLE reuses (id INTEGER PRIMARY KEY, call_id INTEGER NOT NULL REFERENCES calls (id),
  reused_at TEXT NOT NULL);
CREATE INDEX reuses_by_call ON reuses (call_id);
PRAGMA application_id = 1718053991;
PRAGMA user_version = 1;
)sql";

TEST_CASE("a version 1 ledger opens and its answers are reused") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "v1.sqlite3";
  // The canonical key of version 1, written literally: a change of its form would orphan
  // every answer already paid for.
  const std::string image_key =
      R"({"source":"https://images.example/a.jpg","etag":"\"v1\"","last_modified":"Mon, 23 Nov 2026 09:00:00 GMT","content_length":123456,"mtime_ns":null,"sha256":null})";
  CHECK(url_key("https://images.example/a.jpg").image.canonical_key() == image_key);
  sql_exec(file, std::string(kSchemaVersion1) +
                     "INSERT INTO calls (model, parameters, image_key, source, etag, state, "
                     "requested_at, owner_host, owner_pid, owner_start_ticks, owner_boot_id, "
                     "price_currency, price_micros, outcome, passed, billed, http_status, "
                     "request_id, humanoid, attempts, earlier_possibly_billed) VALUES "
                     "('wan2.2-s2v-detect', '{\"ratio\":\"1:1\"}', '" + image_key +
                     "', 'https://images.example/a.jpg', '\"v1\"', 'completed', "
                     "'2026-11-23T10:00:00.000Z', 'h', 1, 1, 'b', 'USD', 574, 'passed', 1, 1, "
                     "200, 'req-v1', 1, 1, 0)");
  Ledger ledger = open_ledger(file);
  CallKey key = url_key("https://images.example/a.jpg");
  key.parameters = {{"ratio", "1:1"}};
  const BeginCall call = ledger.begin_call(key, {}, nullptr);
  REQUIRE(call.outcome == BeginOutcome::reuse);
  CHECK(call.answer.request_id == "req-v1");
  CHECK(call.answer.humanoid == std::optional<bool>(true));
  CHECK(call.requested_at == kDay1);
  CHECK_FALSE(call.raw.has_value());  // version 1 kept no raw answer
  CHECK(sql_text(file, "PRAGMA user_version") == std::to_string(kLedgerSchemaVersion));
  CHECK(sql_text(file, "SELECT count(*) FROM pragma_table_info('calls') WHERE name IN "
                       "('raw_status', 'raw_content_type', 'raw_body')") == "3");
  CHECK(sql_text(file, "SELECT count(*) FROM sqlite_schema WHERE name = 'uploads'") == "1");

  // The migrated file keeps a new call's raw answer.
  const CallKey other = url_key("https://images.example/b.jpg");
  const RawAnswer raw{200, "application/json;charset=UTF-8", R"({"output":{"pass":true}})"};
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, other), passed("req-v2"), &raw));
  const BeginCall again = ledger.begin_call(other, {}, nullptr);
  REQUIRE(again.outcome == BeginOutcome::reuse);
  CHECK(again.raw == std::optional<RawAnswer>(raw));
}

// Version 2 as released, frozen here: version 1 plus the raw answer.
constexpr std::string_view kSchemaVersion2Steps = R"sql(
ALTER TABLE calls ADD COLUMN raw_status INTEGER;
ALTER TABLE calls ADD COLUMN raw_content_type TEXT;
ALTER TABLE calls ADD COLUMN raw_body BLOB;
PRAGMA user_version = 2;
)sql";

TEST_CASE("a version 2 ledger migrates to version 3: call rows stay, uploads are remembered") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "v2.sqlite3";
  const CallKey key = url_key("https://images.example/a.jpg");
  sql_exec(file, std::string(kSchemaVersion1) + std::string(kSchemaVersion2Steps) +
                     "INSERT INTO calls (model, parameters, image_key, source, etag, state, "
                     "requested_at, owner_host, owner_pid, owner_start_ticks, owner_boot_id, "
                     "outcome, passed, billed, http_status, request_id, attempts, "
                     "earlier_possibly_billed, raw_status, raw_content_type, raw_body) VALUES "
                     "('wan2.2-s2v-detect', '{}', '" + key.image.canonical_key() +
                     "', 'https://images.example/a.jpg', '\"v1\"', 'completed', "
                     "'2026-11-23T10:00:00.000Z', 'h', 1, 1, 'b', 'passed', 1, 1, 200, 'req-v2', "
                     "1, 0, 200, 'application/json', CAST('{}' AS BLOB))");
  REQUIRE(sql_text(file, "PRAGMA user_version") == "2");
  REQUIRE(sql_text(file, "SELECT count(*) FROM sqlite_schema WHERE name = 'uploads'") == "0");

  ManualClock clock;
  Ledger ledger = open_ledger(file, clock.options());
  CHECK(sql_text(file, "PRAGMA user_version") == "3");
  CHECK(sql_text(file, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                       "('uploads', 'uploads_by_key')") == "2");
  const std::vector<std::string> rows = exported(ledger);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].find(R"("request_id":"req-v2")") != std::string::npos);
  const BeginCall call = ledger.begin_call(key, {}, nullptr);
  REQUIRE(call.outcome == BeginOutcome::reuse);
  CHECK(call.answer.request_id == "req-v2");
  CHECK(call.raw == std::optional<RawAnswer>(RawAnswer{200, "application/json", "{}"}));

  const UploadKey upload_key{std::string(64, 'a'), 1234, "wan2.2-s2v-detect", "acct/cn-beijing"};
  const StoredUpload upload{"oss://bucket/a.jpg", kDay1, kDay1 + 48h, 1234};
  REQUIRE_FALSE(ledger.record_upload(upload_key, upload));
  CHECK(ledger.find_upload(upload_key, 1h) == std::optional<StoredUpload>(upload));
}

TEST_CASE("a completed call's raw answer reads back byte for byte, also across a reopen") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "raw.sqlite3";
  // NUL bytes, bytes that are not UTF-8 and a trailing newline must all survive.
  const RawAnswer raw{400, "text/plain", std::string("a\0b\xFF\xC3(\r\n", 8)};
  const RawAnswer empty_body{204, "", ""};
  const CallKey first = url_key("https://images.example/a.jpg");
  const CallKey second = url_key("https://images.example/b.jpg");
  const CallKey third = url_key("https://images.example/c.jpg");
  {
    Ledger ledger = open_ledger(file);
    REQUIRE_FALSE(ledger.complete_call(claim(ledger, first), full_answer(), &raw));
    REQUIRE_FALSE(ledger.complete_call(claim(ledger, second), full_answer(), &empty_body));
    REQUIRE_FALSE(ledger.complete_call(claim(ledger, third), full_answer()));
  }
  Ledger ledger = open_ledger(file);
  const BeginCall a = ledger.begin_call(first, {}, nullptr);
  REQUIRE(a.outcome == BeginOutcome::reuse);
  REQUIRE(a.raw.has_value());
  CHECK(a.raw->status == 400);
  CHECK(a.raw->content_type == "text/plain");
  CHECK(a.raw->body.size() == 8);
  CHECK(a.raw->body == raw.body);
  check_same(a.answer, full_answer());
  const BeginCall b = ledger.begin_call(second, {}, nullptr);
  REQUIRE(b.outcome == BeginOutcome::reuse);
  CHECK(b.raw == std::optional<RawAnswer>(empty_body));
  CHECK(sql_text(file, "SELECT typeof(raw_body) FROM calls WHERE id = " + std::to_string(b.row)) ==
        "blob");
  const BeginCall c = ledger.begin_call(third, {}, nullptr);
  REQUIRE(c.outcome == BeginOutcome::reuse);
  CHECK_FALSE(c.raw.has_value());
}

TEST_CASE("a writer holding the file past busy_timeout makes calls fail with busy, not hang") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  LedgerOptions impatient;
  impatient.busy_timeout = 50ms;
  Ledger ledger = open_ledger(file, impatient);
  const CallKey key = url_key("https://images.example/a.jpg");
  const std::int64_t row = claim(ledger, key);

  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  const BeginCall blocked = ledger.begin_call(url_key("https://images.example/b.jpg"), {}, nullptr);
  CHECK(blocked.outcome == BeginOutcome::error);
  CHECK(blocked.error.code == LedgerErrorCode::busy);
  CHECK(blocked.error.message.find(file.string()) != std::string::npos);
  CHECK(ledger.complete_call(row, passed("r")).code == LedgerErrorCode::busy);
  REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);

  REQUIRE_FALSE(ledger.complete_call(row, passed("r")));
  CHECK(outcome_of(ledger, key) == BeginOutcome::reuse);
}

// ---------------------------------------------------------------------------------------------
// Report and export

namespace {

// Day 1: four wan2.2-s2v-detect calls (two billed at two stored prices, one possibly billed, one
// pending); day 2: two emo-detect-v1 calls (one in CNY, one without a price) and two reuses of
// the first call.
void fill_for_report(const fs::path& file) {
  ManualClock clock;
  Ledger ledger = open_ledger(file, clock.options());
  const Money usd574{"USD", 574}, usd600{"USD", 600}, cny{"CNY", 3000};
  const CallKey a = url_key("https://images.example/a.jpg");
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, a, {}, &usd574), passed("a")));
  DetectResult failed = passed("b");
  failed.outcome = DetectOutcome::failed_check;
  failed.passed = false;
  REQUIRE_FALSE(
      ledger.complete_call(claim(ledger, url_key("https://images.example/b.jpg"), {}, &usd600), failed));
  DetectResult timeout;
  timeout.outcome = DetectOutcome::possibly_billed;
  timeout.attempts = 1;
  REQUIRE_FALSE(
      ledger.complete_call(claim(ledger, url_key("https://images.example/c.jpg"), {}, &usd574), timeout));
  claim(ledger, url_key("https://images.example/d.jpg"), {}, &usd574);

  clock.now = kDay2;
  const CallKey e = url_key("https://images.example/e.jpg", "\"v1\"", "emo-detect-v1");
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, e, {}, &cny), passed("e")));
  const CallKey f = url_key("https://images.example/f.jpg", "\"v1\"", "emo-detect-v1");
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, f, {}, nullptr), passed("f")));
  for (int i = 0; i < 2; ++i) REQUIRE(ledger.begin_call(a, {}, &usd574).outcome == BeginOutcome::reuse);
}

void check_row(const LedgerReportRow& row, std::uint64_t calls, std::uint64_t billed,
               std::uint64_t possibly_billed, std::uint64_t reused, std::uint64_t unpriced,
               const std::vector<Money>& cost, const std::vector<Money>& possibly_billed_cost) {
  CHECK(row.calls == calls);
  CHECK(row.billed == billed);
  CHECK(row.possibly_billed == possibly_billed);
  CHECK(row.reused == reused);
  CHECK(row.billed_without_price == unpriced);
  CHECK(row.cost == cost);
  CHECK(row.possibly_billed_cost == possibly_billed_cost);
}

}  // namespace

TEST_CASE("report: calls, billed, possibly billed, reused and cost per model and day") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  fill_for_report(file);
  Ledger ledger = open_ledger(file);
  const LedgerReport report = ledger.report({});
  REQUIRE_FALSE(report.error);
  REQUIRE(report.rows.size() == 3);
  CHECK(report.rows[0].day == "2026-11-23");
  CHECK(report.rows[0].model == "wan2.2-s2v-detect");
  check_row(report.rows[0], 4, 2, 2, 0, 0, {{"USD", 1174}}, {{"USD", 1148}});
  CHECK(report.rows[1].day == "2026-11-24");
  CHECK(report.rows[1].model == "emo-detect-v1");
  check_row(report.rows[1], 2, 2, 0, 0, 1, {{"CNY", 3000}}, {{"CNY", 0}});
  CHECK(report.rows[2].day == "2026-11-24");
  CHECK(report.rows[2].model == "wan2.2-s2v-detect");
  check_row(report.rows[2], 0, 0, 0, 2, 0, {{"USD", 0}}, {{"USD", 0}});
  check_row(report.total, 6, 4, 2, 2, 1, {{"CNY", 3000}, {"USD", 1174}},
            {{"CNY", 0}, {"USD", 1148}});

  const LedgerReport since = ledger.report({parse_utc_day("2026-11-24"), std::nullopt});
  REQUIRE(since.rows.size() == 2);
  check_row(since.total, 2, 2, 0, 2, 1, {{"CNY", 3000}, {"USD", 0}}, {{"CNY", 0}, {"USD", 0}});
  const LedgerReport wan = ledger.report({std::nullopt, std::string("wan2.2-s2v-detect")});
  REQUIRE(wan.rows.size() == 2);
  check_row(wan.total, 4, 2, 2, 2, 0, {{"USD", 1174}}, {{"USD", 1148}});
}

TEST_CASE("export: every call row as one JSON object, with its stored price and reuses") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  fill_for_report(file);
  Ledger ledger = open_ledger(file);
  const std::vector<std::string> lines = exported(ledger);
  REQUIRE(lines.size() == 6);
  simdjson::dom::parser parser;
  std::int64_t cost = 0;
  for (const std::string& line : lines) {
    const auto row = parse_json(parser, line);
    if (row["price_micros"].is_int64()) {
      cost += row["billed"].get_int64().value() * row["price_micros"].get_int64().value();
    }
  }
  CHECK(cost == 574 + 600 + 3000);  // USD and CNY together: only to see every price is there
  const auto first = parse_json(parser, lines[0]);
  CHECK(first["id"].get_int64().value() == 1);
  CHECK(first["state"].get_string().value() == "completed");
  CHECK(first["request_id"].get_string().value() == "a");
  CHECK(first["requested_at"].get_string().value() == "2026-11-23T10:00:00.000Z");
  CHECK(first["price_currency"].get_string().value() == "USD");
  CHECK(first["reuses"].get_int64().value() == 2);
  CHECK(first["humanoid"].get_int64().value() == 1);
  const auto pending = parse_json(parser, lines[3]);
  CHECK(pending["state"].get_string().value() == "pending");
  CHECK(pending["outcome"].is_null());
  CHECK(pending["owner_pid"].get_int64().value() == ::getpid());
}

// ---------------------------------------------------------------------------------------------
// Identity

TEST_CASE("identify_local_file: size, modification time and SHA-256 of the bytes") {
  TempDir dir("facegate-ledger-");
  const fs::path small = dir.path() / "abc";
  facegate::test::write_text(small, "abc");
  Error error;
  const auto abc = identify_local_file(small, &error);
  REQUIRE_MESSAGE(abc, error.message);
  CHECK(abc->source == small.string());
  CHECK(abc->content_length == std::optional<std::uint64_t>(3));
  CHECK(abc->content_hash == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  struct stat st {};
  REQUIRE(::stat(small.c_str(), &st) == 0);
  CHECK(abc->mtime_ns == std::optional<std::int64_t>(st.st_mtim.tv_sec * 1'000'000'000LL +
                                                     st.st_mtim.tv_nsec));
  CHECK(abc->reusable());

  // FIPS 180-2, appendix B.3: one million 'a', across many 64 KiB reads.
  const fs::path million = dir.path() / "million";
  facegate::test::write_text(million, std::string(1'000'000, 'a'));
  const auto big = identify_local_file(million);
  REQUIRE(big);
  CHECK(big->content_hash == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  // Same size, same modification time, other bytes: another image.
  facegate::test::write_text(small, "abd");
  const timespec times[2] = {st.st_atim, st.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, small.c_str(), times, 0) == 0);
  const auto abd = identify_local_file(small);
  REQUIRE(abd);
  CHECK(abd->mtime_ns == abc->mtime_ns);
  CHECK(abd->canonical_key() != abc->canonical_key());

  CHECK_FALSE(identify_local_file(dir.path() / "missing", &error));
  CHECK(error.code == ErrorCode::io);
  CHECK(error.message.find("missing") != std::string::npos);
  CHECK_FALSE(identify_local_file(dir.path(), &error));
  CHECK(error.message.find("not a regular file") != std::string::npos);
}

TEST_CASE("canonical keys are JSON: no field can pass itself off as another") {
  ImageIdentity a;
  a.source = "https://images.example/a.jpg";
  a.etag = R"(x","last_modified":"y)";
  ImageIdentity b;
  b.source = a.source;
  b.etag = "x";
  b.last_modified = "y";
  CHECK(a.canonical_key() != b.canonical_key());
  simdjson::dom::parser parser;
  const auto parsed = parse_json(parser, a.canonical_key());
  CHECK(parsed["etag"].get_string().value() == a.etag);
  CHECK(parsed["last_modified"].is_null());
}

TEST_CASE("default_ledger_path: XDG_STATE_HOME when absolute, else ~/.local/state") {
  const char* old_state = std::getenv("XDG_STATE_HOME");
  const char* old_home = std::getenv("HOME");
  const std::string saved_state = old_state ? old_state : "", saved_home = old_home ? old_home : "";
  ::setenv("HOME", "/home/someone", 1);
  ::setenv("XDG_STATE_HOME", "/var/state", 1);
  CHECK(default_ledger_path() == fs::path("/var/state/facegate/ledger.sqlite3"));
  ::setenv("XDG_STATE_HOME", "relative/state", 1);
  CHECK(default_ledger_path() == fs::path("/home/someone/.local/state/facegate/ledger.sqlite3"));
  ::unsetenv("XDG_STATE_HOME");
  CHECK(default_ledger_path() == fs::path("/home/someone/.local/state/facegate/ledger.sqlite3"));
  if (old_state) ::setenv("XDG_STATE_HOME", saved_state.c_str(), 1);
  if (old_home) ::setenv("HOME", saved_home.c_str(), 1);
}

TEST_CASE("parse_utc_day reads YYYY-MM-DD and nothing else") {
  CHECK(parse_utc_day("2026-11-23") == std::chrono::sys_days(std::chrono::year{2026} / 11 / 23));
  CHECK(parse_utc_day("2024-02-29"));
  for (const char* bad : {"2026-02-29", "2026-13-01", "2026-1-01", "2026-01-1", "20260101",
                          "2026-01-01T00", "", "yyyy-mm-dd", "+026-01-01"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_utc_day(bad));
  }
}

// ---------------------------------------------------------------------------------------------
// `facegate ledger`

namespace {

fs::path facegate_exe() {
  const char* exe = std::getenv("FACEGATE_EXE");
  REQUIRE(exe != nullptr);
  return exe;
}

// The one line of `facegate ledger --ledger FILE --json`, which must exit 0.
std::string report_json_of(const fs::path& file) {
  int status = -1;
  const auto lines =
      output_lines({facegate_exe().string(), "ledger", "--ledger", file.string(), "--json"}, status);
  CHECK(status == 0);
  REQUIRE(lines.size() == 1);
  return lines[0];
}

}  // namespace

TEST_CASE("facegate ledger --json: the report; export: every row") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  fill_for_report(file);
  const std::string exe = facegate_exe().string();
  simdjson::dom::parser parser;

  const auto report = parse_json(parser, report_json_of(file));
  CHECK(report["rows"].get_array().size() == 3);
  CHECK(report["rows"].at(0)["day"].get_string().value() == "2026-11-23");
  CHECK(report["rows"].at(0)["possibly_billed"].get_int64().value() == 2);
  const auto total = report["total"];
  CHECK(total["calls"].get_int64().value() == 6);
  CHECK(total["billed"].get_int64().value() == 4);
  CHECK(total["reused"].get_int64().value() == 2);
  CHECK(total["billed_without_price"].get_int64().value() == 1);
  CHECK(simdjson::minify(total["cost"]) ==
        R"([{"currency":"CNY","amount_micros":3000},{"currency":"USD","amount_micros":1174}])");

  int status = -1;
  auto lines = output_lines({exe, "ledger", "--ledger", file.string(), "--json", "--since",
                             "2026-11-24", "--model", "emo-detect-v1"}, status);
  CHECK(status == 0);
  REQUIRE(lines.size() == 1);
  CHECK(parse_json(parser, lines[0])["total"]["calls"].get_int64().value() == 2);

  lines = output_lines({exe, "ledger", "--ledger", file.string()}, status);
  CHECK(status == 0);
  REQUIRE(lines.size() == 5);  // headings, three rows, total
  CHECK(lines[1].find("USD 0.001174") != std::string::npos);
  CHECK(lines[4].rfind("total", 0) == 0);

  for (const auto& args : {std::vector<std::string>{exe, "ledger", "--ledger", file.string(), "export"},
                           std::vector<std::string>{exe, "ledger", "export", "--ledger", file.string()}}) {
    lines = output_lines(args, status);
    CHECK(status == 0);
    REQUIRE(lines.size() == 6);
    CHECK(parse_json(parser, lines[5])["request_id"].get_string().value() == "f");
  }
}

TEST_CASE("uploads: counted by the report, exported as rows, by facegate ledger too") {
  TempDir dir("facegate-ledger-");
  const fs::path file = dir.path() / "ledger.sqlite3";
  fill_for_report(file);
  {
    ManualClock clock;
    clock.now = kDay2 + 1h;
    Ledger ledger = open_ledger(file, clock.options());
    REQUIRE_FALSE(ledger.record_upload(kUploadKey, upload_at(kDay1, "oss://x/expired", 2h)));
    REQUIRE_FALSE(ledger.record_upload(kUploadKey, upload_at(kDay2, "oss://x/valid")));
    UploadKey emo = kUploadKey;
    emo.model = "emo-detect-v1";
    REQUIRE_FALSE(ledger.record_upload(emo, upload_at(kDay2, "oss://x/emo")));
    const LedgerReport all = ledger.report();
    CHECK(all.uploads == 3);
    CHECK(all.valid_uploads == 2);
    const LedgerReport wan = ledger.report({std::nullopt, std::string("wan2.2-s2v-detect")});
    CHECK(wan.uploads == 2);
    CHECK(wan.valid_uploads == 1);
    CHECK(ledger.report({parse_utc_day("2026-11-24"), std::nullopt}).uploads == 2);
    CHECK(exported(ledger).size() == 6);  // export_rows: the calls only

    std::vector<std::string> lines;
    REQUIRE_FALSE(ledger.export_uploads([&](std::string_view line) { lines.emplace_back(line); }));
    REQUIRE(lines.size() == 3);
    simdjson::dom::parser parser;
    const auto first = parse_json(parser, lines[0]);
    CHECK(first["id"].get_int64().value() == 1);
    CHECK(first["content_hash"].get_string().value() == kUploadKey.content_hash);
    CHECK(first["size"].get_int64().value() == 3);
    CHECK(first["model"].get_string().value() == "wan2.2-s2v-detect");
    CHECK(first["scope"].get_string().value() == kUploadKey.scope);
    CHECK(first["oss_url"].get_string().value() == "oss://x/expired");
    CHECK(first["uploaded_at"].get_string().value() == "2026-11-23T10:00:00.000Z");
    CHECK(first["expires_at"].get_string().value() == "2026-11-23T12:00:00.000Z");
    CHECK(first["bytes"].get_int64().value() == 3);
    CHECK(parse_json(parser, lines[2])["model"].get_string().value() == "emo-detect-v1");
  }
  // facegate ledger judges validity by the real clock: only the count remembered is checked.
  const std::string exe = facegate_exe().string();
  simdjson::dom::parser parser;
  CHECK(parse_json(parser, report_json_of(file))["uploads"]["remembered"].get_int64().value() == 3);
  int status = -1;
  auto lines = output_lines({exe, "ledger", "--ledger", file.string()}, status);
  CHECK(status == 0);
  REQUIRE(lines.size() == 6);  // headings, three rows, total, uploads
  CHECK(lines[5].rfind("uploads: 3 remembered, ", 0) == 0);
  lines = output_lines({exe, "ledger", "export", "--uploads", "--ledger", file.string()}, status);
  CHECK(status == 0);
  REQUIRE(lines.size() == 3);
  CHECK(parse_json(parser, lines[1])["oss_url"].get_string().value() == "oss://x/valid");
}

TEST_CASE("facegate ledger: a missing ledger is empty, a damaged one or a bad date exits 2") {
  TempDir dir("facegate-ledger-");
  const std::string exe = facegate_exe().string();
  const fs::path missing = dir.path() / "missing.sqlite3";
  int status = -1;
  auto lines = output_lines({exe, "ledger", "--ledger", missing.string(), "--json"}, status);
  CHECK(status == 0);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(R"("total":{"calls":0,)") != std::string::npos);
  CHECK(lines[0].find(R"("uploads":{"remembered":0,"valid":0})") != std::string::npos);
  CHECK_FALSE(fs::exists(missing));

  const fs::path damaged = dir.path() / "damaged.sqlite3";
  facegate::test::write_text(damaged, "SQLite format 3 but not really");
  lines = output_lines({exe, "ledger", "--ledger", damaged.string()}, status);
  CHECK(status == 2);
  CHECK(lines.empty());
  CHECK(facegate::test::read_text(damaged) == "SQLite format 3 but not really");
  output_lines({exe, "ledger", "--ledger", damaged.string(), "export"}, status);
  CHECK(status == 2);
  output_lines({exe, "ledger", "--ledger", missing.string(), "--since", "2026-02-30"}, status);
  CHECK(status == 2);
}

TEST_CASE("raw_only passes over answers recorded without their raw bytes") {
  TempDir dir("facegate-ledger-");
  Ledger ledger = open_ledger(dir.path() / "raw-only.sqlite3");
  const CallKey key = url_key("https://images.example/a.jpg");
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, key), passed("req-normalized")));
  ReusePolicy raw_only;
  raw_only.raw_only = true;
  const RawAnswer raw{200, "application/json", R"({"request_id":"req-raw"})"};
  REQUIRE_FALSE(ledger.complete_call(claim(ledger, key, raw_only), passed("req-raw"), &raw));
  const BeginCall hit = ledger.begin_call(key, raw_only, nullptr);
  REQUIRE(hit.outcome == BeginOutcome::reuse);
  CHECK(hit.answer.request_id == "req-raw");
  CHECK(hit.raw == std::optional<RawAnswer>(raw));
}

TEST_CASE("identify_url keys on the URL as given, the entity's size and the validators") {
  ProbeResult probe;
  probe.file_size = 4321;
  probe.network.emplace();
  probe.network->etag = "\"abc\"";
  probe.network->last_modified = "Mon, 23 Nov 2026 09:00:00 GMT";
  const ImageIdentity identity = identify_url("http://127.0.0.1/a.jpg?x=1", probe);
  CHECK(identity.source == "http://127.0.0.1/a.jpg?x=1");
  CHECK(identity.content_length == std::optional<std::uint64_t>(4321));
  CHECK(identity.etag == "\"abc\"");
  CHECK(identity.last_modified == "Mon, 23 Nov 2026 09:00:00 GMT");
  CHECK(identity.reusable());
  probe.network.reset();
  CHECK_FALSE(identify_url("http://127.0.0.1/a.jpg", probe).reusable());
}
