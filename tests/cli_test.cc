// The facegate tool end to end: records, exit codes, inputs, summaries, hostile file names.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <csignal>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_run.hpp"
#include "servers/test_servers.hpp"

namespace fs = std::filesystem;
using facegate::test::TempDir;

namespace {

using namespace facegate::test::cli;
using facegate::test::source_root;

}  // namespace

TEST_CASE("probe --json: one valid JSON record per input, in input order") {
  TempDir dir("facegate-cli-");
  const fs::path list = dir.path() / "list.txt";
  facegate::test::write_text(list, example("small-300x300.png") + "\r\n\n" +
                                       example("drawing.svg") + "\n");
  const Run r = run({"probe", "--json", example("portrait-640x800.jpg"), "/no/such/file",
                     std::string("@").append(list.string()), "@/no/such/list", example("cut-short.jpg")});
  CHECK(r.exit_code == 1);
  const auto lines = r.lines();
  REQUIRE(lines.size() == 6);
  CHECK(field(lines[0], "source") == example("portrait-640x800.jpg"));
  CHECK(field(lines[0], "width") == "640");
  CHECK(field(lines[0], "height") == "800");
  CHECK(field(lines[0], "error") == "null");
  CHECK(field(lines[1], "error") != "null");
  CHECK(field(lines[2], "source") == example("small-300x300.png"));  // CR stripped, blank skipped
  CHECK(field(lines[2], "format") == "png");
  CHECK(field(lines[3], "format") == "svg");
  CHECK(field(lines[3], "width") == "null");
  CHECK(field(lines[4], "source") == "@/no/such/list");
  CHECK(field(lines[4], "error").find("\"code\":\"io\"") != std::string::npos);
  CHECK(field(lines[5], "error").find("\"code\":\"truncated\"") != std::string::npos);
  for (const auto& key : {"source", "format", "width", "height", "orientation", "animated",
                          "file_size", "bytes_read", "error"}) {
    for (const auto& line : lines) CHECK(field(line, key) != "<missing>");
  }
}

TEST_CASE("probe exits 0 when every input was probed; '-' reads inputs from stdin") {
  const Run r = run({"probe", "--json", "-"},
                    example("portrait-640x800.jpg") + "\n" + example("animated-480x480.gif") + "\n");
  CHECK(r.exit_code == 0);
  REQUIRE(r.lines().size() == 2);
  CHECK(field(r.lines()[1], "format") == "gif");
}

// probe_files reads 400 files or more with io_uring (when built with it), fewer one by one:
// both commands give each input the record it gets alone, in input order.
TEST_CASE("probe and check over a long list: the same records as a short one, in order") {
  std::vector<std::string> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(source_root() / "examples")) {
    paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  paths.push_back("/no/such/file.jpg");
  TempDir dir("facegate-cli-");
  const fs::path list = dir.path() / "list.txt";
  std::vector<std::string> listed;  // 450 paths in a shuffled order
  std::string list_text;
  for (std::size_t i = 0; i < 450; ++i) {
    listed.push_back(paths[(i * 7) % paths.size()]);
    list_text += listed.back() + "\n";
  }
  facegate::test::write_text(list, list_text);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"probe", "--json"},
        std::vector<std::string>{"check", "--offline", "--json", "--model", "wan2.2-s2v-detect"}}) {
    CAPTURE(command[0]);
    std::vector<std::string> short_args = command;
    short_args.insert(short_args.end(), paths.begin(), paths.end());
    short_args.push_back("@/no/such/list");
    const Run alone = run(short_args);
    REQUIRE(alone.lines().size() == paths.size() + 1);
    std::map<std::string, std::string> record_of;
    for (const std::string& line : alone.lines()) record_of[field(line, "source")] = line;

    std::vector<std::string> long_args = command;
    long_args.push_back(std::string("@").append(list.string()));
    long_args.push_back("@/no/such/list");
    const Run many = run(long_args);
    CHECK(many.exit_code == alone.exit_code);
    const std::vector<std::string> lines = many.lines();
    REQUIRE(lines.size() == listed.size() + 1);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const std::string source = i < listed.size() ? listed[i] : "@/no/such/list";
      INFO("record " << i << ": " << source);
      CHECK(lines[i] == record_of[source]);
    }
  }
}

TEST_CASE("usage errors exit 2") {
  CHECK(run({"probe"}).exit_code == 2);
  CHECK(run({"probe", "--no-such-flag", "x"}).exit_code == 2);
  CHECK(run({}).exit_code == 2);
  CHECK(run({"check", example("portrait-640x800.jpg")}).exit_code == 2);  // no --model
  const Run unknown = run({"check", "--model", "no-such-model", example("portrait-640x800.jpg")});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("wan2.2-s2v-detect") != std::string::npos);
  CHECK(unknown.err.find("liveportrait-detect") != std::string::npos);
  CHECK(run({"rules", "no-such-model"}).exit_code == 2);
}

TEST_CASE("a bad --rules file is a usage error that names the field") {
  const fs::path bad = source_root() / "tests" / "data" / "rules" / "negative_bound.json";
  const Run r = run({"check", "--model", "m", "--rules", bad.string(), example("portrait-640x800.jpg")});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("negative") != std::string::npos);
  CHECK(r.err.find("models[") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("hostile file names are escaped in JSON and in the table") {
  TempDir dir("facegate-cli-");
  const std::string name = std::string("evil\x1b[2J\n\xff.png");
  const fs::path path = dir.path() / name;
  fs::copy_file(example("small-300x300.png"), path);
  const Run json = run({"probe", "--json", path.string()});
  CHECK(json.exit_code == 0);
  REQUIRE(json.lines().size() == 1);
  CHECK(json.out.find('\x1b') == std::string::npos);
  CHECK(json.out.find("\\u001b[2J\\n\\ufffd.png") != std::string::npos);
  CHECK(field(json.lines()[0], "width") == "300");
  const Run table = run({"probe", path.string()});
  CHECK(table.out.find('\x1b') == std::string::npos);
  CHECK(table.lines().size() == 2);  // the heading and one row: the newline is escaped
}

TEST_CASE("check --offline over the samples: verdicts, summary and money saved") {
  std::vector<std::string> args{"check", "--offline", "--json", "--model", "wan2.2-s2v-detect"};
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"animated-480x480.gif", "reject"}, {"banner-1600x400.webp", "pass"},
      {"cut-short.jpg", "error"},         {"drawing.svg", "reject"},
      {"mono-480x640.bmp", "pass"},       {"portrait-640x800.jpg", "pass"},
      {"small-300x300.png", "reject"},    {"wide-7200x600.png", "reject"}};
  for (const auto& [name, decision] : expected) args.push_back(example(name));
  const Run r = run(args);
  CHECK(r.exit_code == 1);
  const auto lines = r.lines();
  REQUIRE(lines.size() == expected.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK(field(lines[i], "decision") == expected[i].second);
    CHECK(field(lines[i], "model") == "wan2.2-s2v-detect");
    CHECK(field(lines[i], "remote") == "null");
  }
  CHECK(r.err.find("offline") != std::string::npos);
  CHECK(r.err.find("checked 8: 3 pass, 4 reject, 0 unknown, 1 error") != std::string::npos);
  // 4 rejects at 5 RPS and the published USD 0.000574: an upper bound (docs/service.md#billing).
  CHECK(r.err.find("remote calls avoided: 4 (0.8 s at the models' rates), money saved: up to "
                   "USD 0.002296") != std::string::npos);
}

