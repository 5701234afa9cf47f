// facegate: the ledger, a durable record of every paid remote detector call.
//
// Every completed detector call is billed. The ledger is a SQLite database (WAL mode, schema
// version in PRAGMA user_version) with one row per remote call, written ahead: the row is
// committed before the request is sent and completed after it, so a process killed in between
// leaves a row that the next run reports as possibly billed instead of paying again. A
// completed answer for the same image, model and parameters is reused instead of bought twice.
//
// Errors: no exception escapes. Operations return a LedgerError (or carry one in their result);
// its code is LedgerErrorCode::none on success. A ledger that cannot be opened (not SQLite,
// corrupt, a newer schema) is an error, and the file is left as it was.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/detect.hpp"
#include "facegate/export.h"
#include "facegate/probe.hpp"
#include "facegate/rules.hpp"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

// ---------------------------------------------------------------------------------------------
// The identity of an image

/// What the ledger knows of an image. Two calls are for the same image when every field is
/// equal (canonical_key() is the text compared); a change in any field is a new image.
///
/// For a URL: the URL as sent, and the validators its header fetch saw: ETag, Last-Modified
/// and the size of the whole entity (Content-Length of a 200, the total of a 206's
/// Content-Range). A server that serves other bytes under the same URL with the same ETag,
/// Last-Modified and size would be lying to every HTTP cache too (RFC 9110, 8.8: a validator
/// changes when the representation does). A URL without ETag and without Last-Modified has no
/// such promise, so its answer is recorded but never reused (reusable()).
///
/// For a local file (uploaded before the call): its path, size, modification time and the
/// SHA-256 of its bytes (identify_local_file()). The hash alone decides what the service sees;
/// path, size and time only make the key stricter.
struct ImageIdentity {
  std::string source;                           ///< the URL as sent, or the local file's path
  std::string etag;                             ///< URL: the ETag header verbatim; may be empty
  std::string last_modified;                    ///< URL: the Last-Modified header verbatim; may be empty
  std::optional<std::uint64_t> content_length;  ///< URL: the entity's size; file: its size
  std::optional<std::int64_t> mtime_ns;         ///< file: modification time, ns since the epoch
  std::string content_hash;                     ///< file: SHA-256 of its bytes, lower-case hex
  /// The key compared: a JSON object of every field in a fixed order, absent ones null:
  /// {"source":..,"etag":..,"last_modified":..,"content_length":..,"mtime_ns":..,"sha256":..}.
  std::string canonical_key() const;
  /// True when a change of the image would change the key: a URL with an ETag or a
  /// Last-Modified, or a file with its hash. Only such identities have their answers reused.
  bool reusable() const noexcept;
  /// Memberwise equality.
  bool operator==(const ImageIdentity&) const = default;
};

/// The identity of a local file: its path, size, modification time and SHA-256, the bytes
/// streamed in 64 KiB reads (never the whole file in memory). Nullopt when it cannot be read,
/// is not a regular file, or changes while it is read; `error` (if given) then says why
/// (ErrorCode::io).
std::optional<ImageIdentity> identify_local_file(const std::filesystem::path& path,
                                                 Error* error = nullptr);

/// The identity of the image at URL `source` (as given) that `probe` read: the entity's size
/// and the last response's ETag and Last-Modified. What the Checker and the gateway key on.
ImageIdentity identify_url(std::string_view source, const ProbeResult& probe);

/// What a paid answer depends on: the same model, parameters and image give the same answer.
struct CallKey {
  std::string model;                  ///< the request's "model"
  std::vector<Parameter> parameters;  ///< as sent (request_parameters()); order does not matter
  ImageIdentity image;                ///< the image
};

// ---------------------------------------------------------------------------------------------
// Opening

/// Why a ledger operation failed.
enum class LedgerErrorCode : std::uint8_t {
  none,          ///< no error
  io,            ///< the file or its directory cannot be created, opened, read or written
  missing,       ///< no ledger at the path and LedgerOptions::create_if_missing is false
  not_a_ledger,  ///< not a SQLite database, corrupt (PRAGMA quick_check), or another program's
  newer_schema,  ///< written by a newer facegate (user_version above kLedgerSchemaVersion)
  busy,          ///< another process held the database longer than LedgerOptions::busy_timeout
  bad_row,       ///< no such row, or the row is not in the state the operation needs
};

/// Stable snake_case name of an error code ("not_a_ledger", ...).
std::string_view ledger_error_name(LedgerErrorCode code) noexcept;

