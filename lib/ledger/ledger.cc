// The ledger's write-ahead protocol: begin_call claims (or reuses, or refuses) in one
// BEGIN IMMEDIATE transaction, complete_call records the answer, release_claim forgets a
// request that was never sent.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <tuple>
#include <utility>

#include "ledger/internal.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;
using detail::ResetOnExit;
using detail::Statement;

// ---------------------------------------------------------------------------------------------
// Statements

// ?1 image_key, ?2 model, ?3 parameters: every statement about a key starts with these.
constexpr std::string_view kKeyMatch = "image_key = ?1 AND model = ?2 AND parameters = ?3";

// Columns of newest_answer_sql(), before the answer columns.
enum AnswerColumn { kAnswerId, kAnswerRequestedAt, kRawStatus, kRawContentType, kRawBody, kNormalized };

std::string newest_answer_sql() {
  return "SELECT id, requested_at, raw_status, raw_content_type, raw_body, " +
         std::string(detail::kAnswerColumns) +
         " FROM calls WHERE " + std::string(kKeyMatch) +
         " AND state = 'completed' AND outcome IN ('passed', 'failed_check')"
         " AND (?4 = 0 OR raw_status IS NOT NULL)"
         " ORDER BY id DESC LIMIT 1";
}

// Columns of unsettled_sql(), before the answer columns.
enum UnsettledColumn { kId, kState, kRequestedAt, kHost, kPid, kStartTicks, kBootId, kAnswer };

std::string unsettled_sql() {
  return "SELECT id, state, requested_at, owner_host, owner_pid, owner_start_ticks, "
         "owner_boot_id, " + std::string(detail::kAnswerColumns) + " FROM calls WHERE " +
         std::string(kKeyMatch) +
         " AND id > ?4 AND (state <> 'completed' OR possibly_billed > 0) ORDER BY id";
}

constexpr std::string_view kInsertReuse =
    "INSERT INTO reuses (call_id, reused_at) VALUES (?1, ?2)";

constexpr std::string_view kMarkLost =
    "UPDATE calls SET state = 'lost', outcome = 'possibly_billed', possibly_billed = 1, "
    "detail = ?2 WHERE id = ?1 AND state = 'pending'";

constexpr std::string_view kInsertClaim =
    "INSERT INTO calls (image_key, model, parameters, source, etag, last_modified, "
    "content_length, mtime_ns, content_hash, state, requested_at, owner_host, owner_pid, "
    "owner_start_ticks, owner_boot_id, price_currency, price_micros) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

constexpr std::string_view kComplete =
    "UPDATE calls SET state = 'completed', completed_at = ?2, outcome = ?3, passed = ?4, "
    "billed = ?5, possibly_billed = ?6, http_status = ?7, request_id = ?8, code = ?9, "
    "message = ?10, face_bbox = ?11, ext_bbox = ?12, humanoid = ?13, bodystyle = ?14, "
    "attempts = ?15, earlier_possibly_billed = ?16, detail = ?17, raw_status = ?18, "
    "raw_content_type = ?19, raw_body = ?20 WHERE id = ?1 AND state IN ('pending', 'lost')";

constexpr std::string_view kRelease =
    "DELETE FROM calls WHERE id = ?1 AND state IN ('pending', 'lost')";

LedgerError prepare_statements(detail::LedgerState& d) {
  const std::pair<detail::Statement*, std::string> statements[] = {
      {&d.newest_answer, newest_answer_sql()}, {&d.unsettled, unsettled_sql()},
      {&d.insert_reuse, std::string(kInsertReuse)}, {&d.mark_lost, std::string(kMarkLost)},
      {&d.insert_claim, std::string(kInsertClaim)}, {&d.complete, std::string(kComplete)},
      {&d.release, std::string(kRelease)},
  };
  for (const auto& [statement, sql] : statements) {
    if (LedgerError e = d.db.prepare(sql, *statement)) return e;
  }
  return detail::prepare_upload_statements(d);
}

// ---------------------------------------------------------------------------------------------
// Keys and answers

struct KeyText {
  std::string image, model, parameters;
};

// The parameters as a JSON object, sorted by name: the order they were given in is not part of
// the key.
std::string parameters_json(std::vector<Parameter> parameters) {
  std::sort(parameters.begin(), parameters.end(), [](const Parameter& a, const Parameter& b) {
    return std::tie(a.name, a.value) < std::tie(b.name, b.value);
  });
  detail::JsonWriter json;
  json.begin_object();
  for (const Parameter& p : parameters) json.key(p.name).string(p.value);
  json.end_object();
  return json.take();
}

