// Opening a ledger file: check it without writing, then create or migrate the schema.
//
// An existing file is first read on a read-only connection: the SQLite header, PRAGMA
// quick_check, PRAGMA application_id and PRAGMA user_version. Only a file that passes (a
// ledger of this or an older schema, or an empty database) is opened for writing, so a corrupt
// file, another program's database or a newer facegate's ledger is never changed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>
#include <thread>
#include <vector>

#include "ledger/internal.hpp"

namespace facegate::detail {
namespace {

namespace fs = std::filesystem;

// kMigrations[v] turns schema version v into v + 1 (version 0: an empty database). Never edit
// a step once released: add one, and raise kLedgerSchemaVersion.
constexpr std::array<std::string_view, kLedgerSchemaVersion> kMigrations = {
    R"sql(
CREATE TABLE calls (
  id INTEGER PRIMARY KEY,
  model TEXT NOT NULL,
  parameters TEXT NOT NULL,
  image_key TEXT NOT NULL,
  source TEXT NOT NULL,
  etag TEXT,
  last_modified TEXT,
  content_length INTEGER,
  mtime_ns INTEGER,
  content_hash TEXT,
  state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'lost')),
  requested_at TEXT NOT NULL,
  completed_at TEXT,
  owner_host TEXT NOT NULL,
  owner_pid INTEGER NOT NULL,
  owner_start_ticks INTEGER NOT NULL,
  owner_boot_id TEXT NOT NULL,
  price_currency TEXT,
  price_micros INTEGER,
  outcome TEXT,
  passed INTEGER,
  billed INTEGER NOT NULL DEFAULT 0,
  possibly_billed INTEGER NOT NULL DEFAULT 0,
  http_status INTEGER,
  request_id TEXT,
  code TEXT,
  message TEXT,
  face_bbox TEXT,
  ext_bbox TEXT,
  humanoid INTEGER,
  bodystyle TEXT,
  attempts INTEGER,
  earlier_possibly_billed INTEGER,
  detail TEXT
);
CREATE INDEX calls_by_key ON calls (image_key, model, parameters);
CREATE TABLE reuses (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES calls (id),
  reused_at TEXT NOT NULL
);
CREATE INDEX reuses_by_call ON reuses (call_id);
)sql",
    // Version 2: the service's answer as it came, for a gateway that returns it again. Rows of
    // version 1 keep NULL here: their normalized answer is all that was kept.
    R"sql(
ALTER TABLE calls ADD COLUMN raw_status INTEGER;
ALTER TABLE calls ADD COLUMN raw_content_type TEXT;
ALTER TABLE calls ADD COLUMN raw_body BLOB;
)sql",
    // Version 3: temporary uploads of local files, whose URLs a later run may use again while
    // they are valid.
    R"sql(
CREATE TABLE IF NOT EXISTS uploads (
  id INTEGER PRIMARY KEY,
  content_hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  model TEXT NOT NULL,
  scope TEXT NOT NULL,
  oss_url TEXT NOT NULL,
  uploaded_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (content_hash, size, model, scope);
)sql",
};

constexpr std::string_view kSqliteHeader{"SQLite format 3\0", 16};

LedgerError plain_error(const fs::path& path, LedgerErrorCode code, std::string_view text) {
  return LedgerError{code, "ledger " + path.string() + ": " + std::string(text)};
}

// What a file that exists holds, read without writing to it.
struct Contents {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::int64_t objects = 0;  // tables, indexes, views, triggers
};

LedgerError check_header(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return plain_error(path, LedgerErrorCode::io, "cannot be read");
  std::string header(kSqliteHeader.size(), '\0');
  file.read(header.data(), static_cast<std::streamsize>(header.size()));
  if (header != kSqliteHeader) {
    return plain_error(path, LedgerErrorCode::not_a_ledger,
                       "not a SQLite database (no \"SQLite format 3\" header); left untouched");
  }
  return {};
}

LedgerError quick_check(Database& db) {
  Statement check;
  if (LedgerError e = db.prepare("PRAGMA quick_check(5)", check)) return e;
  std::string problems;
  for (int rc = check.step(); rc != SQLITE_DONE; rc = check.step()) {
    if (rc != SQLITE_ROW) return db.error(rc, "PRAGMA quick_check (left untouched)");
    const std::string line = check.text(0);
    if (line == "ok") continue;
    problems += problems.empty() ? line : "; " + line;
  }
  if (problems.empty()) return {};
  return db.error(LedgerErrorCode::not_a_ledger,
                  "corrupt (PRAGMA quick_check: " + problems + "); left untouched");
}

LedgerError read_contents(Database& db, Contents& contents) {
  if (LedgerError e = db.query_integer("PRAGMA application_id", contents.application_id)) return e;
  if (LedgerError e = db.query_integer("PRAGMA user_version", contents.user_version)) return e;
  return db.query_integer("SELECT count(*) FROM sqlite_schema", contents.objects);
}