TEST_CASE("check exits 0 when every input passes; a model without a price says so") {
  const Run pass = run({"check", "--offline", "--model", "wan2.2-s2v-detect",
                        example("portrait-640x800.jpg")});
  CHECK(pass.exit_code == 0);
  const Run emo = run({"check", "--offline", "--model", "emo-detect-v1",
                       example("small-300x300.png")});
  CHECK(emo.exit_code == 1);
  CHECK(emo.err.find("price not published") != std::string::npos);
  const Run bad_ratio = run({"check", "--offline", "--json", "--model", "emo-detect-v1",
                             "--ratio", "16:9", example("portrait-640x800.jpg")});
  CHECK(bad_ratio.exit_code == 1);
  CHECK(bad_ratio.out.find("param.ratio.invalid") != std::string::npos);
  // liveportrait-detect: the 1600x400 banner is 4:1, above the documented 2:1.
  const Run aspect = run({"check", "--offline", "--json", "--model", "liveportrait-detect",
                          example("banner-1600x400.webp")});
  CHECK(field(aspect.lines().at(0), "decision") == "reject");
  CHECK(aspect.out.find("aspect.above_max") != std::string::npos);
}

TEST_CASE("without a key, check says once that it works offline") {
  const Run r = run({"check", "--model", "wan2.2-s2v-detect", example("portrait-640x800.jpg"),
                     example("banner-1600x400.webp")});
  CHECK(r.exit_code == 0);
  std::size_t notices = 0;
  for (std::size_t at = r.err.find("checking offline"); at != std::string::npos;
       at = r.err.find("checking offline", at + 1)) {
    ++notices;
  }
  CHECK(notices == 1);
}

TEST_CASE("rules: a table with [doc] and [inferred]; --json loads back") {
  const Run table = run({"rules"});
  CHECK(table.exit_code == 0);
  CHECK(table.out.find("[doc]") != std::string::npos);
  CHECK(table.out.find("[inferred]") != std::string::npos);
  const Run json = run({"rules", "--json", "emoji-detect-v1"});
  CHECK(json.exit_code == 0);
  TempDir dir("facegate-cli-");
  facegate::test::write_text(dir.path() / "rules.json", json.out);
  const Run again = run({"check", "--offline", "--rules", (dir.path() / "rules.json").string(),
                         "--model", "emoji-detect-v1", example("portrait-640x800.jpg")});
  CHECK(again.exit_code == 0);
}

TEST_CASE("URLs: checked like files, and a loopback URL is not public unless allowed") {
  facegate::test::NginxServer nginx(source_root() / "examples");
  const std::string url = nginx.url("/small-300x300.png");
  const Run refused = run({"check", "--offline", "--json", "--model", "wan2.2-s2v-detect",
                           nginx.url("/portrait-640x800.jpg")});
  CHECK(refused.exit_code == 1);
  CHECK(field(refused.lines().at(0), "decision") == "reject");
  CHECK(refused.out.find("url.not_public") != std::string::npos);
  // Refused before any byte was read: the URL is the only finding.
  CHECK(refused.out.find("image.not_read") == std::string::npos);
  CHECK(refused.out.find("format.unknown") == std::string::npos);

  const Run allowed = run({"check", "--offline", "--json", "--allow-private-network", "--model",
                           "wan2.2-s2v-detect", nginx.url("/portrait-640x800.jpg"), url,
                           example("portrait-640x800.jpg")});
  const auto lines = allowed.lines();
  REQUIRE(lines.size() == 3);
  CHECK(field(lines[0], "decision") == "pass");
  CHECK(field(lines[1], "decision") == "reject");
  CHECK(field(lines[2], "decision") == "pass");
  const std::string image = field(lines[0], "image");
  CHECK(image.find("\"http_status\":206") != std::string::npos);
  CHECK(image.find("\"requests\":1") != std::string::npos);
  CHECK(image.find("\"width\":640") != std::string::npos);

  const Run probe = run({"probe", "--json", "--allow-private-network", url, "ftp://example.invalid/x.png"});
  REQUIRE(probe.lines().size() == 2);
  CHECK(field(probe.lines()[0], "width") == "300");
  CHECK(field(probe.lines()[1], "error").find("\"code\":\"scheme\"") != std::string::npos);
}