KeyText key_text(const CallKey& key) {
  return {key.image.canonical_key(), key.model, parameters_json(key.parameters)};
}

void bind_key(Statement& statement, const KeyText& key) {
  statement.bind(1, key.image).bind(2, key.model).bind(3, key.parameters);
}

std::optional<DetectOutcome> outcome_named(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(DetectOutcome::not_sent); ++i) {
    const auto outcome = static_cast<DetectOutcome>(i);
    if (detect_outcome_name(outcome) == name) return outcome;
  }
  return std::nullopt;
}

std::string box_text(const std::optional<BoundingBox>& box) {
  if (!box) return {};
  std::string text = "[";
  for (std::size_t i = 0; i < box->size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string((*box)[i]);
  }
  return text + "]";
}

// "[x1,y1,x2,y2]" as box_text writes it; false for anything else.
bool parse_box(std::string_view text, BoundingBox& box) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') return false;
  const char* at = text.data() + 1;
  const char* const end = text.data() + text.size() - 1;
  for (std::size_t i = 0; i < box.size(); ++i) {
    if (i > 0 && (at == end || *at++ != ',')) return false;
    const auto [next, ec] = std::from_chars(at, end, box[i]);
    if (ec != std::errc{}) return false;
    at = next;
  }
  return at == end;
}

bool read_box(const Statement& row, int column, std::optional<BoundingBox>& box) {
  if (row.is_null(column)) return true;
  box.emplace();
  return parse_box(row.text(column), *box);
}

template <typename Unsigned>
bool read_count(const Statement& row, int column, Unsigned& value) {
  const std::int64_t raw = row.integer(column);
  if (raw < 0 || static_cast<std::uint64_t>(raw) > std::numeric_limits<Unsigned>::max()) {
    return false;
  }
  value = static_cast<Unsigned>(raw);
  return true;
}

// Requests of `result` that may have been billed without an answer: its earlier lost attempts,
// and the last one if its own billing is unknown.
std::int64_t possibly_billed_requests(const DetectResult& result) {
  DetectResult last_attempt;
  last_attempt.outcome = result.outcome;
  last_attempt.http_status = result.http_status;
  return std::int64_t{result.earlier_possibly_billed} + (last_attempt.billing_uncertain() ? 1 : 0);
}

void bind_answer(Statement& statement, const DetectResult& r) {
  const auto humanoid =
      r.humanoid ? std::optional<std::int64_t>(*r.humanoid ? 1 : 0) : std::nullopt;
  statement.bind(3, detect_outcome_name(r.outcome))
      .bind(4, std::int64_t{r.passed ? 1 : 0})
      .bind(5, std::int64_t{r.billed})
      .bind(6, possibly_billed_requests(r))
      .bind(7, std::int64_t{r.http_status})
      .bind_text_or_null(8, r.request_id)
      .bind_text_or_null(9, r.code)
      .bind_text_or_null(10, r.message)
      .bind_text_or_null(11, box_text(r.face_bbox))
      .bind_text_or_null(12, box_text(r.ext_bbox))
      .bind(13, humanoid)
      .bind_text_or_null(14, r.bodystyle)
      .bind(15, std::int64_t{r.attempts})
      .bind(16, std::int64_t{r.earlier_possibly_billed})
      .bind_text_or_null(17, r.detail);
}

void bind_raw(Statement& statement, const RawAnswer* raw) {
  if (raw == nullptr) return;  // the columns stay NULL: no raw answer was kept
  statement.bind(18, std::int64_t{raw->status})
      .bind(19, raw->content_type)
      .bind_blob(20, raw->body);
}

// The raw answer of newest_answer_sql()'s row, if it has one; false for a status facegate
// never writes.
bool read_raw(const Statement& row, std::optional<RawAnswer>& raw) {
  if (row.is_null(kRawStatus)) return true;
  const std::int64_t status = row.integer(kRawStatus);
  if (status < 100 || status > 999) return false;
  raw = RawAnswer{static_cast<int>(status), row.text(kRawContentType), row.blob(kRawBody)};
  return true;
}

// ---------------------------------------------------------------------------------------------
// begin_call's steps

BeginCall failed(LedgerError error) {
  BeginCall call;
  call.outcome = BeginOutcome::error;
  call.error = std::move(error);
  return call;
}

