#include "ledger/sqlite.hpp"

#include <utility>

namespace facegate::detail {
namespace {

LedgerErrorCode code_for(int rc) noexcept {
  switch (rc & 0xFF) {  // the primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return LedgerErrorCode::busy;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return LedgerErrorCode::not_a_ledger;
    default: return LedgerErrorCode::io;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Statement&& other) noexcept
    : statement_(std::exchange(other.statement_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    statement_ = std::exchange(other.statement_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(statement_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind_text_or_null(int index, std::string_view text) {
  return text.empty() ? bind_null(index) : bind(index, text);
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob with a null pointer would bind NULL: "" is a real (empty) body.
  static constexpr char kNothing = '\0';
  sqlite3_bind_blob64(statement_, index, bytes.empty() ? &kNothing : bytes.data(), bytes.size(),
                      SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(statement_, index);
  return *this;
}

int Statement::step() { return sqlite3_step(statement_); }

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

bool Statement::is_null(int column) const { return type(column) == SQLITE_NULL; }

std::int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(statement_, column);
}

std::optional<std::int64_t> Statement::optional_integer(int column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

std::string Statement::text(int column) const {
  const auto* bytes = sqlite3_column_text(statement_, column);
  if (bytes == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(bytes),
                     static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
}

std::string Statement::blob(int column) const {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(statement_, column));
  if (bytes == nullptr) return {};
  return std::string(bytes, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
}

int Statement::type(int column) const { return sqlite3_column_type(statement_, column); }

int Statement::column_count() const { return sqlite3_column_count(statement_); }

std::string_view Statement::column_name(int column) const {
  const char* name = sqlite3_column_name(statement_, column);
  return name == nullptr ? std::string_view{} : std::string_view{name};
}

// ---------------------------------------------------------------------------------------------
// Database

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Database::~Database() { close(); }

void Database::close() noexcept {
  sqlite3_close_v2(db_);  // LedgerState finalizes its statements first
  db_ = nullptr;
}

LedgerError Database::open(const std::filesystem::path& path, int flags) {
  close();
  path_ = path;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) return error(rc, "cannot open");
  sqlite3_extended_result_codes(db_, 1);
  return {};
}

LedgerError Database::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(rc, text);
  return {};
}

LedgerError Database::prepare(std::string_view sql, Statement& statement) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  statement = Statement(raw);
  if (rc != SQLITE_OK) return error(rc, sql);
  return {};
}

LedgerError Database::query_text(std::string_view sql, std::string& value) {
  Statement statement;
  if (LedgerError e = prepare(sql, statement)) return e;
  const int rc = statement.step();
  if (rc == SQLITE_ROW) {
    value = statement.text(0);
  } else if (rc == SQLITE_DONE) {
    value.clear();
  } else {
    return error(rc, sql);
  }
  return {};
}

LedgerError Database::query_integer(std::string_view sql, std::int64_t& value) {
  Statement statement;
  if (LedgerError e = prepare(sql, statement)) return e;
  const int rc = statement.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error(rc, sql);
  value = rc == SQLITE_ROW ? statement.integer(0) : 0;
  return {};
}

LedgerError Database::error(int rc, std::string_view what) const {
  std::string text(what);
  text += ": ";
  text += db_ != nullptr && sqlite3_errcode(db_) == rc ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return error(code_for(rc), text);
}

LedgerError Database::error(LedgerErrorCode code, std::string_view text) const {
  return LedgerError{code, "ledger " + path_.string() + ": " + std::string(text)};
}

int Database::changes() const noexcept { return sqlite3_changes(db_); }

std::int64_t Database::last_insert_rowid() const noexcept {
  return sqlite3_last_insert_rowid(db_);
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::~Transaction() {
  if (open_) static_cast<void>(db_.exec("ROLLBACK"));
}

LedgerError Transaction::begin() { return start("BEGIN IMMEDIATE"); }

LedgerError Transaction::begin_read() { return start("BEGIN DEFERRED"); }

LedgerError Transaction::start(std::string_view sql) {
  if (LedgerError e = db_.exec(sql)) return e;
  open_ = true;
  return {};
}

LedgerError Transaction::commit() {
  LedgerError e = db_.exec("COMMIT");
  if (!e) open_ = false;
  return e;
}

}  // namespace facegate::detail