/// A ledger error code with a message that names the file.
struct LedgerError {
  LedgerErrorCode code = LedgerErrorCode::none;  ///< LedgerErrorCode::none on success
  std::string message;                           ///< empty on success
  /// True when this holds an error.
  explicit operator bool() const noexcept { return code != LedgerErrorCode::none; }
};

/// The schema version this build writes (PRAGMA user_version). Older ledgers are migrated when
/// opened; newer ones are refused.
inline constexpr int kLedgerSchemaVersion = 3;

/// The service's answer to a call exactly as it came, kept so that a gateway can return it
/// again byte for byte (version 2 of the schema; rows written before have none).
struct RawAnswer {
  int status = 0;            ///< HTTP status
  std::string content_type;  ///< the Content-Type header verbatim; may be empty
  std::string body;          ///< the body, byte for byte
  /// Memberwise equality.
  bool operator==(const RawAnswer&) const = default;
};

/// The process that claimed a row: enough to tell whether it still runs, also after its pid
/// has been reused by another process or the machine rebooted.
struct ClaimOwner {
  std::string host;              ///< gethostname()
  std::int64_t pid = 0;          ///< process id
  std::uint64_t start_ticks = 0; ///< start time, clock ticks after boot (/proc/PID/stat field 22)
  std::string boot_id;           ///< /proc/sys/kernel/random/boot_id
  /// This process.
  static ClaimOwner current();
  /// Memberwise equality.
  bool operator==(const ClaimOwner&) const = default;
};

/// How a ledger is opened and how it judges claims.
struct LedgerOptions {
  /// The time written on rows and compared with max_age; empty: system_clock::now (tests
  /// inject their own).
  std::function<std::chrono::system_clock::time_point()> clock;
  /// The owner written on claims; nullopt: ClaimOwner::current() (tests write others').
  std::optional<ClaimOwner> owner;
  /// How long an operation waits for another process's transaction before failing with busy.
  std::chrono::milliseconds busy_timeout{10000};
  /// A claim by a process on another host (its liveness cannot be checked) counts as in flight
  /// for this long after its request time, then as possibly billed.
  std::chrono::seconds foreign_claim_timeout{3600};
  /// Create the file (and its parent directories) when there is none; else LedgerErrorCode::missing.
  bool create_if_missing = true;
};

struct LedgerOpenResult;
FACEGATE_INTERNAL_BEGIN
namespace detail {
struct LedgerState;
}  // namespace detail
FACEGATE_INTERNAL_END

// ---------------------------------------------------------------------------------------------
// Asking before a call

/// Which earlier rows begin_call may act on.
struct ReusePolicy {
  /// Reuse only answers requested at most this long ago; nullopt: any age.
  std::optional<std::chrono::seconds> max_age;
  /// Never reuse an answer (`--refresh`); the new call is still recorded.
  bool refresh = false;
  /// Claim even when an earlier call of the key may have been billed without an answer.
  bool retry_ambiguous = false;
  /// Reuse only answers kept with their RawAnswer (a gateway returns the bytes as they came);
  /// answers recorded without one are passed over as if absent.
  bool raw_only = false;
};

/// What begin_call decided.
enum class BeginOutcome : std::uint8_t {
  claimed,    ///< send the request, then complete_call(row) or, if never sent, release_claim(row)
  reuse,      ///< a completed answer exists (`answer`): send nothing
  in_flight,  ///< a live process (this one included) holds a claim on the key: ask again later
  ambiguous,  ///< an earlier call may have been billed without an answer: send nothing
  error,      ///< the ledger failed (`error`): send nothing, the call would not be recorded
};

/// Stable snake_case name of a begin outcome ("claimed", "reuse", ...).
std::string_view begin_outcome_name(BeginOutcome outcome) noexcept;

/// The answer of begin_call.
struct BeginCall {
  BeginOutcome outcome = BeginOutcome::error;  ///< what to do
  /// claimed: the new row; reuse: the row of the answer; in_flight, ambiguous: the row that
  /// holds the claim or the possibly billed call; error: 0.
  std::int64_t row = 0;
  /// reuse: the answer exactly as completed (its billed count is the original call's, its
  /// request_id the original one); ambiguous: the possibly billed call as recorded.
  DetectResult answer;
  /// reuse: the service's answer as it came, when the call recorded one (complete_call's `raw`).
  std::optional<RawAnswer> raw;
  /// The request time of `row` (reuse: of the original call).
  std::chrono::system_clock::time_point requested_at;
  /// Set when outcome is error.
  LedgerError error;
};

// ---------------------------------------------------------------------------------------------
// Temporary uploads