LedgerError bad_row(const detail::LedgerState& d, std::int64_t row, std::string_view why) {
  return d.db.error(LedgerErrorCode::bad_row, "row " + std::to_string(row) + ": " + std::string(why));
}

// The newest completed answer of the key into `found` (row 0 when there is none).
LedgerError find_answer(detail::LedgerState& d, const KeyText& key, bool raw_only,
                        BeginCall& found) {
  Statement& query = d.newest_answer;
  const ResetOnExit reset(query);
  bind_key(query, key);
  query.bind(4, std::int64_t{raw_only ? 1 : 0});
  const int rc = query.step();
  if (rc == SQLITE_DONE) return {};
  if (rc != SQLITE_ROW) return d.db.error(rc, "reading earlier answers");
  const std::int64_t row = query.integer(kAnswerId);
  const auto requested_at = detail::parse_utc_time(query.text(kAnswerRequestedAt));
  auto answer = detail::read_answer(query, kNormalized);
  if (!requested_at || !answer || !read_raw(query, found.raw)) {
    return bad_row(d, row, "holds values facegate never writes");
  }
  found.row = row;
  found.requested_at = *requested_at;
  found.answer = std::move(*answer);
  return {};
}

bool fresh_enough(Clock::time_point requested_at, Clock::time_point now,
                  const std::optional<std::chrono::seconds>& max_age) {
  return !max_age || now - requested_at <= *max_age;
}

// A reuse changes no decision (completed answers are never changed), so its record does not
// get a sync of its own: it is written with synchronous=NORMAL outside any transaction and
// reaches the disk with the next durable commit or checkpoint. A power loss may forget a reuse,
// never a claim.
LedgerError record_reuse(detail::LedgerState& d, std::int64_t row, Clock::time_point now) {
  if (LedgerError e = d.db.exec("PRAGMA synchronous = NORMAL")) return e;
  Statement& insert = d.insert_reuse;
  const ResetOnExit reset(insert);
  insert.bind(1, row).bind(2, detail::format_utc_time(now));
  const int rc = insert.step();
  LedgerError restored = d.db.exec("PRAGMA synchronous = FULL");
  if (rc != SQLITE_DONE) return d.db.error(rc, "recording a reuse");
  return restored;
}

// A row of the key that is not settled: pending, lost, or completed without a sure bill.
struct Unsettled {
  std::int64_t row = 0;
  bool pending = false;
  Clock::time_point requested_at;
  ClaimOwner owner;
  DetectResult answer;
};

LedgerError find_unsettled(detail::LedgerState& d, const KeyText& key, std::int64_t after,
                           std::vector<Unsettled>& rows) {
  Statement& query = d.unsettled;
  const ResetOnExit reset(query);
  bind_key(query, key);
  query.bind(4, after);
  for (int rc = query.step(); rc != SQLITE_DONE; rc = query.step()) {
    if (rc != SQLITE_ROW) return d.db.error(rc, "reading earlier calls");
    Unsettled u;
    u.row = query.integer(kId);
    u.pending = query.text(kState) == "pending";
    const auto requested_at = detail::parse_utc_time(query.text(kRequestedAt));
    u.owner = {query.text(kHost), query.integer(kPid),
               static_cast<std::uint64_t>(query.integer(kStartTicks)), query.text(kBootId)};
    auto answer = u.pending ? std::optional<DetectResult>(DetectResult{})
                            : detail::read_answer(query, kAnswer);
    if (!requested_at || !answer) return bad_row(d, u.row, "holds values facegate never writes");
    u.requested_at = *requested_at;
    u.answer = std::move(*answer);
    rows.push_back(std::move(u));
  }
  return {};
}

std::string lost_detail(const ClaimOwner& owner) {
  return "the process that sent it (pid " + std::to_string(owner.pid) + " on " + owner.host +
         ") ended before it recorded the answer: possibly billed";
}

// What begin_call records for the pending row of a process that is gone: possibly billed.
DetectResult lost_answer(const ClaimOwner& owner) {
  DetectResult answer;
  answer.outcome = DetectOutcome::possibly_billed;
  answer.detail = lost_detail(owner);
  return answer;
}

