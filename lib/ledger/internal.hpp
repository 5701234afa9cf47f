// The ledger's internals shared by its source files: the open connection with its prepared
// statements, the schema, time stamps and the liveness of claim owners.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "facegate/ledger.hpp"
#include "ledger/sqlite.hpp"

namespace facegate::detail {

// ---------------------------------------------------------------------------------------------
// Schema (schema.cc)

/// PRAGMA application_id of a facegate ledger: "fglg" in ASCII.
inline constexpr std::int64_t kLedgerApplicationId = 0x66676C67;

/// Checks an existing file, opens it read-write (or creates it), sets WAL mode, the busy
/// timeout and synchronous=FULL, and creates or migrates the schema.
LedgerError open_ledger_database(const std::filesystem::path& path, const LedgerOptions& options,
                                 Database& db);

// ---------------------------------------------------------------------------------------------
// Time stamps (ledger.cc): UTC, millisecond precision, fixed width, so that text order is
// time order and SQLite's date functions read them: "2026-11-23T10:00:00.123Z".

/// `time` as a stamp.
std::string format_utc_time(std::chrono::system_clock::time_point time);
/// A stamp back as a time, or nullopt when `text` is not one.
std::optional<std::chrono::system_clock::time_point> parse_utc_time(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Owners (owner.cc)

/// True while the process that claimed a row at `claimed_at` may still complete it. On this
/// host and boot: its pid runs, with the same start time, and is not a zombie. On another host
/// (its processes cannot be seen): until `foreign_timeout` after the claim.
bool owner_alive(const ClaimOwner& owner, const ClaimOwner& here,
                 std::chrono::system_clock::time_point claimed_at,
                 std::chrono::system_clock::time_point now,
                 std::chrono::seconds foreign_timeout);

// ---------------------------------------------------------------------------------------------
// Answers (ledger.cc)

/// The columns of a call that hold its DetectResult, in the order read_answer() reads them.
inline constexpr std::string_view kAnswerColumns =
    "outcome, passed, billed, http_status, request_id, code, message, face_bbox, ext_bbox, "
    "humanoid, bodystyle, attempts, earlier_possibly_billed, detail";

/// The DetectResult in kAnswerColumns, starting at column `first`; nullopt when a column
/// holds something the ledger never writes (the file was edited).
std::optional<DetectResult> read_answer(const Statement& row, int first);

// ---------------------------------------------------------------------------------------------
// Uploads (uploads.cc)

struct LedgerState;

/// Prepares the statements of find_upload and record_upload.
LedgerError prepare_upload_statements(LedgerState& d);

/// The open ledger: its connection, options and prepared statements (finalized before the
/// connection closes: members are destroyed in reverse order).
struct LedgerState {
  Database db;
  LedgerOptions options;
  ClaimOwner owner;  // written on claims
  ClaimOwner here;   // this process, for judging other owners
  Statement newest_answer, unsettled, insert_reuse, mark_lost, insert_claim, complete,
      release, find_upload, insert_upload;

  std::chrono::system_clock::time_point now() const {
    return options.clock ? options.clock() : std::chrono::system_clock::now();
  }
};

}  // namespace facegate::detail
