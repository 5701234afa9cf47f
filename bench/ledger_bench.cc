// The ledger's cost per remote call (begin_call + complete_call) and per reused answer
// (begin_call that finds one), on a fresh file, beside bare SQLite doing the same durable
// transactions with no logic around them; then, in the same run, the remote call itself: a
// Checker over URLs (nginx on 127.0.0.1) calling tests/servers/fake_dashscope.py (127.0.0.1,
// a free port), offline, online with --no-ledger, online with a fresh ledger and online again
// on that ledger (every answer reused). Both servers are started and stopped here.
//
//   ledger_bench [DIR] [KEYS] [IMAGES] [ROUNDS]
//     DIR: where the temporary ledgers go, default /tmp; KEYS: distinct keys of the ledger
//     figures, default 10000; IMAGES: images per Checker pass, default 20; ROUNDS: times the
//     four Checker passes are run, alternately, default 3.
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "facegate/check.hpp"
#include "facegate/ledger.hpp"
#include "servers/fake_dashscope.hpp"
#include "servers/test_servers.hpp"

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

// ---------------------------------------------------------------------------------------------
// The call itself: a Checker against the fake service

constexpr std::string_view kModel = "wan2.2-s2v-detect";
const std::string kKey = "sk-facegate-bench-51d0";
// Inputs go one at a time, each at least this long after the one before: the fake admits 5
// calls of the model in a second (the client spaces 5 per 1.1 s), so no call waits for a rate
// slot and each latency is the call's own.
constexpr auto kSpacing = std::chrono::milliseconds(250);

// The record of the one input in flight, handed from the Checker's thread to the bench's.
class NextRecord {
 public:
  facegate::RecordCallback callback() {
    return [this](facegate::CheckRecord record) {
      {
        std::lock_guard lock(mutex_);
        record_ = std::move(record);
      }
      ready_.notify_one();
    };
  }
  facegate::CheckRecord wait() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return record_.has_value(); });
    facegate::CheckRecord record = std::move(*record_);
    record_.reset();
    return record;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::optional<facegate::CheckRecord> record_;
};

// What each record of a pass must show, so that a figure never times the wrong work.
enum class Expect { no_call, paid, reused };

struct Pass {
  std::string what;
  facegate::RemoteMode mode = facegate::RemoteMode::offline;
  std::optional<fs::path> ledger;
  Expect expect = Expect::no_call;
  std::vector<double> latencies_ms;
};

void check_record(const facegate::CheckRecord& record, Expect expect) {
  if (!record.verdict || record.verdict->decision != facegate::Decision::pass) {
    die(record.source + " did not pass the rules: " + facegate::to_json(record));
  }
  const auto& remote = record.remote;
  const bool ok = expect == Expect::no_call
                      ? !remote
                      : remote && remote->outcome == facegate::DetectOutcome::passed &&
                            remote->cached == (expect == Expect::reused);
  if (!ok) die(record.source + ": not the expected answer: " + facegate::to_json(record));
}