// Marks the pending row of a process that is gone as lost, with its lost_answer().
LedgerError mark_lost(detail::LedgerState& d, const Unsettled& u) {
  Statement& update = d.mark_lost;
  const ResetOnExit reset(update);
  update.bind(1, u.row).bind(2, u.answer.detail);
  const int rc = update.step();
  if (rc != SQLITE_DONE) return d.db.error(rc, "marking a lost call");
  return {};
}

LedgerError insert_claim(detail::LedgerState& d, const KeyText& key, const ImageIdentity& image,
                         const Money* price, Clock::time_point now, std::int64_t& row) {
  Statement& insert = d.insert_claim;
  const ResetOnExit reset(insert);
  bind_key(insert, key);
  const auto length = image.content_length
                          ? std::optional<std::int64_t>(static_cast<std::int64_t>(*image.content_length))
                          : std::nullopt;
  insert.bind(4, image.source)
      .bind_text_or_null(5, image.etag)
      .bind_text_or_null(6, image.last_modified)
      .bind(7, length)
      .bind(8, image.mtime_ns)
      .bind_text_or_null(9, image.content_hash)
      .bind(10, detail::format_utc_time(now))
      .bind(11, d.owner.host)
      .bind(12, d.owner.pid)
      .bind(13, static_cast<std::int64_t>(d.owner.start_ticks))
      .bind(14, d.owner.boot_id);
  if (price != nullptr) insert.bind(15, price->currency).bind(16, price->amount_micros);
  const int rc = insert.step();
  if (rc != SQLITE_DONE) return d.db.error(rc, "claiming a call");
  row = d.db.last_insert_rowid();
  return {};
}

// `text`, all decimal digits, as a number.
bool read_digits(std::string_view text, int& value) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size();
}

BeginCall decided(BeginOutcome outcome, Unsettled&& u) {
  BeginCall call;
  call.outcome = outcome;
  call.row = u.row;
  call.requested_at = u.requested_at;
  call.answer = std::move(u.answer);
  return call;
}

bool reusable(const BeginCall& found, const CallKey& key, const ReusePolicy& policy,
              Clock::time_point now) {
  return found.row != 0 && !policy.refresh && key.image.reusable() &&
         fresh_enough(found.requested_at, now, policy.max_age);
}

// The newest completed answer of the key (`answer.row` 0: none), outcome reuse when `policy`
// lets it be reused now.
LedgerError find_reusable(detail::LedgerState& d, const KeyText& text, const CallKey& key,
                          const ReusePolicy& policy, Clock::time_point now, BeginCall& answer) {
  if (LedgerError e = find_answer(d, text, policy.raw_only, answer)) return e;
  if (reusable(answer, key, policy, now)) answer.outcome = BeginOutcome::reuse;
  return {};
}

// What the rows of a key decide, read without writing: `call` is a reuse (its answer),
// in_flight or ambiguous (the row), or claimed when nothing stands in the way of a new call
// (no row yet). `dead` holds the pending rows whose process is gone, their answer already
// lost_answer(): begin_call marks them lost before it answers.
struct KeyDecision {
  BeginCall call;
  std::vector<Unsettled> dead;
};

LedgerError decide(detail::LedgerState& d, const KeyText& text, const CallKey& key,
                   const ReusePolicy& policy, Clock::time_point now, KeyDecision& decision) {
  BeginCall answer;
  if (LedgerError e = find_reusable(d, text, key, policy, now, answer)) return e;
  if (answer.outcome == BeginOutcome::reuse) {
    decision.call = std::move(answer);
    return {};
  }
  // Rows before the newest completed answer never matter: that answer settled the key.
  std::vector<Unsettled> unsettled;
  if (LedgerError e = find_unsettled(d, text, answer.row, unsettled)) return e;
  for (Unsettled& u : unsettled) {
    if (u.pending && detail::owner_alive(u.owner, d.here, u.requested_at, now,
                                         d.options.foreign_claim_timeout)) {
      decision.call = decided(BeginOutcome::in_flight, std::move(u));
      return {};
    }
  }
  for (Unsettled& u : unsettled) {
    if (!u.pending) continue;
    u.answer = lost_answer(u.owner);
    decision.dead.push_back(u);
  }
  decision.call.outcome = BeginOutcome::claimed;
  if (!unsettled.empty() && !policy.retry_ambiguous) {
    decision.call = decided(BeginOutcome::ambiguous, std::move(unsettled.back()));
  }
  return {};
}