namespace {

// fake_dashscope.py on a free loopback port, for the online check.
class FakeService {
 public:
  // `options`: more of the fake's options (--input-fault, --refuse-model).
  explicit FakeService(std::string key, std::vector<std::string> options = {})
      : process_(command(std::move(key), std::move(options)), /*capture_stdout=*/true) {
    const std::optional<std::string> line = process_.read_line(std::chrono::seconds(10));
    REQUIRE_MESSAGE(line.has_value(), "fake_dashscope.py did not start");
    REQUIRE(line->rfind("PORT ", 0) == 0);
    port_ = std::stoi(line->substr(5));
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1"; }
  /// One detect request the fake received.
  struct Call {
    std::string image_url;
    double arrival = 0;  ///< the fake's CLOCK_MONOTONIC at arrival, in seconds
    std::int64_t status = 0;  ///< the HTTP status it answered; 0 while unanswered
  };

  /// The detect requests received, in arrival order.
  std::vector<Call> calls() const {
    const Run log = run_curl("http://127.0.0.1:" + std::to_string(port_) + "/__log");
    simdjson::dom::parser parser;
    simdjson::dom::array entries;
    REQUIRE(parser.parse(log.out).get(entries) == simdjson::SUCCESS);
    std::vector<Call> result;
    for (simdjson::dom::element entry : entries) {
      Call call;
      std::string_view url;
      REQUIRE(entry["image_url"].get_string().get(url) == simdjson::SUCCESS);
      call.image_url = url;
      REQUIRE(entry["t"].get_double().get(call.arrival) == simdjson::SUCCESS);
      if (entry["status"].get_int64().get(call.status) != simdjson::SUCCESS) call.status = 0;
      result.push_back(std::move(call));
    }
    return result;
  }

  // The image URLs of the detect requests received, in arrival order.
  std::vector<std::string> requested_images() const { return images_logged(false); }

  /// The images of the requests the fake admitted (not refused with 429 by its rate limit):
  /// the calls a real service would have billed, answered or not.
  std::vector<std::string> admitted_images() const { return images_logged(true); }

 private:
  std::vector<std::string> images_logged(bool admitted_only) const {
    std::vector<std::string> urls;
    for (const Call& call : calls()) {
      if (!admitted_only || call.status != 429) urls.push_back(call.image_url);
    }
    return urls;
  }

 private:
  static std::vector<std::string> command(std::string key, std::vector<std::string> options) {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  (source_root() / "tests" / "servers" / "fake_dashscope.py").string(),
                                  "--key", std::move(key), "--port", "0"};
    argv.insert(argv.end(), options.begin(), options.end());
    return argv;
  }
  static Run run_curl(const std::string& url) {
    Run r;
    FILE* pipe = ::popen(("curl -sS " + url).c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) r.out.append(buffer, n);
    r.exit_code = ::pclose(pipe);
    REQUIRE(r.exit_code == 0);
    return r;
  }
  facegate::test::ChildProcess process_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("online check: only local passes reach the detector; records, summary, no key leaks") {
  const std::string key = "sk-facegate-test-4f1d2c";
  TempDir images("facegate-cli-images-");
  for (const char* name : {"portrait-640x800.jpg", "banner-1600x400.webp", "small-300x300.png",
                           "wide-7200x600.png", "animated-480x480.gif", "cut-short.jpg"}) {
    fs::copy_file(example(name), images.path() / name);
  }
  fs::copy_file(example("portrait-640x800.jpg"), images.path() / "portrait-noface.jpg");
  facegate::test::NginxServer nginx(images.path());
  FakeService service(key);

  const std::vector<std::pair<std::string, std::string>> expected = {
      {"portrait-640x800.jpg", "passed"}, {"small-300x300.png", "-"},
      {"portrait-noface.jpg", "failed_check"}, {"wide-7200x600.png", "-"},
      {"banner-1600x400.webp", "passed"}, {"animated-480x480.gif", "-"},
      {"cut-short.jpg", "-"}};
  std::string list;
  for (const auto& [name, outcome] : expected) list += nginx.url("/" + name) + "\n";
  const std::vector<std::string> online{"check", "--json", "--model", "wan2.2-s2v-detect",
                                        "--allow-private-network", "--base-url",
                                        service.base_url(), "-"};
  const Run r = run(online, list, {"DASHSCOPE_API_KEY=" + key});
  CHECK(r.exit_code == 1);
  const auto lines = r.lines();
  REQUIRE(lines.size() == expected.size());
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    const std::string remote = field(lines[i], "remote");
    if (expected[i].second == "-") {
      CHECK(remote == "null");
      continue;
    }
    sent.push_back(nginx.url("/" + expected[i].first));
    CHECK(field(lines[i], "decision") == "pass");
    CHECK(remote.find("\"outcome\":\"" + expected[i].second + "\"") != std::string::npos);
    CHECK(remote.find("\"billed\":1") != std::string::npos);
  }
  std::vector<std::string> received = service.requested_images();
  std::sort(received.begin(), received.end());
  std::sort(sent.begin(), sent.end());
  CHECK(received == sent);  // exactly the local passes, each once

  CHECK(r.err.find("checked 7: 3 pass, 3 reject, 0 unknown, 1 error") != std::string::npos);
  // Calls avoided = local rejects; money at the published USD 0.000574 per image.
  CHECK(r.err.find("remote calls avoided: 3 (0.6 s at the models' rates), money saved: up to "
                   "USD 0.001722") != std::string::npos);
  CHECK(r.err.find("remote calls: 3, passed: 2, billed: 3, cost: USD 0.001722") !=
        std::string::npos);
  CHECK(r.out.find(key) == std::string::npos);
  CHECK(r.err.find(key) == std::string::npos);