// The pass over `urls`, one input at a time: each input's wall time from submit to record.
void run_pass(Pass& pass, const facegate::test::FakeDashScope& fake,
              const std::vector<std::string>& urls) {
  facegate::CheckerOptions options;
  options.model = std::string(kModel);
  options.fetch.allow_private_network = true;  // nginx on 127.0.0.1
  options.local_threads = 1;
  options.remote = pass.mode;
  if (pass.mode == facegate::RemoteMode::online) {
    options.key = facegate::ApiKey(kKey);
    options.detect.base_url = fake.base_url();
    options.ledger = pass.ledger;
  }
  NextRecord next;
  facegate::CheckerResult created = facegate::Checker::create(std::move(options), next.callback());
  if (!created.ok()) die("Checker::create: " + created.error);
  auto not_before = Clock::now();
  for (const std::string& url : urls) {
    std::this_thread::sleep_until(not_before);
    const auto start = Clock::now();
    not_before = start + kSpacing;
    created.checker->submit(facegate::CheckInput::from_text(url));
    const facegate::CheckRecord record = next.wait();
    pass.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    check_record(record, pass.expect);
  }
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double mean(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// Copies of a portrait that passes the model's rules, served by nginx under `count` names.
std::vector<std::string> serve_images(const fs::path& dir, std::size_t count,
                                      std::optional<facegate::test::NginxServer>& nginx) {
  const fs::path portrait = facegate::test::source_root() / "examples" / "portrait-640x800.jpg";
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i) {
    names.push_back("face-" + std::to_string(i) + ".jpg");
    fs::copy_file(portrait, dir / names.back());
  }
  nginx.emplace(dir);
  std::vector<std::string> urls;
  for (const std::string& name : names) urls.push_back(nginx->url(name));
  return urls;
}

void print_remote_figures(const std::vector<Pass>& passes, std::size_t images, std::size_t rounds,
                          std::size_t calls_seen) {
  std::printf("\nThe call itself, against fake_dashscope.py: a Checker, one input at a time "
              "(%zu images x %zu rounds per line; the fake answered %zu calls)\n",
              images, rounds, calls_seen);
  std::printf("%-62s %10s %12s\n", "what", "median ms", "mean ms");
  for (const Pass& p : passes) {
    std::printf("%-62s %10.2f %12.2f\n", p.what.c_str(), median(p.latencies_ms), mean(p.latencies_ms));
  }
  const double offline = median(passes[0].latencies_ms), bare = median(passes[1].latencies_ms);
  const double ledgered = median(passes[2].latencies_ms), reused = median(passes[3].latencies_ms);
  std::printf("%-62s %10.2f\n", "=> the call itself (--no-ledger - offline)", bare - offline);
  std::printf("%-62s %10.2f\n", "=> the ledger's part of a call (ledger - --no-ledger)", ledgered - bare);
  std::printf("%-62s %10.2f\n", "=> a reused answer beside the call (ledger again - offline)",
              reused - offline);
}

void remote_figures(const fs::path& dir, std::size_t images, std::size_t rounds) {
  const fs::path served = dir / "images";
  fs::create_directories(served);
  std::optional<facegate::test::NginxServer> nginx;
  const std::vector<std::string> urls = serve_images(served, images, nginx);
  const facegate::test::FakeDashScope fake(kKey);
  using facegate::RemoteMode;
  std::vector<Pass> passes{
      {"Checker offline: header fetch + rules, no call", RemoteMode::offline, {}, Expect::no_call, {}},
      {"Checker online --no-ledger: fetch + rules + call", RemoteMode::online, {}, Expect::paid, {}},
      {"Checker online, new ledger: + lookup, claim, call, completion", RemoteMode::online, {},
       Expect::paid, {}},
      {"Checker online, same ledger again: fetch + rules + reuse", RemoteMode::online, {},
       Expect::reused, {}},
  };
  for (std::size_t round = 0; round < rounds; ++round) {
    const fs::path ledger = dir / ("checker-" + std::to_string(round) + ".sqlite3");
    passes[2].ledger = passes[3].ledger = ledger;
    for (Pass& pass : passes) run_pass(pass, fake, urls);
  }
  const std::size_t seen = fake.requests().size();
  if (seen != 2 * images * rounds) die("the fake saw " + std::to_string(seen) + " calls");
  print_remote_figures(passes, images, rounds, seen);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path base = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path();
  const std::size_t keys = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 10000;
  const std::size_t images = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 20;
  const std::size_t rounds = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 3;
  if (keys == 0 || images == 0 || rounds == 0) die("KEYS, IMAGES and ROUNDS must be above 0");
  ::setenv("FACEGATE_SOURCE_ROOT", FACEGATE_SOURCE_ROOT, /*overwrite=*/0);  // the servers' files
  std::string pattern = (base / "ledger-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp in " + base.string());
  const fs::path dir = pattern;
  ledger_figures(dir, keys);
  bare_figures(dir, keys, "FULL");
  bare_figures(dir, keys, "NORMAL");

  std::printf("ledger_bench: %zu keys, files in %s (SQLite %s)\n", keys, base.c_str(),
              sqlite3_libversion());
  std::printf("%-62s %10s %12s\n", "what", "total ms", "us per op");
  for (const Figure& f : figures) {
    std::printf("%-62s %10.1f %12.1f\n", f.what.c_str(), f.seconds * 1e3,
                f.seconds * 1e6 / static_cast<double>(f.operations));
  }
  std::fflush(stdout);
  try {
    remote_figures(dir, images, rounds);
  } catch (const std::exception& e) {  // the test servers' helpers throw
    fs::remove_all(dir);
    die(e.what());
  }
  fs::remove_all(dir);
  return 0;
}