LedgerError judge_contents(const Database& db, const Contents& contents) {
  const bool empty = contents.objects == 0 && contents.user_version == 0;
  if (contents.application_id != kLedgerApplicationId && !empty) {
    return db.error(LedgerErrorCode::not_a_ledger,
                    "a SQLite database of another program (application_id " +
                        std::to_string(contents.application_id) + "), not a facegate ledger; "
                        "left untouched");
  }
  if (contents.user_version > kLedgerSchemaVersion) {
    return db.error(LedgerErrorCode::newer_schema,
                    "schema version " + std::to_string(contents.user_version) +
                        " is newer than this facegate's (" +
                        std::to_string(kLedgerSchemaVersion) + "): use a newer facegate; "
                        "left untouched");
  }
  if (contents.user_version < 0) {
    return db.error(LedgerErrorCode::not_a_ledger,
                    "negative schema version " + std::to_string(contents.user_version));
  }
  return {};
}

// Reads an existing, non-empty file on a read-only connection: nothing is written to it.
LedgerError check_existing(const fs::path& path, const LedgerOptions& options) {
  if (LedgerError e = check_header(path)) return e;
  Database db;
  if (LedgerError e = db.open(path, SQLITE_OPEN_READONLY)) return e;
  sqlite3_busy_timeout(db.handle(), static_cast<int>(options.busy_timeout.count()));
  if (LedgerError e = quick_check(db)) return e;
  Contents contents;
  if (LedgerError e = read_contents(db, contents)) return e;
  return judge_contents(db, contents);
}

// Creates the missing parent directories of `path` with mode 0700 (XDG Base Directory
// Specification: state is private to its user).
LedgerError create_private_directories(const fs::path& path) {
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path dir = path.parent_path(); !dir.empty() && !fs::exists(dir, ec);
       dir = dir.parent_path()) {
    missing.push_back(dir);
    if (dir == dir.parent_path()) break;
  }
  for (auto dir = missing.rbegin(); dir != missing.rend(); ++dir) {
    if (::mkdir(dir->c_str(), 0700) != 0 && errno != EEXIST) {
      return plain_error(path, LedgerErrorCode::io,
                         "cannot create " + dir->string() + ": " + std::strerror(errno));
    }
  }
  return {};
}

// Where the file stands before opening it for writing.
LedgerError prepare_path(const fs::path& path, const LedgerOptions& options, bool& exists) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  exists = fs::exists(status);
  if (exists) {
    if (!fs::is_regular_file(status)) {
      return plain_error(path, LedgerErrorCode::io, "not a regular file");
    }
    const auto size = fs::file_size(path, ec);
    if (ec) return plain_error(path, LedgerErrorCode::io, ec.message());
    return size == 0 ? LedgerError{} : check_existing(path, options);
  }
  if (!options.create_if_missing) {
    return plain_error(path, LedgerErrorCode::missing, "no ledger here (no call recorded yet)");
  }
  if (LedgerError e = create_private_directories(path)) return e;
  // The file holds URLs as sent (signed ones included): readable by its owner only. SQLite
  // gives its -wal and -shm the same mode. An empty file is an empty database.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) return plain_error(path, LedgerErrorCode::io, std::strerror(errno));
  if (fd >= 0) ::close(fd);
  return {};
}

LedgerError configure(Database& db, const LedgerOptions& options) {
  sqlite3_busy_timeout(db.handle(), static_cast<int>(options.busy_timeout.count()));
  std::string mode;
  // Two processes opening a new ledger at once: the switch to WAL needs the file to itself and
  // may fail with SQLITE_BUSY without waiting in the busy handler, so it is retried here within
  // the busy timeout (seen in the test of two processes racing on one new ledger).
  const auto until = std::chrono::steady_clock::now() + options.busy_timeout;
  for (;;) {
    LedgerError e = db.query_text("PRAGMA journal_mode = WAL", mode);
    if (!e) break;
    const bool busy = (sqlite3_errcode(db.handle()) & 0xff) == SQLITE_BUSY;
    if (!busy || std::chrono::steady_clock::now() >= until) return e;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (mode != "wal") {
    return db.error(LedgerErrorCode::io, "cannot use WAL mode (journal_mode is " + mode + ")");
  }
  // FULL: a claim must survive a power loss too, or the next run would send its request again.
  return db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
}

// Applies the missing steps in one transaction; another process may have done it first.
LedgerError migrate(Database& db) {
  Transaction transaction(db);
  if (LedgerError e = transaction.begin()) return e;
  Contents contents;
  if (LedgerError e = read_contents(db, contents)) return e;
  if (LedgerError e = judge_contents(db, contents)) return e;
  if (contents.user_version == kLedgerSchemaVersion) return {};
  for (auto version = contents.user_version; version < kLedgerSchemaVersion; ++version) {
    if (LedgerError e = db.exec(kMigrations[static_cast<std::size_t>(version)])) return e;
  }
  if (LedgerError e = db.exec("PRAGMA application_id = " + std::to_string(kLedgerApplicationId) +
                              "; PRAGMA user_version = " +
                              std::to_string(kLedgerSchemaVersion))) {
    return e;
  }
  return transaction.commit();
}

}  // namespace

LedgerError open_ledger_database(const fs::path& path, const LedgerOptions& options,
                                 Database& db) {
  bool exists = false;
  if (LedgerError e = prepare_path(path, options, exists)) return e;
  const int flags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
  if (LedgerError e = db.open(path, flags)) return e;
  if (LedgerError e = configure(db, options)) return e;
  return migrate(db);
}

}  // namespace facegate::detail