  const Run dry = run({"check", "--dry-run", "--model", "wan2.2-s2v-detect",
                       "--allow-private-network", "--base-url", service.base_url(),
                       nginx.url("/portrait-640x800.jpg")},
                      {}, {"DASHSCOPE_API_KEY=" + key});
  CHECK(dry.out.find("Authorization: Bearer sk-***") != std::string::npos);
  CHECK(dry.out.find("\"image_url\"") != std::string::npos);
  CHECK(dry.out.find(key) == std::string::npos);
  CHECK(dry.err.find(key) == std::string::npos);
  CHECK(service.requested_images().size() == sent.size());  // a dry run sends nothing
}

// ---------------------------------------------------------------------------------------------
// Streaming, JSON Lines input and interrupts (README, "Usage").

namespace {

// argv for facegate as a child process: no DASHSCOPE_* from the test's environment, HOME a
// directory of the test's, `env` added.
std::vector<std::string> child_argv(const fs::path& home, const std::vector<std::string>& args,
                                    const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv{"/usr/bin/env", "-u", "DASHSCOPE_API_KEY", "-u",
                                "DASHSCOPE_HTTP_BASE_URL", "HOME=" + home.string()};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(facegate_exe().string());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The lines a child printed on stdout until it closed it (or `timeout` passed).
std::vector<std::string> read_all_lines(facegate::test::ChildProcess& child,
                                        std::chrono::seconds timeout) {
  std::vector<std::string> lines;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    std::optional<std::string> line = child.read_line(left);
    if (!line) break;
    lines.push_back(std::move(*line));
  }
  return lines;
}

// The "source" of a record line: its first key (to_json writes it first).
std::string source_of(const std::string& line) {
  simdjson::dom::parser parser;
  std::string_view source;
  REQUIRE(parser.parse(line)["source"].get_string().get(source) == simdjson::SUCCESS);
  return std::string(source);
}

}  // namespace

TEST_CASE("a pipe that stays open gets its first record before the input ends") {
  TempDir home("facegate-cli-");
  facegate::test::ChildProcess child(child_argv(home.path(), {"probe", "--json", "-"}),
                                     /*capture_stdout=*/true, /*silence_stderr=*/true,
                                     /*pipe_stdin=*/true);
  child.write_stdin(example("portrait-640x800.jpg") + "\n");
  const std::optional<std::string> first = child.read_line(std::chrono::seconds(20));
  REQUIRE(first.has_value());  // stdin is still open here
  CHECK(field(*first, "source") == example("portrait-640x800.jpg"));
  CHECK(field(*first, "width") == "640");
  CHECK_FALSE(child.exited());

  child.write_stdin(example("small-300x300.png") + "\n");
  const std::optional<std::string> second = child.read_line(std::chrono::seconds(20));
  REQUIRE(second.has_value());
  CHECK(field(*second, "source") == example("small-300x300.png"));
  child.close_stdin();
  CHECK_FALSE(child.read_line(std::chrono::seconds(20)).has_value());  // end of output
  CHECK(child.wait() == 0);
}

TEST_CASE("100,000 inputs through a list: every record, in input order or as completed") {
  // 100,000 distinct paths: hard links to the samples, listed in a shuffled order, with
  // missing files among them (io errors complete at another speed than probes).
  TempDir dir("facegate-cli-many-");
  std::vector<fs::path> samples;
  for (const fs::directory_entry& entry : fs::directory_iterator(source_root() / "examples")) {
    samples.push_back(entry.path());
  }
  std::sort(samples.begin(), samples.end());
  constexpr std::size_t kInputs = 100'000;
  std::vector<std::string> listed;
  listed.reserve(kInputs);
  std::string list_text;
  for (std::size_t i = 0; i < kInputs; ++i) {
    const std::size_t n = (i * 7919) % kInputs;  // 7919 is prime: a permutation
    const fs::path& sample = samples[n % samples.size()];
    const fs::path path = dir.path() / (std::to_string(n) + sample.extension().string());
    if (n % 10 != 9) fs::create_hard_link(sample, path);  // every tenth is missing
    listed.push_back(path.string());
    list_text += listed.back() + "\n";
  }
  const fs::path list = dir.path() / "list.txt";
  facegate::test::write_text(list, list_text);

  const Run in_order = run({"probe", "--json", "--order", "input", "@" + list.string()});
  CHECK(in_order.exit_code == 1);  // the missing files
  const std::vector<std::string> lines = in_order.lines();
  REQUIRE(lines.size() == kInputs);
  std::size_t out_of_place = 0, missing_ok = 0;
  for (std::size_t i = 0; i < kInputs; ++i) {
    if (source_of(lines[i]) != listed[i]) ++out_of_place;
    const bool missing = (std::stoul(fs::path(listed[i]).stem().string()) % 10) == 9;
    if (missing == (lines[i].find("\"code\":\"io\"") != std::string::npos)) ++missing_ok;
  }
  CHECK(out_of_place == 0);
  CHECK(missing_ok == kInputs);

  const Run completed = run({"probe", "--json", "--order", "completion", "@" + list.string()});
  CHECK(completed.exit_code == 1);
  std::vector<std::string> by_completion = completed.lines();
  REQUIRE(by_completion.size() == kInputs);
  std::vector<std::string> by_input = lines;
  std::sort(by_completion.begin(), by_completion.end());
  std::sort(by_input.begin(), by_input.end());
  CHECK(by_completion == by_input);  // the same records, whatever their order

  // The table too is in input order (its rows are rendered when written, not as they complete).
  const Run table = run({"probe", "@" + list.string()});
  const std::vector<std::string> rows = table.lines();
  REQUIRE(rows.size() == kInputs + 1);  // a header line, then a row per input
  std::size_t rows_out_of_place = 0;
  for (std::size_t i = 0; i < kInputs; ++i) {
    if (rows[i + 1].substr(0, rows[i + 1].find(' ')) != listed[i]) ++rows_out_of_place;
  }
  CHECK(rows_out_of_place == 0);
}

TEST_CASE("JSON Lines input: ids echoed, per-line models, each bad line one error record") {
  TempDir dir("facegate-cli-jsonl-");
  const fs::path list = dir.path() / "inputs.jsonl";
  const std::string portrait = example("portrait-640x800.jpg");
  const std::string wide = example("wide-7200x600.png");
  facegate::test::write_text(
      list, "{\"source\": \"" + portrait + "\", \"id\": 7}\n" +          // 1
                "not json\n" +                                                     // 2
                "[\"" + portrait + "\"]\n" +                                       // 3: not an object
                "{\"id\": \"no source\"}\n" +                                      // 4
                "{\"source\": \"" + portrait + "\", \"colour\": \"red\"}\n" +      // 5: unknown key
                "{\"source\": \"" + portrait + "\", \"model\": \"no-such-model\"}\n" +  // 6
                "{\"source\": \"" + wide + "\", \"id\": {\"batch\": [1, 2]}, " +
                "\"model\": \"liveportrait-detect\"}\n" +                          // 7
                "{\"source\": \"" + portrait + "\", \"ratio\": \"3:4\", \"id\": null}\n");  // 8
  const Run r = run({"check", "--offline", "--json", "--model", "wan2.2-s2v-detect",
                     "--input-format", "jsonl", "@" + list.string()});
  CHECK(r.exit_code == 1);
  const std::vector<std::string> lines = r.lines();
  REQUIRE(lines.size() == 8);
  CHECK(field(lines[0], "source") == portrait);
  CHECK(field(lines[0], "id") == "7");
  CHECK(field(lines[0], "decision") == "pass");
  for (const std::size_t bad : {2u, 3u, 4u, 5u}) {
    CAPTURE(bad);
    const std::string& line = lines[bad - 1];
    CHECK(field(line, "source") == list.string() + ":" + std::to_string(bad));
    CHECK(field(line, "decision") == "error");
    CHECK(line.find("\"code\":\"bad_input\"") != std::string::npos);
    // No source was read from the line: no note about uploading a local file.
    CHECK(line.find("url.not_public") == std::string::npos);
  }
  CHECK(field(lines[3], "id") == "no source");  // an id is echoed even on a bad line
  CHECK(field(lines[5], "source") == portrait);  // the line named its source
  CHECK(lines[5].find("\"code\":\"model.unknown\"") != std::string::npos);
  CHECK(field(lines[6], "id") == "{\"batch\":[1,2]}");
  CHECK(field(lines[6], "model") == "liveportrait-detect");
  CHECK(field(lines[6], "decision") == "reject");  // its own limits: 7200 px is too long
  CHECK(field(lines[7], "id") == "null");
  CHECK(field(lines[7], "model") == "wan2.2-s2v-detect");
  CHECK(r.err.find("checked 8: 2 pass, 1 reject, 0 unknown, 5 error") != std::string::npos);
}

TEST_CASE("SIGINT mid-run: every answered call has its record, nothing is sent after, exit 130") {
  const std::string key = "sk-facegate-interrupt-5b8d";
  TempDir images("facegate-cli-images-");
  constexpr int kImages = 40;
  std::string list_text;
  facegate::test::NginxServer nginx(images.path());
  for (int i = 0; i < kImages; ++i) {
    const std::string name = "face-" + std::to_string(i) + ".jpg";
    fs::copy_file(example("portrait-640x800.jpg"), images.path() / name);
    list_text += nginx.url("/" + name) + "?fault=slow&delay=1.5\n";  // the fake answers late
  }
  const fs::path list = images.path() / "list.txt";
  facegate::test::write_text(list, list_text);
  FakeService service(key);
  facegate::test::ChildProcess child(
      child_argv(images.path(),
                 {"check", "--json", "--no-ledger", "--model", "wan2.2-s2v-detect",
                  "--allow-private-network", "--base-url", service.base_url(), "--rps", "4",
                  "@" + list.string()},
                 {"DASHSCOPE_API_KEY=" + key}),
      /*capture_stdout=*/true, /*silence_stderr=*/true);
  // Wait for a few calls to be on the wire, then interrupt.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (service.requested_images().size() < 3 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(service.requested_images().size() >= 3);
  const double signalled = std::chrono::duration<double>(
                               std::chrono::steady_clock::now().time_since_epoch()).count();
  ::kill(child.pid(), SIGINT);
  const std::vector<std::string> lines = read_all_lines(child, std::chrono::seconds(60));
  CHECK(child.wait() == 130);

  // Each input read before the signal has its record: answered calls "passed", the others
  // "not_sent" (judged locally, then cancelled before their call went out).
  std::set<std::string> recorded_as_passed;
  std::size_t not_sent = 0;
  for (const std::string& line : lines) {
    CAPTURE(line);
    if (line.find("\"outcome\":\"passed\"") != std::string::npos) {
      recorded_as_passed.insert(source_of(line));
    } else {
      CHECK(line.find("\"outcome\":\"not_sent\"") != std::string::npos);
      CHECK(line.find("\"billed\":0") != std::string::npos);
      ++not_sent;
    }
  }
  CHECK(lines.size() <= kImages);
  CHECK(not_sent > 0);  // the run really was cut short
  const std::vector<FakeService::Call> calls = service.calls();
  CHECK(calls.size() == recorded_as_passed.size());
  for (const auto& call : calls) {
    CAPTURE(call.image_url);
    // Nothing sent after the signal (both clocks are CLOCK_MONOTONIC; 50 ms for a request
    // already being written when the signal came).
    CHECK(call.arrival <= signalled + 0.05);
    // Every call was answered within the grace period (10 s), and has its record.
    CHECK(call.status == 200);
    CHECK(recorded_as_passed.count(call.image_url) == 1);
  }
}

TEST_CASE("streams among the inputs: process substitution, a pipe as /dev/stdin, a silent FIFO") {
  const std::string portrait = example("portrait-640x800.jpg");
  // <(cat x.jpg) is a pipe: read from its start (before: "io: Illegal seek").
  const Run substituted = run_bash("\"$1\" probe --json <(cat '" + portrait + "')");
  CHECK(substituted.exit_code == 0);
  REQUIRE(substituted.lines().size() == 1);
  CHECK(field(substituted.lines()[0], "width") == "640");
  CHECK(field(substituted.lines()[0], "height") == "800");

  const Run piped = run_bash("cat '" + portrait + "' | \"$1\" probe --json /dev/stdin");
  CHECK(piped.exit_code == 0);
  REQUIRE(piped.lines().size() == 1);
  CHECK(field(piped.lines()[0], "width") == "640");

  // A FIFO nobody writes: one io error record after --read-timeout, the other inputs answered.
  TempDir dir("facegate-cli-fifo-");
  const fs::path fifo = dir.path() / "silent.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const Run silent = run({"probe", "--json", "--read-timeout", "0.5", fifo.string(), portrait});
  CHECK(silent.exit_code == 1);
  const std::vector<std::string> lines = silent.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"code\":\"io\"") != std::string::npos);
  CHECK(lines[0].find("within 500 ms") != std::string::npos);
  CHECK(field(lines[1], "width") == "640");
}

