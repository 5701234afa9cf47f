// A thin RAII layer over the SQLite C API for the ledger: a connection, prepared statements
// and BEGIN IMMEDIATE transactions, with SQLite's result codes turned into LedgerErrors.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "facegate/ledger.hpp"

namespace facegate::detail {

/// A prepared statement. Bind with 1-based indexes, step, read 0-based columns; reset()
/// before the next use. Move-only.
class Statement {
 public:
  /// No statement.
  Statement() = default;
  /// Takes ownership of `statement`.
  explicit Statement(sqlite3_stmt* statement) noexcept : statement_(statement) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  /// Binds text (copied by SQLite).
  Statement& bind(int index, std::string_view text);
  /// Binds text, or NULL when `text` is empty.
  Statement& bind_text_or_null(int index, std::string_view text);
  /// Binds bytes as a BLOB (copied by SQLite), also when empty.
  Statement& bind_blob(int index, std::string_view bytes);
  /// Binds an integer.
  Statement& bind(int index, std::int64_t value);
  /// Binds an integer, or NULL when absent.
  Statement& bind(int index, std::optional<std::int64_t> value);
  /// Binds NULL.
  Statement& bind_null(int index);
  /// sqlite3_step: SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  /// Resets the statement and clears its bindings.
  void reset();

  /// True when column `column` of the current row is NULL.
  bool is_null(int column) const;
  /// The column as an integer (0 for NULL).
  std::int64_t integer(int column) const;
  /// The column as an integer, nullopt for NULL.
  std::optional<std::int64_t> optional_integer(int column) const;
  /// The column as text ("" for NULL).
  std::string text(int column) const;
  /// The column's bytes as stored ("" for NULL).
  std::string blob(int column) const;
  /// The column's type: SQLITE_INTEGER, SQLITE_TEXT, SQLITE_NULL, ...
  int type(int column) const;
  /// Number of columns of the result.
  int column_count() const;
  /// Name of column `column`.
  std::string_view column_name(int column) const;

 private:
  sqlite3_stmt* statement_ = nullptr;
};

/// Resets a statement (and clears its bindings) when the scope ends, on every path out.
class ResetOnExit {
 public:
  /// Resets `statement` on destruction.
  explicit ResetOnExit(Statement& statement) noexcept : statement_(statement) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() { statement_.reset(); }

 private:
  Statement& statement_;
};

/// A connection to one database file. Move-only; closes on destruction.
class Database {
 public:
  /// Not connected.
  Database() = default;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  /// Opens `path` with sqlite3_open_v2 `flags` (SQLITE_OPEN_*).
  LedgerError open(const std::filesystem::path& path, int flags);
  /// Runs SQL text that returns no rows needed (one or more statements).
  LedgerError exec(std::string_view sql);
  /// Prepares one statement for repeated use; `statement` is left empty on error.
  LedgerError prepare(std::string_view sql, Statement& statement);
  /// The first column of the first row of `sql` as text ("" when there is no row).
  LedgerError query_text(std::string_view sql, std::string& value);
  /// The first column of the first row of `sql` as an integer (0 when there is no row).
  LedgerError query_integer(std::string_view sql, std::int64_t& value);
  /// The LedgerError for SQLite result code `rc` while doing `what`, naming the file.
  LedgerError error(int rc, std::string_view what) const;
  /// An error of `code` with "ledger PATH: " in front of `text`.
  LedgerError error(LedgerErrorCode code, std::string_view text) const;
  /// Rows changed by the last statement.
  int changes() const noexcept;
  /// Rowid of the last INSERT.
  std::int64_t last_insert_rowid() const noexcept;
  /// The raw handle (sqlite3_busy_timeout, ...).
  sqlite3* handle() const noexcept { return db_; }
  /// The file.
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  void close() noexcept;
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

/// BEGIN IMMEDIATE (the write lock at once, so that reading and claiming are one step for all
/// processes), or a read snapshot; rolled back on destruction unless committed.
class Transaction {
 public:
  /// A transaction on `db`, not begun yet.
  explicit Transaction(Database& db) noexcept : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  /// BEGIN IMMEDIATE, waiting up to the busy timeout.
  LedgerError begin();
  /// BEGIN DEFERRED: the statements until the end read one snapshot, without the write lock
  /// (in WAL mode no writer waits for it).
  LedgerError begin_read();
  /// COMMIT.
  LedgerError commit();

 private:
  LedgerError start(std::string_view sql);
  Database& db_;
  bool open_ = false;
};

}  // namespace facegate::detail
