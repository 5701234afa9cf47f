// Temporary uploads: the URLs the service gave for local files, kept until they expire so that
// a later run sends no file twice while its URL is valid.
#include <limits>

#include "ledger/internal.hpp"

namespace facegate {
namespace {

using Clock = std::chrono::system_clock;
using detail::ResetOnExit;
using detail::Statement;

// Stamps are fixed-width UTC text, so `expires_at > ?5` compares times.
constexpr std::string_view kFindUpload =
    "SELECT oss_url, uploaded_at, expires_at, bytes FROM uploads "
    "WHERE content_hash = ?1 AND size = ?2 AND model = ?3 AND scope = ?4 AND expires_at > ?5 "
    "ORDER BY uploaded_at DESC, id DESC LIMIT 1";

enum UploadColumn { kOssUrl, kUploadedAt, kExpiresAt, kBytes };

constexpr std::string_view kInsertUpload =
    "INSERT INTO uploads (content_hash, size, model, scope, oss_url, uploaded_at, expires_at, "
    "bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

bool fits_sqlite(std::uint64_t value) {
  return value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
}

void bind_upload_key(Statement& statement, const UploadKey& key) {
  statement.bind(1, key.content_hash)
      .bind(2, static_cast<std::int64_t>(key.size))
      .bind(3, key.model)
      .bind(4, key.scope);
}

// The upload in the current row of kFindUpload, or nullopt when it holds values facegate never
// writes.
std::optional<StoredUpload> read_upload(const Statement& row) {
  const auto uploaded_at = detail::parse_utc_time(row.text(kUploadedAt));
  const auto expires_at = detail::parse_utc_time(row.text(kExpiresAt));
  const std::int64_t bytes = row.integer(kBytes);
  if (!uploaded_at || !expires_at || bytes < 0) return std::nullopt;
  return StoredUpload{row.text(kOssUrl), *uploaded_at, *expires_at,
                      static_cast<std::uint64_t>(bytes)};
}

// The newest upload of `key` that expires after `valid_until`.
LedgerError find_valid_upload(detail::LedgerState& d, const UploadKey& key,
                              Clock::time_point valid_until, std::optional<StoredUpload>& found) {
  if (!fits_sqlite(key.size)) return {};  // never recorded
  Statement& query = d.find_upload;
  const ResetOnExit reset(query);
  bind_upload_key(query, key);
  query.bind(5, detail::format_utc_time(valid_until));
  const int rc = query.step();
  if (rc == SQLITE_DONE) return {};
  if (rc != SQLITE_ROW) return d.db.error(rc, "reading uploads");
  found = read_upload(query);
  if (!found) {
    return d.db.error(LedgerErrorCode::bad_row, "an upload row holds values facegate never writes");
  }
  return {};
}

}  // namespace

namespace detail {

LedgerError prepare_upload_statements(LedgerState& d) {
  if (LedgerError e = d.db.prepare(kFindUpload, d.find_upload)) return e;
  return d.db.prepare(kInsertUpload, d.insert_upload);
}

}  // namespace detail

std::optional<StoredUpload> Ledger::find_upload(const UploadKey& key, std::chrono::seconds margin,
                                                LedgerError* error) {
  std::optional<StoredUpload> found;
  LedgerError failure = find_valid_upload(*state_, key, state_->now() + margin, found);
  if (error != nullptr) *error = std::move(failure);
  return found;
}

LedgerError Ledger::record_upload(const UploadKey& key, const StoredUpload& upload) {
  detail::LedgerState& d = *state_;
  if (!fits_sqlite(key.size) || !fits_sqlite(upload.bytes)) {
    return d.db.error(LedgerErrorCode::bad_row, "an upload larger than 2^63 - 1 bytes");
  }
  Statement& insert = d.insert_upload;
  const ResetOnExit reset(insert);
  bind_upload_key(insert, key);
  insert.bind(5, upload.oss_url)
      .bind(6, detail::format_utc_time(upload.uploaded_at))
      .bind(7, detail::format_utc_time(upload.expires_at))
      .bind(8, static_cast<std::int64_t>(upload.bytes));
  const int rc = insert.step();
  if (rc != SQLITE_DONE) return d.db.error(rc, "recording an upload");
  return {};
}

}  // namespace facegate