TEST_CASE("a full disk: records that cannot be written are an error, exit 3") {
  const Run full = run_bash("\"$1\" probe --json '" + example("portrait-640x800.jpg") +
                            "' > /dev/full");
  CHECK(full.exit_code == 3);
  CHECK(full.err.find("cannot write") != std::string::npos);
  const Run table = run_bash("\"$1\" check --offline --model wan2.2-s2v-detect '" +
                             example("portrait-640x800.jpg") + "' > /dev/full");
  CHECK(table.exit_code == 3);
}

TEST_CASE("an API key file that is a directory says so; one from a pipe works") {
  TempDir dir("facegate-cli-key-");
  fs::copy_file(example("portrait-640x800.jpg"), dir.path() / "portrait.jpg");
  facegate::test::NginxServer nginx(dir.path());
  const std::string args = " check --dry-run --allow-private-network --model wan2.2-s2v-detect " +
                           nginx.url("/portrait.jpg");
  for (const bool dry_run : {true, false}) {
    CAPTURE(dry_run);
    std::vector<std::string> argv{"check", "--model", "wan2.2-s2v-detect",
                                  example("portrait-640x800.jpg")};
    if (dry_run) argv.insert(argv.begin() + 1, "--dry-run");
    const Run directory = run(argv, {}, {"DASHSCOPE_API_KEY_FILE_PATH=" + dir.path().string()});
    CHECK(directory.err.find("is a directory, not a key file") != std::string::npos);
  }
  const Run piped =
      run_bash("DASHSCOPE_API_KEY_FILE_PATH=<(echo sk-piped-key-51e0) \"$1\"" + args);
  CHECK(piped.exit_code == 0);
  CHECK(piped.out.find("Authorization: Bearer sk-***") != std::string::npos);
  CHECK(piped.err.find("no API key") == std::string::npos);
  CHECK(piped.out.find("piped-key") == std::string::npos);
}

