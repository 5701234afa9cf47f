// The ledger's cost per remote call (begin_call + complete_call) and per reused answer
// (begin_call that finds one), on a fresh file, beside bare SQLite doing the same durable
// transactions with no logic around them.
//
//   ledger_bench [DIR] [KEYS]      (DIR: where the temporary ledgers go, default /tmp;
//                                   KEYS: distinct images, default 10000)
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "facegate/ledger.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Figure {
  std::string what;
  double seconds = 0;
  std::size_t operations = 0;
};

std::vector<Figure> figures;

template <typename Work>
void measure(const std::string& what, std::size_t operations, Work&& work) {
  const auto start = Clock::now();
  work();
  figures.push_back({what, std::chrono::duration<double>(Clock::now() - start).count(), operations});
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "ledger_bench: %s\n", why.c_str());
  std::exit(1);
}

facegate::CallKey key_of(std::size_t i) {
  facegate::CallKey key;
  key.model = "wan2.2-s2v-detect";
  key.image.source = "https://images.example/photos/" + std::to_string(i) + ".jpg";
  key.image.etag = std::to_string(i * 7919) + "-5f3a";
  key.image.last_modified = "Mon, 23 Nov 2026 10:00:00 GMT";
  key.image.content_length = 100000 + i;
  return key;
}

facegate::DetectResult passed_answer(std::size_t i) {
  facegate::DetectResult r;
  r.outcome = facegate::DetectOutcome::passed;
  r.passed = true;
  r.billed = 1;
  r.humanoid = true;
  r.request_id = "req-" + std::to_string(i);
  r.http_status = 200;
  r.attempts = 1;
  return r;
}

void ledger_figures(const fs::path& dir, std::size_t keys) {
  const fs::path file = dir / "ledger.sqlite3";
  std::optional<facegate::Ledger> ledger;
  measure("ledger: open (create)", 1, [&] {
    auto opened = facegate::Ledger::open(file);
    if (!opened.ok()) die(opened.error.message);
    ledger = std::move(opened.ledger);
  });
  std::vector<facegate::CallKey> all;
  for (std::size_t i = 0; i < keys; ++i) all.push_back(key_of(i));
  const facegate::Money price{"USD", 574};
  measure("ledger: begin_call (claimed) + complete_call", keys, [&] {
    for (std::size_t i = 0; i < keys; ++i) {
      const auto call = ledger->begin_call(all[i], {}, &price);
      if (call.outcome != facegate::BeginOutcome::claimed) die("not claimed: " + call.error.message);
      if (auto e = ledger->complete_call(call.row, passed_answer(i))) die(e.message);
    }
  });
  measure("ledger: begin_call (reuse)", keys, [&] {
    for (std::size_t i = 0; i < keys; ++i) {
      const auto call = ledger->begin_call(all[i], {}, &price);
      if (call.outcome != facegate::BeginOutcome::reuse) die("not reused: " + call.error.message);
    }
  });
  measure("ledger: report()", 1, [&] {
    if (ledger->report({}).error) die("report failed");
  });
  std::size_t lines = 0;
  measure("ledger: export_rows(), per row", keys, [&] {
    if (ledger->export_rows([&](std::string_view) { ++lines; })) die("export failed");
  });
  ledger.reset();
  measure("ledger: open (" + std::to_string(keys) + " rows, quick_check)", 1, [&] {
    if (!facegate::Ledger::open(file).ok()) die("reopen failed");
  });
}

// Bare SQLite on the same pragmas: per call one durable INSERT transaction and one durable
// UPDATE; per reuse one transaction that reads the row and inserts a reuse.
void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) die(message);
}

void bare_figures(const fs::path& dir, std::size_t keys, const char* synchronous) {
  sqlite3* db = nullptr;
  const fs::path file = dir / (std::string("bare-") + synchronous + ".sqlite3");
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) die("bare open");
  exec(db, "PRAGMA journal_mode = WAL");
  exec(db, (std::string("PRAGMA synchronous = ") + synchronous).c_str());
  exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, state TEXT, answer TEXT);"
           "CREATE INDEX t_k ON t (k); CREATE TABLE r (call_id INTEGER, at TEXT)");
  sqlite3_stmt *insert = nullptr, *update = nullptr, *select = nullptr, *reuse = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t (k, state) VALUES (?1, 'pending')", -1, &insert, nullptr);
  sqlite3_prepare_v2(db, "UPDATE t SET state = 'completed', answer = ?2 WHERE id = ?1", -1,
                     &update, nullptr);
  sqlite3_prepare_v2(db, "SELECT id, answer FROM t WHERE k = ?1 ORDER BY id DESC LIMIT 1", -1,
                     &select, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO r VALUES (?1, '2026-11-23T10:00:00.000Z')", -1, &reuse,
                     nullptr);
  std::vector<std::string> all;
  for (std::size_t i = 0; i < keys; ++i) all.push_back(key_of(i).image.canonical_key());
  const std::string label = std::string("bare SQLite (synchronous=") + synchronous + "): ";
  measure(label + "insert txn + update", keys, [&] {
    for (std::size_t i = 0; i < keys; ++i) {
      exec(db, "BEGIN IMMEDIATE");
      sqlite3_bind_text(insert, 1, all[i].c_str(), -1, SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) die("bare insert");
      sqlite3_reset(insert);
      exec(db, "COMMIT");
      sqlite3_bind_int64(update, 1, sqlite3_last_insert_rowid(db));
      sqlite3_bind_text(update, 2, "passed", -1, SQLITE_STATIC);
      if (sqlite3_step(update) != SQLITE_DONE) die("bare update");
      sqlite3_reset(update);
    }
  });
  measure(label + "select + insert txn", keys, [&] {
    for (std::size_t i = 0; i < keys; ++i) {
      exec(db, "BEGIN IMMEDIATE");
      sqlite3_bind_text(select, 1, all[i].c_str(), -1, SQLITE_STATIC);
      if (sqlite3_step(select) != SQLITE_ROW) die("bare select");
      sqlite3_bind_int64(reuse, 1, sqlite3_column_int64(select, 0));
      sqlite3_reset(select);
      if (sqlite3_step(reuse) != SQLITE_DONE) die("bare reuse");
      sqlite3_reset(reuse);
      exec(db, "COMMIT");
    }
  });
  for (auto* s : {insert, update, select, reuse}) sqlite3_finalize(s);
  sqlite3_close(db);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path base = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path();
  const std::size_t keys = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 10000;
  std::string pattern = (base / "ledger-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp in " + base.string());
  const fs::path dir = pattern;
  ledger_figures(dir, keys);
  bare_figures(dir, keys, "FULL");
  bare_figures(dir, keys, "NORMAL");
  fs::remove_all(dir);

  std::printf("ledger_bench: %zu keys, files in %s (SQLite %s)\n", keys, base.c_str(),
              sqlite3_libversion());
  std::printf("%-62s %10s %12s\n", "what", "total ms", "us per op");
  for (const Figure& f : figures) {
    std::printf("%-62s %10.1f %12.1f\n", f.what.c_str(), f.seconds * 1e3,
                f.seconds * 1e6 / static_cast<double>(f.operations));
  }
  return 0;
}