/// What an upload is for: the same bytes, model and scope may reuse its URL.
struct UploadKey {
  std::string content_hash;  ///< SHA-256 of the bytes, lower-case hex (ImageIdentity::content_hash)
  std::uint64_t size = 0;    ///< the bytes' size
  std::string model;         ///< the model the upload policy was issued for
  std::string scope;         ///< account and region the URL is valid for: opaque to the ledger
};

/// An upload the ledger remembers.
struct StoredUpload {
  std::string oss_url;                                ///< the `oss://` URL the service gave
  std::chrono::system_clock::time_point uploaded_at;  ///< when the upload completed
  std::chrono::system_clock::time_point expires_at;   ///< when the service forgets the URL
  std::uint64_t bytes = 0;                            ///< bytes the upload sent
  /// Memberwise equality.
  bool operator==(const StoredUpload&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Reading

/// "YYYY-MM-DD" as a day, or nullopt when it is not a valid date in that form.
std::optional<std::chrono::sys_days> parse_utc_day(std::string_view text);

/// Which rows report() counts.
struct ReportFilter {
  std::optional<std::chrono::sys_days> since;  ///< UTC days from this one on; nullopt: all
  std::optional<std::string> model;            ///< only this model; nullopt: all
};

/// The counts of one model on one UTC day (or, as LedgerReport::total, of all rows).
///
/// A call counts on the day of its request, a reuse on the day it was reused. Money is
/// computed from the price stored with each row, per currency: `cost` sums billed × price;
/// `possibly_billed_cost` sums possibly billed requests × price, the most they may add.
struct LedgerReportRow {
  std::string day;                         ///< "YYYY-MM-DD"; empty in the total
  std::string model;                       ///< the model; empty in the total
  std::uint64_t calls = 0;                 ///< rows: every call claimed and not released
  std::uint64_t billed = 0;                ///< billed requests (usage.image_count)
  /// Requests that may have been billed without an answer: lost calls, calls still pending,
  /// and the possibly billed attempts of completed ones.
  std::uint64_t possibly_billed = 0;
  std::uint64_t reused = 0;                ///< answers reused instead of paid again
  std::uint64_t billed_without_price = 0;  ///< billed requests of rows stored without a price
  std::vector<Money> cost;                 ///< per currency, in currency order
  std::vector<Money> possibly_billed_cost; ///< per currency, in currency order
};

/// report()'s answer: rows ordered by day, then model.
struct LedgerReport {
  std::vector<LedgerReportRow> rows;  ///< one per (day, model) with any call or reuse
  LedgerReportRow total;              ///< the sum of rows
  /// Uploads remembered (record_upload), of the filter's model, uploaded on its days.
  std::uint64_t uploads = 0;
  /// Of `uploads`, those whose URL has not expired (no margin).
  std::uint64_t valid_uploads = 0;
  LedgerError error;                  ///< set when the ledger could not be read
};

/// The report as one JSON object: {"ledger": file, "since": "YYYY-MM-DD" or null, "model": name
/// or null, "rows": [{"day", "model", "calls", "billed", "possibly_billed", "reused",
/// "billed_without_price", "cost": [{"currency", "amount_micros"}], "possibly_billed_cost"}],
/// "total": {the counts}, "uploads": {"remembered", "valid"}} (the `facegate ledger --json`
/// output).
std::string report_to_json(const LedgerReport& report, const ReportFilter& filter,
                           const std::filesystem::path& file);

// ---------------------------------------------------------------------------------------------
// The ledger

/// A ledger file, open. Many processes may use one file at once (SQLite locking); one Ledger
/// must be used by one thread at a time, and not across fork() (open another in the child).
/// Movable, not copyable; a moved-from Ledger may only be destroyed or assigned to.
class Ledger {
 public:
  /// Opens or creates the ledger at `path`: creates missing parent directories (mode 0700)
  /// and a new file (mode 0600: it holds the URLs as sent), checks an existing
  /// file (SQLite header, PRAGMA quick_check, application_id, user_version) on a read-only
  /// connection first, then migrates an older schema, and sets WAL mode and the busy timeout.
  /// A file that is not a ledger, is corrupt or has a newer schema is an error and its bytes
  /// are untouched (a reader of a WAL-mode file, like the sqlite3 shell, may leave an empty
  /// -wal and a -shm beside it).
  static LedgerOpenResult open(const std::filesystem::path& path, LedgerOptions options = {});

  /// Moves the open ledger.
  Ledger(Ledger&& other) noexcept;
  /// Moves the open ledger.
  Ledger& operator=(Ledger&& other) noexcept;
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  /// Closes the database.
  ~Ledger();

  /// Asks before a remote call. Unless `policy.refresh`, the newest completed answer (passed
  /// or failed_check) of the key within max_age is reused and the reuse recorded (completed
  /// answers never change, so this needs no write lock). Otherwise, in one BEGIN IMMEDIATE
  /// transaction, which makes deciding and claiming one step for every process on the file:
  /// a live claim on the key gives in_flight; a claim whose process is gone (then marked lost)
  /// or a call that may have been billed without an answer gives ambiguous, unless
  /// `policy.retry_ambiguous`; else a pending row is inserted with `price` (nullptr: no
  /// published price) and LedgerOptions::owner, committed durably (synchronous=FULL), and
  /// returned claimed. Rows before the newest completed answer never make a key ambiguous:
  /// that answer settled it. A key whose image is not reusable() never reuses.
  BeginCall begin_call(const CallKey& key, const ReusePolicy& policy, const Money* price);

  /// The read-only part of begin_call, asked before the work a call needs (an upload): what
  /// begin_call would answer without claiming. The decision is begin_call's own, read in one
  /// snapshot without the write lock: reuse (the reuse is recorded as begin_call records it,
  /// so report() counts it; that record is the only write) or ambiguous (an earlier call of the
  /// key may have been billed without an answer and `policy.retry_ambiguous` is false; `row`
  /// and `answer` as begin_call gives them; nothing is written). A pending claim whose process
  /// is gone counts as ambiguous too, with the possibly billed answer begin_call would record,
  /// but the row stays pending: the next begin_call marks it lost. Nullopt when nothing stands
  /// in the way of a new call (no answer to reuse, nothing possibly billed, or only a live
  /// claim, which begin_call reports as in_flight): do the work, then call begin_call. A ledger
  /// failure gives outcome error.
  std::optional<BeginCall> reuse_call(const CallKey& key, const ReusePolicy& policy);

  /// Records the result of the claimed call `row`: outcome, billed, possibly billed, HTTP
  /// status, request id and the normalized answer, and `raw` (the answer as it came) when
  /// given. Also accepts a row marked lost (the result is the truth). bad_row when the row is
  /// not pending or lost.
  LedgerError complete_call(std::int64_t row, const DetectResult& result,
                            const RawAnswer* raw = nullptr);

  /// Deletes the claim `row` of a request that was never sent (cancelled, over budget).
  /// bad_row when the row is not pending or lost.
  LedgerError release_claim(std::int64_t row);

  /// The newest upload of `key` (by uploaded_at) whose URL is still valid `margin` from now
  /// (expires_at - margin after LedgerOptions::clock), or nullopt; on nullopt `error` (if
  /// given) says whether the ledger failed (code none: there is no such upload). Reads only.
  std::optional<StoredUpload> find_upload(const UploadKey& key, std::chrono::seconds margin,
                                          LedgerError* error = nullptr);

  /// Remembers an upload of `key`, committed durably (synchronous=FULL) like a claim. Earlier
  /// uploads of the key stay (find_upload takes the newest). bad_row when a size does not fit
  /// SQLite's integers.
  LedgerError record_upload(const UploadKey& key, const StoredUpload& upload);

  /// Calls, billed calls, possibly billed calls, reused answers and cost per model and UTC day.
  LedgerReport report(const ReportFilter& filter = {});

  /// Every call row, oldest first, as one JSON object (no newline) per call of `line`.
  LedgerError export_rows(const std::function<void(std::string_view line)>& line);

  /// Every upload row (record_upload), oldest first, as one JSON object (no newline) per call
  /// of `line`: id, content_hash, size, model, scope, oss_url, uploaded_at, expires_at, bytes.
  LedgerError export_uploads(const std::function<void(std::string_view line)>& line);

  /// The file.
  const std::filesystem::path& path() const noexcept;

 private:
  FACEGATE_HIDDEN explicit Ledger(std::unique_ptr<detail::LedgerState> state);
  std::unique_ptr<detail::LedgerState> state_;
};

/// An open ledger, or why there is none.
struct LedgerOpenResult {
  std::optional<Ledger> ledger;  ///< set on success
  LedgerError error;             ///< set on failure
  /// True when the ledger is open.
  bool ok() const noexcept { return ledger.has_value(); }
};

/// $XDG_STATE_HOME/facegate/ledger.sqlite3 when XDG_STATE_HOME is set to an absolute path
/// (XDG Base Directory Specification), else $HOME/.local/state/facegate/ledger.sqlite3.
std::filesystem::path default_ledger_path();

}  // namespace facegate
FACEGATE_PUBLIC_END