// begin_call under the write lock: another process may have completed an answer since the
// first look (then outcome reuse, nothing written); else in_flight, ambiguous or claimed.
BeginCall claim_or_refuse(detail::LedgerState& d, const KeyText& text, const CallKey& key,
                          const ReusePolicy& policy, const Money* price, Clock::time_point now) {
  detail::Transaction transaction(d.db);
  if (LedgerError e = transaction.begin()) return failed(std::move(e));
  KeyDecision decision;
  if (LedgerError e = decide(d, text, key, policy, now, decision)) return failed(std::move(e));
  const BeginOutcome outcome = decision.call.outcome;
  if (outcome == BeginOutcome::reuse || outcome == BeginOutcome::in_flight) return decision.call;
  for (const Unsettled& u : decision.dead) {
    if (LedgerError e = mark_lost(d, u)) return failed(std::move(e));
  }
  if (outcome == BeginOutcome::claimed) {
    if (LedgerError e = insert_claim(d, text, key.image, price, now, decision.call.row)) {
      return failed(std::move(e));
    }
    decision.call.requested_at = now;
  }
  if (LedgerError e = transaction.commit()) return failed(std::move(e));
  return decision.call;
}

// Records the reuse of `answer` (outcome reuse) and returns it.
BeginCall reused(detail::LedgerState& d, BeginCall&& answer, Clock::time_point now) {
  if (LedgerError e = record_reuse(d, answer.row, now)) return failed(std::move(e));
  return std::move(answer);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Time stamps and days

namespace detail {

std::string format_utc_time(Clock::time_point time) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day date(day);
  const hh_mm_ss clock(ms - day);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()),
                static_cast<int>(clock.subseconds().count()));
  return text;
}

std::optional<Clock::time_point> parse_utc_time(std::string_view text) {
  if (text.size() != 24 || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
      text[19] != '.' || text[23] != 'Z') {
    return std::nullopt;
  }
  const auto day = parse_utc_day(text.substr(0, 10));
  auto field = [text](std::size_t at, std::size_t length, int max, int& value) {
    return read_digits(text.substr(at, length), value) && value <= max;
  };
  int hours = 0, minutes = 0, seconds = 0, millis = 0;
  if (!day || !field(11, 2, 23, hours) || !field(14, 2, 59, minutes) ||
      !field(17, 2, 59, seconds) || !field(20, 3, 999, millis)) {
    return std::nullopt;
  }
  using namespace std::chrono;
  return Clock::time_point(*day) + hours * 1h + minutes * 1min + seconds * 1s + millis * 1ms;
}

std::optional<DetectResult> read_answer(const Statement& row, int first) {
  DetectResult r;
  const auto outcome = outcome_named(row.text(first));
  if (!outcome) return std::nullopt;
  r.outcome = *outcome;
  r.passed = row.integer(first + 1) != 0;
  std::int64_t status = row.integer(first + 3);
  if (status < 0 || status > 999) return std::nullopt;
  r.http_status = static_cast<int>(status);
  r.request_id = row.text(first + 4);
  r.code = row.text(first + 5);
  r.message = row.text(first + 6);
  if (!read_box(row, first + 7, r.face_bbox) || !read_box(row, first + 8, r.ext_bbox)) {
    return std::nullopt;
  }
  if (!row.is_null(first + 9)) r.humanoid = row.integer(first + 9) != 0;
  r.bodystyle = row.text(first + 10);
  if (!read_count(row, first + 2, r.billed) || !read_count(row, first + 11, r.attempts) ||
      !read_count(row, first + 12, r.earlier_possibly_billed)) {
    return std::nullopt;
  }
  r.detail = row.text(first + 13);
  return r;
}

}  // namespace detail

std::optional<std::chrono::sys_days> parse_utc_day(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int year = 0, month = 0, day = 0;
  if (!read_digits(text.substr(0, 4), year) || !read_digits(text.substr(5, 2), month) ||
      !read_digits(text.substr(8, 2), day)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date);
}

// ---------------------------------------------------------------------------------------------
// Names and paths

std::string_view ledger_error_name(LedgerErrorCode code) noexcept {
  switch (code) {
    case LedgerErrorCode::none: return "none";
    case LedgerErrorCode::io: return "io";
    case LedgerErrorCode::missing: return "missing";
    case LedgerErrorCode::not_a_ledger: return "not_a_ledger";
    case LedgerErrorCode::newer_schema: return "newer_schema";
    case LedgerErrorCode::busy: return "busy";
    case LedgerErrorCode::bad_row: return "bad_row";
  }
  return "unknown";
}