TEST_CASE("the detector's base URL must be http(s); each reason a call was not sent is said once") {
  const std::string portrait = example("portrait-640x800.jpg");
  for (const char* mode : {"--dry-run", "--no-ledger"}) {
    CAPTURE(mode);
    const Run schemeless = run({"check", mode, "--model", "wan2.2-s2v-detect", "--base-url",
                                "dashscope.aliyuncs.com/api/v1", portrait},
                               {}, {"DASHSCOPE_API_KEY=sk-facegate-base-url-1"});
    CHECK(schemeless.exit_code == 2);
    CHECK(schemeless.out.empty());
    CHECK(schemeless.err.find("is not an http:// or https:// URL") != std::string::npos);
  }
  const Run from_env = run({"check", "--no-ledger", "--model", "wan2.2-s2v-detect", portrait}, {},
                           {"DASHSCOPE_API_KEY=sk-facegate-base-url-1",
                            "DASHSCOPE_HTTP_BASE_URL=ftp://127.0.0.1/api/v1"});
  CHECK(from_env.exit_code == 2);

  // Online with three local files and --no-upload: three records say not_sent, stderr says
  // why once.
  const Run local = run({"check", "--no-ledger", "--no-upload", "--model", "wan2.2-s2v-detect",
                         "--base-url", "http://127.0.0.1:9/api/v1", portrait, portrait, portrait},
                        {}, {"DASHSCOPE_API_KEY=sk-facegate-base-url-1"});
  CHECK(local.lines().size() == 4);  // the table's header and three rows
  const std::string notice = "facegate: a detector call was not sent: a local file is not uploaded";
  const std::size_t first = local.err.find(notice);
  CHECK(first != std::string::npos);
  CHECK(local.err.find(notice, first + 1) == std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The ledger end to end (README, "The ledger"): the CLI online against the fake service.

namespace {

const std::string kLedgerKey = "sk-facegate-ledger-7c2e91";

// Images that pass wan2.2-s2v-detect locally, served by nginx: `count` copies of the portrait.
struct PassingImages {
  TempDir dir{"facegate-ledger-images-"};
  std::vector<std::string> names;
  explicit PassingImages(int count) {
    for (int i = 0; i < count; ++i) {
      names.push_back("face-" + std::to_string(i) + ".jpg");
      fs::copy_file(example("portrait-640x800.jpg"), dir.path() / names.back());
    }
  }
};

std::vector<std::string> online_args(const FakeService& service, const fs::path& ledger,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"check", "--json", "--model", "wan2.2-s2v-detect",
                                "--allow-private-network", "--base-url", service.base_url(),
                                "--ledger", ledger.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("-");
  return args;
}

// The record with "cached" and "billed" set aside: what a reused answer must keep.
std::string without_reuse_fields(std::string line) {
  for (const char* field : {"\"cached\":true", "\"cached\":false", "\"billed\":1", "\"billed\":0"}) {
    for (auto at = line.find(field); at != std::string::npos; at = line.find(field)) {
      line.erase(at, std::string_view(field).size());
    }
  }
  return line;
}

// argv of an online `facegate check` (child_argv, HOME `state`) over a list file in `state` of
// the images' URLs, each answered by the fake `delay` seconds late.
std::vector<std::string> slow_list_run(const PassingImages& images,
                                       const facegate::test::NginxServer& nginx,
                                       const FakeService& service, const fs::path& state,
                                       const fs::path& ledger, const std::string& delay,
                                       std::vector<std::string> extra) {
  const fs::path list = state / "list";
  std::string text;
  for (const auto& name : images.names) {
    text += nginx.url("/" + name) + "?fault=slow&delay=" + delay + "\n";
  }
  facegate::test::write_text(list, text);
  std::vector<std::string> args = online_args(service, ledger, std::move(extra));
  args.back() = "@" + list.string();
  return child_argv(state, args, {"DASHSCOPE_API_KEY=" + kLedgerKey});
}

std::map<std::string, int> count_each(const std::vector<std::string>& urls) {
  std::map<std::string, int> counts;
  for (const auto& url : urls) ++counts[url];
  return counts;
}

}  // namespace

TEST_CASE("ledger: a second run of the same list sends nothing and keeps the answers") {
  PassingImages images(4);
  facegate::test::NginxServer nginx(images.dir.path());
  FakeService service(kLedgerKey);
  TempDir state("facegate-ledger-");
  const fs::path ledger = state.path() / "ledger.sqlite3";
  std::string list;
  for (const auto& name : images.names) list += nginx.url("/" + name) + "\n";
  list += nginx.url("/missing.jpg") + "\n";  // an error record, never sent

  const Run first = run(online_args(service, ledger), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  REQUIRE(first.lines().size() == 5);
  CHECK(service.admitted_images().size() == 4);
  const Run second = run(online_args(service, ledger), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  REQUIRE(second.lines().size() == 5);
  CHECK(service.admitted_images().size() == 4);  // nothing sent again
  for (std::size_t i = 0; i < 4; ++i) {
    CAPTURE(second.lines()[i]);
    CHECK(field(first.lines()[i], "remote").find("\"cached\":false") != std::string::npos);
    CHECK(field(second.lines()[i], "remote").find("\"cached\":true") != std::string::npos);
    CHECK(field(second.lines()[i], "remote").find("\"billed\":0") != std::string::npos);
    CHECK(without_reuse_fields(second.lines()[i]) == without_reuse_fields(first.lines()[i]));
  }
  CHECK(second.err.find("billed: 0") != std::string::npos);
  CHECK(second.err.find("reused from the ledger: 4") != std::string::npos);

  // --refresh reads nothing from the ledger: every image is sent again, and recorded.
  const Run refreshed =
      run(online_args(service, ledger, {"--refresh"}), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(refreshed.err.find("reused from the ledger: 0") != std::string::npos);
  CHECK(service.admitted_images().size() == 8);
  // --max-age: answers older than it are not reused.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  const Run aged =
      run(online_args(service, ledger, {"--max-age", "1s"}), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(aged.err.find("reused from the ledger: 0") != std::string::npos);
  CHECK(service.admitted_images().size() == 12);

  // The ledger's own totals are the fake's count of answered calls.
  const Run report = run({"ledger", "--json", "--ledger", ledger.string()});
  CHECK(report.exit_code == 0);
  CHECK(report.out.find("\"calls\":12,\"billed\":12,\"possibly_billed\":0") != std::string::npos);
}

TEST_CASE("ledger: an image whose ETag changes is a new image") {
  PassingImages images(1);
  facegate::test::NginxServer nginx(images.dir.path());
  FakeService service(kLedgerKey);
  TempDir state("facegate-ledger-");
  const fs::path ledger = state.path() / "ledger.sqlite3";
  const std::string list = nginx.url("/" + images.names[0]) + "\n";
  run(online_args(service, ledger), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  run(online_args(service, ledger), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(service.admitted_images().size() == 1);
  // nginx's ETag is its mtime and size: a new mtime is a new validator.
  const fs::path file = images.dir.path() / images.names[0];
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::hours(1));
  const Run changed = run(online_args(service, ledger), list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(field(changed.lines().at(0), "remote").find("\"cached\":false") != std::string::npos);
  CHECK(service.admitted_images().size() == 2);
}

TEST_CASE("ledger: --max-calls 3 sends exactly 3 calls; the rest say budget_exhausted") {
  PassingImages images(6);
  facegate::test::NginxServer nginx(images.dir.path());
  FakeService service(kLedgerKey);
  TempDir state("facegate-ledger-");
  std::string list;
  for (const auto& name : images.names) list += nginx.url("/" + name) + "\n";
  const Run r = run(online_args(service, state.path() / "l.sqlite3", {"--max-calls", "3"}), list,
                    {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(service.admitted_images().size() == 3);
  int exhausted = 0;
  for (const auto& line : r.lines()) {
    exhausted += field(line, "remote").find("\"outcome\":\"budget_exhausted\"") != std::string::npos;
  }
  CHECK(exhausted == 3);
  CHECK(r.err.find("budget reached: 3") != std::string::npos);
  // --budget in the model's currency: USD 0.000574 a call, so 0.0012 buys 2.
  const Run budget = run(online_args(service, state.path() / "b.sqlite3", {"--budget", "0.0012"}),
                         list, {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(service.admitted_images().size() == 5);
  CHECK(budget.err.find("budget reached: 4") != std::string::npos);
}

TEST_CASE("ledger: a corrupt or unusable ledger file is a clear error and is left alone") {
  FakeService service(kLedgerKey);
  TempDir state("facegate-ledger-");
  const fs::path ledger = state.path() / "ledger.sqlite3";
  const std::string garbage = "this is not a SQLite database, and it must stay exactly so\n";
  facegate::test::write_text(ledger, garbage);
  const Run r = run(online_args(service, ledger), example("portrait-640x800.jpg") + "\n",
                    {"DASHSCOPE_API_KEY=" + kLedgerKey});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(ledger.string()) != std::string::npos);
  CHECK(facegate::test::read_text(ledger) == garbage);
  CHECK(service.admitted_images().empty());
}

TEST_CASE("ledger: by default $XDG_STATE_HOME/facegate, else ~/.local/state/facegate; --no-ledger") {
  PassingImages images(1);
  facegate::test::NginxServer nginx(images.dir.path());
  FakeService service(kLedgerKey);
  TempDir home("facegate-ledger-home-"), state("facegate-ledger-state-");
  const std::string list = nginx.url("/" + images.names[0]) + "\n";
  const std::vector<std::string> check{"check", "--json", "--model", "wan2.2-s2v-detect",
                                       "--allow-private-network", "--base-url",
                                       service.base_url(), "-"};
  const std::string key = "DASHSCOPE_API_KEY=" + kLedgerKey;
  const fs::path under_home = home.path() / ".local" / "state" / "facegate" / "ledger.sqlite3";
  run(check, list, {key, "HOME=" + home.path().string()});
  CHECK(fs::exists(under_home));
  const Run report = run({"ledger", "--json"}, {}, {"HOME=" + home.path().string()});
  CHECK(report.out.find("\"calls\":1,") != std::string::npos);

  run(check, list, {key, "HOME=" + home.path().string(), "XDG_STATE_HOME=" + state.path().string()});
  CHECK(fs::exists(state.path() / "facegate" / "ledger.sqlite3"));
  CHECK(service.admitted_images().size() == 2);  // a new ledger knows no answer

  std::vector<std::string> no_ledger = check;
  no_ledger.insert(no_ledger.end() - 1, "--no-ledger");
  fs::remove_all(home.path() / ".local");
  const Run without = run(no_ledger, list, {key, "HOME=" + home.path().string()});
  CHECK(field(without.lines().at(0), "remote").find("\"cached\":false") != std::string::npos);
  CHECK_FALSE(fs::exists(home.path() / ".local"));
  CHECK(service.admitted_images().size() == 3);
}

TEST_CASE("ledger: runs killed with SIGKILL, then re-run, never pay twice for an image") {
  PassingImages images(12);
  facegate::test::NginxServer nginx(images.dir.path());
  FakeService service(kLedgerKey);
  TempDir state("facegate-ledger-");
  const fs::path ledger = state.path() / "ledger.sqlite3";
  // Slow answers (0.3 s) so that kills land while calls are in flight. At the fake's own rate
  // (5 RPS) and a pause after each kill, so that it refuses nothing with 429: then every call
  // the fake admitted is one the ledger claimed, and no other.
  const std::vector<std::string> argv =
      slow_list_run(images, nginx, service, state.path(), ledger, "0.3", {});
  for (int seed = 1; seed <= 4; ++seed) {
    facegate::test::ChildProcess run_once(argv, true, true);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 170 * seed));
    ::kill(run_once.pid(), SIGKILL);
    run_once.wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  }
  facegate::test::ChildProcess last(argv, true, true);
  last.wait();
  // Each image reached the fake at most once over all runs.
  // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
  for (const auto& entry : count_each(service.admitted_images())) {
    CAPTURE(entry.first);
    CHECK(entry.second == 1);
  }
  // The ledger accounts for every call the fake saw: billed plus possibly billed. It may count
  // more, never fewer: a run killed after its claim was committed and before the request was
  // written leaves a claim the fake never saw, which stays possibly billed (at most one such
  // window per kill here, as the claims of one run go out one at a time).
  const Run report = run({"ledger", "--json", "--ledger", ledger.string()});
  simdjson::dom::parser parser;
  simdjson::dom::element total;
  REQUIRE(parser.parse(report.out)["total"].get(total) == simdjson::SUCCESS);
  const std::uint64_t billed = total["billed"].get_uint64().value();
  const std::uint64_t possibly = total["possibly_billed"].get_uint64().value();
  const std::uint64_t admitted = service.admitted_images().size();
  CHECK(billed + possibly >= admitted);
  CHECK(billed + possibly <= admitted + 4);
  CHECK(billed <= admitted);
}

TEST_CASE("ledger: two processes on one list and one ledger send each image once") {
  PassingImages images(10);
  facegate::test::NginxServer nginx(images.dir.path());
  FakeService service(kLedgerKey);
  TempDir state("facegate-ledger-");
  const fs::path ledger = state.path() / "ledger.sqlite3";
  // 2 a second each: together under the fake's 5 a second, so no call ends on 429s.
  const std::vector<std::string> argv =
      slow_list_run(images, nginx, service, state.path(), ledger, "0.2", {"--rps", "2"});
  facegate::test::ChildProcess a(argv, true, true), b(argv, true, true);
  a.wait();
  b.wait();
  const auto counts = count_each(service.admitted_images());
  CHECK(counts.size() == images.names.size());
  for (const auto& entry : counts) {
    CAPTURE(entry.first);
    CHECK(entry.second == 1);
  }
}

TEST_CASE("online check: an input fault that the rules let through costs nothing or one image") {
  // The vendor does not say whether a too-small image is a refused request (not billed) or a
  // completed check that failed (billed) (docs/service.md#billing): the fake answers each
  // way in turn. A rules file without wan2.2-s2v-detect's pixel rule lets the 300x300 image
  // reach it.
  const std::string key = "sk-facegate-test-9b2e61";
  TempDir images("facegate-cli-images-");
  for (const char* name : {"portrait-640x800.jpg", "small-300x300.png"}) {
    fs::copy_file(example(name), images.path() / name);
  }
  facegate::test::NginxServer nginx(images.path());
  const std::string list =
      nginx.url("/portrait-640x800.jpg") + "\n" + nginx.url("/small-300x300.png") + "\n";
  std::string rules_json = run({"rules", "--json", "wan2.2-s2v-detect"}).out;
  const std::size_t pixels = rules_json.find("\"pixels\":{");
  REQUIRE(pixels != std::string::npos);
  rules_json.erase(pixels, rules_json.find("},", pixels) + 2 - pixels);
  TempDir dir("facegate-cli-");
  const fs::path rules = dir.path() / "no-pixel-rule.json";
  facegate::test::write_text(rules, rules_json);

  // With the built-in rules the small image is a call avoided, worth at most one image.
  const Run offline = run({"check", "--offline", "--model", "wan2.2-s2v-detect",
                           "--allow-private-network", "-"}, list);
  CHECK(offline.err.find("remote calls avoided: 1 (0.2 s at the models' rates), money saved: "
                         "up to USD 0.000574") != std::string::npos);

  struct Way {
    std::string outcome, billed, summary;
  };
  for (const Way& way : {Way{"request_error", "0", "billed: 1, cost: USD 0.000574"},
                         Way{"failed_check", "1", "billed: 2, cost: USD 0.001148"}}) {
    CAPTURE(way.outcome);
    FakeService service(key, {"--input-fault", way.outcome});
    const Run r = run({"check", "--json", "--rules", rules.string(), "--model",
                       "wan2.2-s2v-detect", "--allow-private-network", "--base-url",
                       service.base_url(), "-"},
                      list, {"DASHSCOPE_API_KEY=" + key});
    CHECK(r.exit_code == 1);
    const auto lines = r.lines();
    REQUIRE(lines.size() == 2);
    CHECK(field(lines[0], "remote").find("\"outcome\":\"passed\"") != std::string::npos);
    CHECK(field(lines[1], "decision") == "pass");
    const std::string remote = field(lines[1], "remote");
    CHECK(remote.find("\"outcome\":\"" + way.outcome + "\"") != std::string::npos);
    CHECK(remote.find("\"billed\":" + way.billed) != std::string::npos);
    CHECK(remote.find("\"code\":\"InvalidFile.Resolution\"") != std::string::npos);
    CHECK(r.err.find("checked 2: 2 pass, 0 reject, 0 unknown, 0 error") != std::string::npos);
    CHECK(r.err.find("remote calls: 2, passed: 1, " + way.summary + ", possibly billed: 0") !=
          std::string::npos);
    CHECK(service.requested_images().size() == 2);
  }
}

TEST_CASE("a retired model: rules show it, every check warns, a refusal stops its calls") {
  const Run table = run({"rules", "emo-detect-v1"});
  CHECK(table.out.find("lifecycle   retired 2026-10-10") != std::string::npos);
  CHECK(table.out.find("model-retirement notice 118434") != std::string::npos);
  CHECK(run({"rules", "wan2.2-s2v-detect"}).out.find("no retirement announced") !=
        std::string::npos);
  CHECK(run({"rules", "--json", "liveportrait-detect"}).out.find(
            R"("lifecycle":{"retired":"2026-10-10")") != std::string::npos);

  const std::string key = "sk-facegate-test-118434";
  TempDir images("facegate-cli-images-");
  for (const char* name : {"portrait-640x800.jpg", "small-300x300.png"}) {
    fs::copy_file(example(name), images.path() / name);
  }
  facegate::test::NginxServer nginx(images.path());
  FakeService service(key, {"--refuse-model", "emo-detect-v1=ModelNotFound"});
  const std::vector<std::string> urls = {
      nginx.url("/portrait-640x800.jpg?a"), nginx.url("/small-300x300.png"),
      nginx.url("/portrait-640x800.jpg?b"), nginx.url("/portrait-640x800.jpg?c")};
  std::string list;
  for (const auto& url : urls) list += url + "\n";
  // 1 RPS: the first call's refusal is in long before a second one may go.
  const Run r = run({"check", "--json", "--model", "emo-detect-v1", "--rps", "1",
                     "--allow-private-network", "--base-url", service.base_url(), "-"},
                    list, {"DASHSCOPE_API_KEY=" + key});
  CHECK(r.exit_code == 1);
  const auto lines = r.lines();
  REQUIRE(lines.size() == urls.size());
  std::size_t refused = 0, not_sent = 0;
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK(line.find(R"({"code":"model.retired","severity":"warn")") != std::string::npos);
    const std::string remote = field(line, "remote");
    if (field(line, "decision") == "reject") {
      CHECK(remote == "null");  // the small image: never sent
    } else if (remote.find(R"("outcome":"request_error")") != std::string::npos) {
      ++refused;
      CHECK(remote.find(R"("code":"ModelNotFound")") != std::string::npos);
    } else {
      ++not_sent;
      CHECK(remote.find(R"("outcome":"not_sent")") != std::string::npos);
      CHECK(remote.find("the service refused the model: ModelNotFound (HTTP 404") !=
            std::string::npos);
    }
  }
  CHECK(refused == 1);
  CHECK(not_sent == 2);
  CHECK(service.requested_images().size() == 1);
  CHECK(r.err.find("remote calls: 1, passed: 0, billed: 0") != std::string::npos);
}

TEST_CASE("--region: a model not offered there is a usage error before any call") {
  const std::string portrait = example("portrait-640x800.jpg");
  const Run us = run({"check", "--dry-run", "--region", "us", "--model", "wan2.2-s2v-detect",
                      portrait});
  CHECK(us.exit_code == 2);
  CHECK(us.out.empty());
  CHECK(us.err.find("facegate: wan2.2-s2v-detect is offered only in cn-beijing, not in us (US): "
                    "API keys are region-bound\n") != std::string::npos);
  const Run online = run({"check", "--no-ledger", "--region", "ap-southeast-1", "--model",
                          "emo-detect-v1", "--base-url", "http://127.0.0.1:9/api/v1", portrait},
                         {}, {"DASHSCOPE_API_KEY=sk-facegate-region-1"});
  CHECK(online.exit_code == 2);
  CHECK(online.err.find("emo-detect-v1 is offered only in cn-beijing") != std::string::npos);
  // Offline nothing is called: the region does not matter.
  const Run offline = run({"check", "--offline", "--region", "us", "--model", "wan2.2-s2v-detect",
                           portrait});
  CHECK(offline.exit_code == 0);
  // Not a region of the table: CLI11 refuses it.
  const Run unknown = run({"check", "--dry-run", "--region", "eu-central-1", "--model",
                           "liveportrait-detect", portrait});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("--region") != std::string::npos);
  // The help lists the table.
  const Run help = run({"check", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("cn-beijing (China (Beijing), the default) "
                      "https://dashscope.aliyuncs.com/api/v1") != std::string::npos);
  CHECK(help.out.find("ap-southeast-1 (Singapore) https://dashscope-intl.aliyuncs.com/api/v1") !=
        std::string::npos);
  CHECK(help.out.find("cn-hongkong (China (Hong Kong)) "
                      "https://cn-hongkong.dashscope.aliyuncs.com/api/v1") != std::string::npos);
}

TEST_CASE("--region ap-southeast-1 --dry-run: the request goes to the Singapore base URL") {
  TempDir images("facegate-cli-images-");
  fs::copy_file(example("portrait-640x800.jpg"), images.path() / "portrait.jpg");
  facegate::test::NginxServer nginx(images.path());
  const std::vector<std::string> args = {"check", "--dry-run", "--region", "ap-southeast-1",
                                         "--model", "emoji-detect-v1", "--ratio", "1:1",
                                         "--allow-private-network", nginx.url("/portrait.jpg")};
  const Run singapore = run(args);
  CHECK(singapore.exit_code == 0);
  CHECK(singapore.out.find("POST https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/"
                           "image2video/face-detect\n") != std::string::npos);
  // DASHSCOPE_HTTP_BASE_URL and --base-url still give the URL.
  const Run from_env = run(args, {}, {"DASHSCOPE_HTTP_BASE_URL=http://127.0.0.1:9/api/v1"});
  CHECK(from_env.out.find("POST http://127.0.0.1:9/api/v1/services/") != std::string::npos);
  std::vector<std::string> explicit_url = args;
  explicit_url.insert(explicit_url.begin() + 1, {"--base-url", "http://127.0.0.1:8/api/v1"});
  const Run given = run(explicit_url, {}, {"DASHSCOPE_HTTP_BASE_URL=http://127.0.0.1:9/api/v1"});
  CHECK(given.out.find("POST http://127.0.0.1:8/api/v1/services/") != std::string::npos);
}

TEST_CASE("rules: the regions and the inferred oss:// support are shown") {
  const Run wan = run({"rules", "wan2.2-s2v-detect"});
  CHECK(wan.exit_code == 0);
  CHECK(wan.out.find("  regions     offered only in cn-beijing") != std::string::npos);
  const Run live = run({"rules", "liveportrait-detect"});
  CHECK(live.out.find("  regions     no rule\n") != std::string::npos);
  CHECK(live.out.find("  urls        oss ") != std::string::npos);
  const Run json = run({"rules", "--json", "emo-detect-v1"});
  CHECK(json.out.find(R"("inferred_schemes":["oss"])") != std::string::npos);
  CHECK(json.out.find(R"("regions":{"offered":["cn-beijing"],"source":"documented")") !=
        std::string::npos);
}