std::string_view begin_outcome_name(BeginOutcome outcome) noexcept {
  switch (outcome) {
    case BeginOutcome::claimed: return "claimed";
    case BeginOutcome::reuse: return "reuse";
    case BeginOutcome::in_flight: return "in_flight";
    case BeginOutcome::ambiguous: return "ambiguous";
    case BeginOutcome::error: return "error";
  }
  return "unknown";
}

fs::path default_ledger_path() {
  const fs::path relative = fs::path("facegate") / "ledger.sqlite3";
  const char* state_home = std::getenv("XDG_STATE_HOME");
  if (state_home != nullptr && fs::path(state_home).is_absolute()) return state_home / relative;
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* entry = ::getpwuid(::getuid());
    home = entry != nullptr ? entry->pw_dir : ".";
  }
  return fs::path(home) / ".local" / "state" / relative;
}

// ---------------------------------------------------------------------------------------------
// Ledger

Ledger::Ledger(std::unique_ptr<detail::LedgerState> state) : state_(std::move(state)) {}
Ledger::Ledger(Ledger&& other) noexcept = default;
Ledger& Ledger::operator=(Ledger&& other) noexcept = default;
Ledger::~Ledger() = default;

LedgerOpenResult Ledger::open(const fs::path& path, LedgerOptions options) {
  auto state = std::make_unique<detail::LedgerState>();
  state->here = ClaimOwner::current();
  state->owner = options.owner.value_or(state->here);
  state->options = std::move(options);
  LedgerOpenResult result;
  result.error = detail::open_ledger_database(path, state->options, state->db);
  if (!result.error) result.error = prepare_statements(*state);
  if (!result.error) result.ledger.emplace(Ledger(std::move(state)));
  return result;
}

const fs::path& Ledger::path() const noexcept { return state_->db.path(); }

BeginCall Ledger::begin_call(const CallKey& key, const ReusePolicy& policy, const Money* price) {
  detail::LedgerState& d = *state_;
  const KeyText text = key_text(key);
  const Clock::time_point now = d.now();
  // Completed answers never change: the common case, a reuse, needs no write lock to decide.
  BeginCall answer;
  if (LedgerError e = find_reusable(d, text, key, policy, now, answer)) return failed(std::move(e));
  if (answer.outcome != BeginOutcome::reuse) {
    answer = claim_or_refuse(d, text, key, policy, price, now);
    if (answer.outcome != BeginOutcome::reuse) return answer;
  }
  return reused(d, std::move(answer), now);
}

std::optional<BeginCall> Ledger::reuse_call(const CallKey& key, const ReusePolicy& policy) {
  detail::LedgerState& d = *state_;
  const Clock::time_point now = d.now();
  KeyDecision decision;
  {
    // One snapshot for both reads (a deferred transaction in WAL mode blocks no writer).
    detail::Transaction snapshot(d.db);
    LedgerError e = snapshot.begin_read();
    if (!e) e = decide(d, key_text(key), key, policy, now, decision);
    if (e) return failed(std::move(e));
  }
  switch (decision.call.outcome) {
    case BeginOutcome::reuse: return reused(d, std::move(decision.call), now);
    case BeginOutcome::ambiguous: return std::move(decision.call);
    default: return std::nullopt;  // claimed or in_flight: begin_call decides after the work
  }
}

LedgerError Ledger::complete_call(std::int64_t row, const DetectResult& result,
                                  const RawAnswer* raw) {
  detail::LedgerState& d = *state_;
  Statement& update = d.complete;
  const ResetOnExit reset(update);
  update.bind(1, row).bind(2, detail::format_utc_time(d.now()));
  bind_answer(update, result);
  bind_raw(update, raw);
  const int rc = update.step();
  if (rc != SQLITE_DONE) return d.db.error(rc, "recording the answer of row " + std::to_string(row));
  if (d.db.changes() == 0) return bad_row(d, row, "no pending call to complete");
  return {};
}

LedgerError Ledger::release_claim(std::int64_t row) {
  detail::LedgerState& d = *state_;
  Statement& remove = d.release;
  const ResetOnExit reset(remove);
  remove.bind(1, row);
  const int rc = remove.step();
  if (rc != SQLITE_DONE) return d.db.error(rc, "releasing row " + std::to_string(row));
  if (d.db.changes() == 0) return bad_row(d, row, "no pending call to release");
  return {};
}

}  // namespace facegate
