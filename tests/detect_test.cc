// The face-detect client (include/facegate/detect.hpp): the request, the five answer shapes,
// retries, the rate limit and the secrecy of the API key; against tests/servers/fake_dashscope.py
// on 127.0.0.1.
#include "facegate/detect.hpp"

#include <curl/curl.h>
#include <doctest/doctest.h>
#include <cctype>
#include <thread>
#include <sys/stat.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "detect/rate_limiter.hpp"
#include "detect/retry.hpp"
#include "facegate/fetch.hpp"
#include "facegate/rules.hpp"

extern char** environ;

using namespace facegate;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kKey = "sk-test-7f3a9c1e5b2d4f60";

const ModelRules& model(std::string_view name) {
  const auto& loaded = builtin_rules();
  REQUIRE_MESSAGE(loaded.ok(), "built-in rules do not load");
  const ModelRules* found = loaded.rules.find(name);
  REQUIRE_MESSAGE(found != nullptr, "no built-in model " << name);
  return *found;
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// ---------------------------------------------------------------------------------------------
// Image headers for the fake to judge (only the bytes its size rules read)

void put_be(std::string& out, std::uint32_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out += static_cast<char>(value >> shift & 0xFF);
}
void put_le(std::string& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(value >> (8 * i) & 0xFF);
}

std::string png(std::uint32_t width, std::uint32_t height) {  // PNG 11.2.2 IHDR
  std::string s = "\x89PNG\r\n\x1a\n";
  put_be(s, 13, 4);
  s += "IHDR";
  put_be(s, width, 4);
  put_be(s, height, 4);
  s += std::string("\x08\x02\x00\x00\x00", 5);
  put_be(s, 0, 4);  // CRC, not checked
  put_be(s, 0, 4);  // an empty IDAT: the probe reads up to the first data chunk
  s += "IDAT";
  put_be(s, 0, 4);
  return s;
}

std::string jpeg(std::uint32_t width, std::uint32_t height) {  // ITU T.81 B.2.2 SOF0
  std::string s = "\xFF\xD8\xFF\xC0";
  put_be(s, 17, 2);
  s += '\x08';
  put_be(s, height, 2);
  put_be(s, width, 2);
  s += std::string("\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
  return s + "\xFF\xD9";
}

std::string bmp(std::uint32_t width, std::uint32_t height) {  // BITMAPINFOHEADER
  std::string s = "BM";
  put_le(s, 54, 4);
  put_le(s, 0, 4);
  put_le(s, 54, 4);
  put_le(s, 40, 4);
  put_le(s, width, 4);
  put_le(s, height, 4);
  put_le(s, 1, 2);
  put_le(s, 24, 2);
  return s + std::string(24, '\0');
}

std::string webp(std::uint32_t width, std::uint32_t height) {  // VP8X canvas, sizes minus 1
  std::string s = "RIFF";
  put_le(s, 22, 4);
  s += "WEBPVP8X";
  put_le(s, 10, 4);
  put_le(s, 0, 4);
  put_le(s, width - 1, 3);
  put_le(s, height - 1, 3);
  return s;
}

std::string gif(std::uint32_t width, std::uint32_t height) {
  std::string s = "GIF89a";
  put_le(s, width, 2);
  put_le(s, height, 2);
  return s + std::string(3, '\0');
}

// ---------------------------------------------------------------------------------------------
// The fake service

struct LogEntry {
  double t = 0;  // CLOCK_MONOTONIC seconds at arrival
  std::string model, image_url, auth, code, fault, content_type;
  int status = 0;
  std::int64_t client_port = 0;  // tells connections apart
  bool async_header = false;
  bool authorization_redacted = false;
};

std::string http_request(const std::string& url, bool post) {
  std::string body;
  CURL* easy = curl_easy_init();
  REQUIRE(easy != nullptr);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  if (post) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(
      easy, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
        static_cast<std::string*>(out)->append(data, size * count);
        return size * count;
      });
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
  const CURLcode code = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  REQUIRE_MESSAGE(code == CURLE_OK, url << ": " << curl_easy_strerror(code));
  return body;
}

std::string text_or_empty(simdjson::dom::element value) {
  std::string_view text;
  return value.get_string().get(text) == simdjson::SUCCESS ? std::string(text) : std::string();
}

// fake_dashscope.py on 127.0.0.1, started once for the whole run; /__reset between tests.
class FakeDashScope {
 public:
  FakeDashScope() {
    files_ =
        std::filesystem::temp_directory_path() / ("facegate-detect-" + std::to_string(getpid()));
    std::filesystem::create_directories(files_);
    write_images();
    start();
  }
  ~FakeDashScope() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (output_ != nullptr) fclose(output_);
    std::error_code ignored;
    std::filesystem::remove_all(files_, ignored);
  }

  std::string root() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string base_url() const { return root() + "/api/v1"; }
  std::string image(std::string_view name_and_query) const {
    return root() + "/files/" + std::string(name_and_query);
  }
  void reset() const { http_request(root() + "/__reset", true); }
  std::string log_text() const { return http_request(root() + "/__log", false); }

  std::vector<LogEntry> log() const {
    const std::string text = log_text();
    simdjson::dom::parser parser;
    simdjson::dom::array entries;
    REQUIRE(parser.parse(text).get(entries) == simdjson::SUCCESS);
    std::vector<LogEntry> out;
    for (simdjson::dom::element item : entries) {
      LogEntry entry;
      REQUIRE(item["t"].get_double().get(entry.t) == simdjson::SUCCESS);
      REQUIRE(item["client_port"].get_int64().get(entry.client_port) == simdjson::SUCCESS);
      entry.model = text_or_empty(item["model"]);
      entry.image_url = text_or_empty(item["image_url"]);
      entry.auth = text_or_empty(item["auth"]);
      entry.code = text_or_empty(item["code"]);
      entry.fault = text_or_empty(item["fault"]);
      std::int64_t status = 0;
      if (item["status"].get_int64().get(status) == simdjson::SUCCESS)
        entry.status = static_cast<int>(status);
      simdjson::dom::object headers;
      REQUIRE(item["headers"].get_object().get(headers) == simdjson::SUCCESS);
      for (auto field : headers) {
        std::string name(field.key);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        if (name == "x-dashscope-async") entry.async_header = true;
        if (name == "content-type") entry.content_type = text_or_empty(field.value);
        if (name == "authorization")
          entry.authorization_redacted = text_or_empty(field.value) == "<redacted>";
      }
      out.push_back(std::move(entry));
    }
    return out;
  }

 private:
  void write_file(const std::string& name, const std::string& bytes) {
    std::ofstream(files_ / name, std::ios::binary) << bytes;
  }

  void write_images() {
    write_file("face.png", png(800, 800));
    write_file("noface.png", png(800, 800));
    write_file("face.jpg", jpeg(1024, 768));
    write_file("face.bmp", bmp(800, 600));
    write_file("face.webp", webp(640, 480));
    write_file("small.png", png(300, 300));
    write_file("wide.png", png(3000, 1000));
    write_file("anim.gif", gif(800, 800));
    // For the header fetch: followed by image data, as a real file is.
    write_file("fetch.png", png(800, 800) + std::string(4096, '\0'));
  }

  void start() {
    const std::string source_root = environment("FACEGATE_SOURCE_ROOT");
    REQUIRE_MESSAGE(!source_root.empty(),
                    "FACEGATE_SOURCE_ROOT is not set (run through meson test)");
    const std::string script = source_root + "/tests/servers/fake_dashscope.py";
    const std::string python =
        std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    int pipe_fds[2];
    REQUIRE(pipe(pipe_fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    const std::string key(kKey), files = files_.string();
    std::vector<std::string> args = {python, script, "--key", key, "--port", "0", "--files", files};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int spawned =
        posix_spawnp(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    REQUIRE_MESSAGE(spawned == 0, "cannot start " << python);
    output_ = fdopen(pipe_fds[0], "r");
    char line[64] = {};
    REQUIRE_MESSAGE(fgets(line, sizeof line, output_) != nullptr,
                    "the fake did not report its port");
    REQUIRE(std::sscanf(line, "PORT %d", &port_) == 1);
  }

  std::filesystem::path files_;
  pid_t pid_ = -1;
  FILE* output_ = nullptr;
  int port_ = 0;
};

FakeDashScope& fake() {
  static FakeDashScope instance;
  instance.reset();
  return instance;
}

DetectOptions fast_options(const FakeDashScope& server) {
  DetectOptions options;
  options.base_url = server.base_url();
  options.backoff_base = 50ms;
  options.backoff_cap = 200ms;
  options.max_retry_after = 3s;
  options.connect_timeout = 2000ms;
  options.request_timeout = 5000ms;
  // The fake stamps an arrival from a Python thread; on a loaded machine (load 10 on 2 cores
  // while this was written) the stamp lags by tens of milliseconds, more than the default
  // margin absorbs.
  options.rate_window_margin = 250ms;
  return options;
}

// Runs one batch on a fresh loop and client; results in submission order.
struct Submission {
  std::string model;
  std::string image_url;
  std::vector<Parameter> parameters = {};
};

std::vector<DetectResult> run_batch(const std::vector<Submission>& batch,
                                    const DetectOptions& options, std::string_view key = kKey) {
  NetworkLoop loop;
  DetectClient client(loop, ApiKey(key), options);
  std::vector<DetectResult> results(batch.size());
  std::vector<int> calls(batch.size(), 0);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    client.submit(model(batch[i].model), batch[i].image_url, batch[i].parameters,
                  [&, i](DetectResult result) {
                    ++calls[i];
                    results[i] = std::move(result);
                  });
  }
  loop.run();
  CHECK(client.pending() == 0);
  for (std::size_t i = 0; i < batch.size(); ++i) CHECK_MESSAGE(calls[i] == 1, batch[i].image_url);
  return results;
}

DetectResult run_one(const Submission& submission, const DetectOptions& options,
                     std::string_view key = kKey) {
  return run_batch({submission}, options, key).front();
}

std::size_t requests_for(const std::vector<LogEntry>& log, std::string_view image_url) {
  return static_cast<std::size_t>(std::count_if(
      log.begin(), log.end(), [&](const LogEntry& e) { return e.image_url == image_url; }));
}

// Every text of a result, to look for the key in.
std::string all_text(const DetectResult& result) {
  return std::string(detect_outcome_name(result.outcome)) + "|" + result.code + "|" +
         result.message + "|" + result.request_id + "|" + result.bodystyle + "|" + result.detail;
}

}  // namespace

// =============================================================================================
// The request

TEST_CASE("request: URL, headers and body per model") {
  const std::string base = "https://example.test/api/v1";
  SUBCASE("wan2.2-s2v-detect has no parameters object") {
    const auto request =
        build_detect_request(model("wan2.2-s2v-detect"), base + "/", "https://img.test/a.jpg");
    CHECK(request.method == "POST");
    CHECK(request.url == base + "/services/aigc/image2video/face-detect");
    CHECK(request.headers == std::vector<HttpHeader>{{"Content-Type", "application/json"}});
    CHECK(request.body ==
          R"({"model":"wan2.2-s2v-detect","input":{"image_url":"https://img.test/a.jpg"}})");
  }
  SUBCASE("emo-detect-v1 sends its default ratio, or the one given") {
    const auto& emo = model("emo-detect-v1");
    CHECK(
        build_detect_request(emo, base, "https://img.test/a.jpg").body ==
        R"({"model":"emo-detect-v1","input":{"image_url":"https://img.test/a.jpg"},"parameters":{"ratio":"1:1"}})");
    const std::vector<Parameter> half_body = {{"ratio", "3:4"}, {"unknown", "x"}};
    CHECK(
        build_detect_request(emo, base, "https://img.test/a.jpg", half_body).body ==
        R"({"model":"emo-detect-v1","input":{"image_url":"https://img.test/a.jpg"},"parameters":{"ratio":"3:4"}})");
  }
  SUBCASE("emoji-detect-v1's required ratio has one allowed value, which is sent") {
    const auto request =
        build_detect_request(model("emoji-detect-v1"), base, "https://img.test/a.jpg");
    CHECK(
        request.body ==
        R"({"model":"emoji-detect-v1","input":{"image_url":"https://img.test/a.jpg"},"parameters":{"ratio":"1:1"}})");
  }
  SUBCASE("animate-anyone uses the aa-detect endpoint") {
    CHECK(build_detect_request(model("animate-anyone-detect-gen2"), base, "https://img.test/a.jpg")
              .url == base + "/services/aigc/image2video/aa-detect");
  }
  SUBCASE("an oss:// image asks the service to resolve it") {
    const auto request =
        build_detect_request(model("wan2.2-s2v-detect"), base, "oss://bucket/a.jpg");
    CHECK(request.headers.size() == 2);
    CHECK(request.headers[1] == HttpHeader{"X-DashScope-OssResourceResolve", "enable"});
  }
  SUBCASE("strings are JSON-escaped") {
    const auto request =
        build_detect_request(model("wan2.2-s2v-detect"), base, "https://img.test/a\"b\\c.jpg");
    CHECK(request.body.find(R"("https://img.test/a\"b\\c.jpg")") != std::string::npos);
  }
  SUBCASE("never X-DashScope-Async, never Authorization in the request object") {
    for (const auto& rules : builtin_rules().rules.models) {
      for (const auto& header :
           build_detect_request(rules, base, "https://img.test/a.jpg").headers) {
        CHECK(header.name != "X-DashScope-Async");
        CHECK(header.name != "Authorization");
      }
    }
  }
}

TEST_CASE("dry run: the key is shown as sk-***") {
  const auto request = build_detect_request(model("emo-detect-v1"), "https://example.test/api/v1",
                                            "https://img.test/a.jpg");
  CHECK(
      render_dry_run(request, true) ==
      "POST https://example.test/api/v1/services/aigc/image2video/face-detect\n"
      "Authorization: Bearer sk-***\n"
      "Content-Type: application/json\n"
      "\n"
      R"({"model":"emo-detect-v1","input":{"image_url":"https://img.test/a.jpg"},"parameters":{"ratio":"1:1"}})"
      "\n");
  CHECK(render_dry_run(request, false).find("Authorization: Bearer <no API key") !=
        std::string::npos);
  const std::string json = dry_run_json(request, true);
  CHECK(
      json ==
      R"({"method":"POST","url":"https://example.test/api/v1/services/aigc/image2video/face-detect",)"
      R"("headers":{"Authorization":"Bearer sk-***","Content-Type":"application/json"},)"
      R"("body":{"model":"emo-detect-v1","input":{"image_url":"https://img.test/a.jpg"},"parameters":{"ratio":"1:1"}}})");
  simdjson::dom::parser parser;
  simdjson::dom::element parsed;
  CHECK(parser.parse(json).get(parsed) == simdjson::SUCCESS);

  NetworkLoop loop;
  DetectOptions options;
  options.base_url = "http://127.0.0.1:9/api/v1/";
  DetectClient client(loop, ApiKey(kKey), options);
  CHECK(client.base_url() == "http://127.0.0.1:9/api/v1");
  const auto from_client = client.request_for(model("wan2.2-s2v-detect"), "https://img.test/a.jpg");
  CHECK(from_client.url == "http://127.0.0.1:9/api/v1/services/aigc/image2video/face-detect");
  CHECK(render_dry_run(from_client, true).find(kKey) == std::string::npos);
}

// =============================================================================================
// Credentials and base URL

namespace {
// Sets or unsets environment variables for one scope, restoring them after.
class ScopedEnvironment {
 public:
  void set(const char* name, const char* value) {
    if (saved_.find(name) == saved_.end())
      saved_[name] =
          std::getenv(name) ? std::optional<std::string>(std::getenv(name)) : std::nullopt;
    if (value == nullptr) {
      unsetenv(name);
    } else {
      setenv(name, value, 1);
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};
}  // namespace

TEST_CASE("API key: environment, key file, default file; trimmed; never in errors") {
  ScopedEnvironment env;
  const auto dir =
      std::filesystem::temp_directory_path() / ("facegate-key-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / ".dashscope");
  const auto key_file = dir / "key.txt";
  std::ofstream(key_file) << "  \n sk-from-file-1234 \r\n";

  env.set("DASHSCOPE_API_KEY", "  sk-from-env-5678\n");
  auto loaded = load_api_key();
  CHECK(loaded.ok());
  CHECK(loaded.key.reveal() == "sk-from-env-5678");
  CHECK(loaded.source == "DASHSCOPE_API_KEY");

  env.set("DASHSCOPE_API_KEY", "   ");  // blank: as if unset
  env.set("DASHSCOPE_API_KEY_FILE_PATH", key_file.c_str());
  loaded = load_api_key();
  CHECK(loaded.ok());
  CHECK(loaded.key.reveal() == "sk-from-file-1234");
  CHECK(loaded.source == key_file.string());

  env.set("DASHSCOPE_API_KEY", nullptr);
  env.set("DASHSCOPE_API_KEY_FILE_PATH", nullptr);
  env.set("HOME", dir.c_str());
  std::ofstream(dir / ".dashscope" / "api_key") << "sk-home-9999\n";
  loaded = load_api_key();
  CHECK(loaded.key.reveal() == "sk-home-9999");

  std::filesystem::remove(dir / ".dashscope" / "api_key");
  loaded = load_api_key();
  CHECK_FALSE(loaded.ok());
  CHECK(loaded.key.empty());
  CHECK(loaded.error.find("api_key") != std::string::npos);

  std::ofstream(key_file) << "sk-inner space-secret\n";
  env.set("DASHSCOPE_API_KEY_FILE_PATH", key_file.c_str());
  loaded = load_api_key();
  CHECK_FALSE(loaded.ok());
  CHECK(loaded.error.find("secret") == std::string::npos);

  std::filesystem::remove_all(dir);
}

TEST_CASE("ApiKey::scrub replaces every occurrence") {
  const ApiKey key(" sk-abc ");
  CHECK(key.reveal() == "sk-abc");
  CHECK(key.scrub("x sk-abc y sk-abcsk-abc") == "x sk-*** y sk-***sk-***");
  CHECK(ApiKey().scrub("sk-abc") == "sk-abc");
}

TEST_CASE("ApiKey::scrub hides any 8 characters of the key in a row, in any letter case") {
  const ApiKey key("sk-4f1d2c9a7b3e");
  CHECK(key.scrub("key SK-4F1D2C9A7B3E denied") == "key sk-*** denied");  // upper-cased
  CHECK(key.scrub("prefix sk-4f1d2 ...") == "prefix sk-*** ...");          // its first 8
  CHECK(key.scrub("tail:2C9a7B3e.") == "tail:sk-***.");                    // its last 8, mixed
  CHECK(key.scrub("xx1d2c9a7bxx") == "xxsk-***xx");                        // from its middle
  CHECK(key.scrub("sk-4f1d2 sk-4f1d") == "sk-*** sk-4f1d");  // 7 in a row is not the key
  CHECK(key.scrub("nothing here") == "nothing here");
  // Whatever the text, no 8-character run of the key is left (an exhaustive sweep).
  const std::string secret(key.reveal());
  for (std::size_t from = 0; from + 8 <= secret.size(); ++from) {
    std::string upper = secret.substr(from, 8);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    // '_', '|' and '#' are not in the key: they cannot extend a run.
    const std::string text = std::string(1, '_').append(secret, from, 8).append("|" + upper) + "#";
    const std::string scrubbed = key.scrub(text);
    CAPTURE(from);
    CHECK(scrubbed == "_sk-***|sk-***#");
  }
}

TEST_CASE("API key file: a directory says so; a FIFO is read without blocking, with a deadline") {
  ScopedEnvironment env;
  env.set("DASHSCOPE_API_KEY", nullptr);
  const auto dir =
      std::filesystem::temp_directory_path() / ("facegate-keyfifo-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "a-directory");
  env.set("DASHSCOPE_API_KEY_FILE_PATH", (dir / "a-directory").c_str());
  ApiKeyResult loaded = load_api_key();
  CHECK_FALSE(loaded.ok());
  CHECK(loaded.error.find("is a directory") != std::string::npos);

  const auto fifo = dir / "key.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  env.set("DASHSCOPE_API_KEY_FILE_PATH", fifo.c_str());
  std::thread writer([&] {  // as `<(pass show dashscope)` would
    std::ofstream(fifo) << "sk-through-a-fifo-42\n";
  });
  loaded = load_api_key();
  writer.join();
  CHECK(loaded.ok());
  CHECK(loaded.key.reveal() == "sk-through-a-fifo-42");

  // Nobody writes: an error after the deadline (5 s), not a hang.
  const auto started = std::chrono::steady_clock::now();
  loaded = load_api_key();
  CHECK_FALSE(loaded.ok());
  CHECK(loaded.error.find("no key within") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
  std::filesystem::remove_all(dir);
}

TEST_CASE("base URL: explicit, then DASHSCOPE_HTTP_BASE_URL, then the documented default") {
  ScopedEnvironment env;
  env.set("DASHSCOPE_HTTP_BASE_URL", nullptr);
  CHECK(dashscope_base_url() == "https://dashscope.aliyuncs.com/api/v1");
  env.set("DASHSCOPE_HTTP_BASE_URL", "https://dashscope-intl.aliyuncs.com/api/v1/");
  CHECK(dashscope_base_url() == "https://dashscope-intl.aliyuncs.com/api/v1");
  CHECK(dashscope_base_url("http://127.0.0.1:1/api/v1") == "http://127.0.0.1:1/api/v1");
}

TEST_CASE("regions: the documented table, the default first and the default base URL's") {
  const std::span<const DashScopeRegion> regions = dashscope_regions();
  REQUIRE(regions.size() == 4);
  std::vector<std::string> rows;
  for (const DashScopeRegion& region : regions) {
    rows.push_back(std::string(region.name) + " " + std::string(region.base_url));
    CHECK_FALSE(region.label.empty());
    CHECK(find_region(region.name) == &region);
  }
  CHECK(rows == std::vector<std::string>{
                    "cn-beijing https://dashscope.aliyuncs.com/api/v1",
                    "ap-southeast-1 https://dashscope-intl.aliyuncs.com/api/v1",
                    "us https://dashscope-us.aliyuncs.com/api/v1",
                    "cn-hongkong https://cn-hongkong.dashscope.aliyuncs.com/api/v1"});
  CHECK(regions.front().name == kDefaultRegion);
  CHECK(regions.front().base_url == kDefaultDashScopeBaseUrl);
  CHECK(find_region("ap-southeast-1")->label == "Singapore");
  CHECK(find_region("") == nullptr);
  CHECK(find_region("US") == nullptr);
  CHECK(find_region("cn-beijing ") == nullptr);
}

TEST_CASE("base URL: explicit, then DASHSCOPE_HTTP_BASE_URL, then the region's") {
  ScopedEnvironment env;
  env.set("DASHSCOPE_HTTP_BASE_URL", nullptr);
  CHECK(dashscope_base_url("", "") == kDefaultDashScopeBaseUrl);
  CHECK(dashscope_base_url("", "cn-beijing") == kDefaultDashScopeBaseUrl);
  CHECK(dashscope_base_url("", "ap-southeast-1") == "https://dashscope-intl.aliyuncs.com/api/v1");
  CHECK(dashscope_base_url("", "us") == "https://dashscope-us.aliyuncs.com/api/v1");
  CHECK(dashscope_base_url("", "cn-hongkong") ==
        "https://cn-hongkong.dashscope.aliyuncs.com/api/v1");
  CHECK(dashscope_base_url("", "eu-central-1").empty());  // no such region: no URL
  CHECK(dashscope_base_url("http://127.0.0.1:1/api/v1/", "us") == "http://127.0.0.1:1/api/v1");
  env.set("DASHSCOPE_HTTP_BASE_URL", "");  // set but empty: as if unset
  CHECK(dashscope_base_url("", "us") == "https://dashscope-us.aliyuncs.com/api/v1");
  env.set("DASHSCOPE_HTTP_BASE_URL", "http://127.0.0.1:2/api/v1");
  CHECK(dashscope_base_url("", "us") == "http://127.0.0.1:2/api/v1");
  CHECK(dashscope_base_url("", "eu-central-1") == "http://127.0.0.1:2/api/v1");
  CHECK(dashscope_base_url("http://127.0.0.1:1/api/v1", "us") == "http://127.0.0.1:1/api/v1");

  // The client takes DetectOptions::region.
  env.set("DASHSCOPE_HTTP_BASE_URL", nullptr);
  NetworkLoop loop;
  DetectOptions singapore;
  singapore.region = "ap-southeast-1";
  CHECK(DetectClient(loop, ApiKey(kKey), singapore).base_url() ==
        "https://dashscope-intl.aliyuncs.com/api/v1");
  CHECK(DetectClient(loop, ApiKey(kKey), DetectOptions{}).base_url() == kDefaultDashScopeBaseUrl);
  CHECK(DetectClient(loop, ApiKey(kKey), singapore)
            .request_for(model("liveportrait-detect"), "https://images.example/a.jpg")
            .url == "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/image2video/face-detect");
}

// =============================================================================================
// Answers, one shape at a time (the vendor's samples, docs/service.md#sources, reformatted)

TEST_CASE("answers: documented pass and fail shapes are normalized") {
  SUBCASE("wan2.2-s2v-detect") {
    auto r = parse_detect_response(
        ResponseShape::check_pass_humanoid, 200,
        R"({"output":{"check_pass":true,"humanoid":true},"usage":{"image_count":1},"request_id":"c56f62df"})");
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.passed);
    CHECK(r.billed == 1);
    CHECK(r.humanoid == true);
    CHECK(r.request_id == "c56f62df");
    CHECK_FALSE(r.billing_uncertain());
    r = parse_detect_response(
        ResponseShape::check_pass_humanoid, 200,
        R"({"output":{"check_pass":false,"code":"","message":""},"usage":{"image_count":1},"request_id":"x"})");
    CHECK(r.outcome == DetectOutcome::failed_check);
    CHECK_FALSE(r.passed);
    CHECK(r.billed == 1);
    CHECK_FALSE(r.humanoid.has_value());
  }
  SUBCASE("emo-detect-v1") {
    auto r = parse_detect_response(
        ResponseShape::check_pass_bbox, 200,
        R"({"output":{"check_pass":true,"face_bbox":[302,286,610,593],"ext_bbox":[71,9,840,778]},"usage":{"image_count":1},"request_id":"c"})");
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.face_bbox == BoundingBox{302, 286, 610, 593});
    CHECK(r.ext_bbox == BoundingBox{71, 9, 840, 778});
    r = parse_detect_response(
        ResponseShape::check_pass_bbox, 200,
        R"({"output":{"check_pass":false,"code":"InvalidFile.NoHuman","message":"no face"},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::failed_check);
    CHECK(r.code == "InvalidFile.NoHuman");
    CHECK(r.message == "no face");
  }
  SUBCASE("liveportrait-detect: pass, not check_pass") {
    auto r = parse_detect_response(
        ResponseShape::pass_message, 200,
        R"({"output":{"pass":true,"message":"success"},"usage":{"image_count":1},"request_id":"c"})");
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.message == "success");
    r = parse_detect_response(
        ResponseShape::pass_message, 200,
        R"({"output":{"pass":false,"message":"No human face detected."},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::failed_check);
    CHECK(r.message == "No human face detected.");
    // The LivePortrait page's own sample is not JSON: a missing comma and single quotes.
    r = parse_detect_response(
        ResponseShape::pass_message, 200,
        "{\"output\":{\"pass\": true\n\"message\": 'success'},\"usage\":{\"image_count\":1}}");
    CHECK(r.outcome == DetectOutcome::bad_response);
    CHECK_FALSE(r.passed);
    CHECK(r.billing_uncertain());
  }
  SUBCASE("emoji-detect-v1: bbox_face or code, no check_pass") {
    auto r = parse_detect_response(
        ResponseShape::bbox_face, 200,
        R"({"output":{"bbox_face":[1,2,3,4],"ext_bbox_face":[0,0,9,9]},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.face_bbox == BoundingBox{1, 2, 3, 4});
    CHECK(r.ext_bbox == BoundingBox{0, 0, 9, 9});
    r = parse_detect_response(
        ResponseShape::bbox_face, 200,
        R"({"output":{"face_bbox":[1,2,3,4]},"usage":{"image_count":1}})");  // the overview's name
    CHECK(r.outcome == DetectOutcome::passed);
    r = parse_detect_response(
        ResponseShape::bbox_face, 200,
        R"({"output":{"code":"InvalidFile.FacePose","message":"pose"},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::failed_check);
    CHECK(r.code == "InvalidFile.FacePose");
    r = parse_detect_response(ResponseShape::bbox_face, 200,
                              R"({"output":{},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::bad_response);
    CHECK(r.detail.find("output.bbox_face") != std::string::npos);
  }
  SUBCASE("animate-anyone-detect-gen2: bodystyle, reason") {
    auto r = parse_detect_response(
        ResponseShape::check_pass_bodystyle, 200,
        R"({"output":{"check_pass":true,"bodystyle":"full"},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.bodystyle == "full");
    r = parse_detect_response(
        ResponseShape::check_pass_bodystyle, 200,
        R"({"output":{"check_pass":false,"reason":"no body"},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::failed_check);
    CHECK(r.message == "no body");
  }
  SUBCASE("a failed check under HTTP 400 with output.code") {
    auto r = parse_detect_response(
        ResponseShape::bbox_face, 400,
        R"({"output":{"code":"InvalidFile.FacePose","message":"pose"},"usage":{"image_count":1},"request_id":"r"})");
    CHECK(r.outcome == DetectOutcome::failed_check);
    CHECK(r.billed == 1);
    CHECK(r.http_status == 400);
    r = parse_detect_response(ResponseShape::check_pass_humanoid, 400,
                              R"({"output":{"check_pass":true},"usage":{"image_count":1}})");
    CHECK(r.outcome == DetectOutcome::bad_response);  // a pass under 400 contradicts itself
    CHECK_FALSE(r.passed);
  }
  SUBCASE("a request failure is not billed") {
    auto r = parse_detect_response(
        ResponseShape::check_pass_bbox, 401,
        R"({"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"fb53c4ec"})");
    CHECK(r.outcome == DetectOutcome::request_error);
    CHECK(r.code == "InvalidApiKey");
    CHECK(r.message == "Invalid API-key provided.");
    CHECK(r.request_id == "fb53c4ec");
    CHECK(r.billed == 0);
    CHECK_FALSE(r.billing_uncertain());
    r = parse_detect_response(
        ResponseShape::pass_message, 400,
        R"({"code":"InvalidParameter.UnsupportedFileFormat","message":"Input files format not supported.","request_id":"788b30fe"})");
    CHECK(r.outcome == DetectOutcome::request_error);
    r = parse_detect_response(ResponseShape::pass_message, 502, "<html>bad gateway</html>");
    CHECK(r.outcome == DetectOutcome::request_error);
    CHECK(r.http_status == 502);
    CHECK(r.detail.find("not valid JSON") != std::string::npos);
  }
  SUBCASE("a completed check without usage still counts one billed image") {
    auto r = parse_detect_response(ResponseShape::pass_message, 200, R"({"output":{"pass":true}})");
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.billed == 1);
    CHECK(r.detail.find("image_count") != std::string::npos);
  }
}

TEST_CASE("answers: malformed, truncated and wrongly typed JSON are clear errors") {
  struct Case {
    ResponseShape shape;
    const char* body;
    const char* detail;  // a fragment of the expected detail
  };
  const Case cases[] = {
      {ResponseShape::check_pass_humanoid, "", "not valid JSON"},
      {ResponseShape::check_pass_humanoid, "not json", "not valid JSON"},
      {ResponseShape::check_pass_humanoid, R"({"output": {check_pass: true}})", "not valid JSON"},
      {ResponseShape::check_pass_humanoid, "[1,2]", "not a JSON object"},
      {ResponseShape::check_pass_humanoid,
       R"({"output":{"check_pass":"true"},"usage":{"image_count":1}})",
       "output.check_pass is not a boolean"},
      {ResponseShape::check_pass_humanoid, R"({"output":{"check_pass":1}})",
       "output.check_pass is not a boolean"},
      {ResponseShape::check_pass_humanoid, R"({"output":{"check_pass":true,"humanoid":"yes"}})",
       "output.humanoid is not a boolean"},
      {ResponseShape::check_pass_humanoid, R"({"output":{"humanoid":true}})",
       "output.check_pass is missing"},
      {ResponseShape::check_pass_humanoid, R"({"output":{"check_pass":null}})",
       "output.check_pass is missing"},
      {ResponseShape::check_pass_humanoid,
       R"({"output":{"check_pass":true},"usage":{"image_count":"1"}})",
       "usage.image_count is not a non-negative integer"},
      {ResponseShape::check_pass_humanoid,
       R"({"output":{"check_pass":true},"usage":{"image_count":-1}})", "usage.image_count"},
      {ResponseShape::check_pass_humanoid, R"({"output":{"check_pass":true},"usage":[1]})",
       "usage is not an object"},
      {ResponseShape::check_pass_humanoid, R"({"output":"passed"})", "output is not an object"},
      {ResponseShape::check_pass_humanoid, R"({"output":{"check_pass":true},"request_id":7})",
       "request_id is not a string"},
      {ResponseShape::check_pass_bbox, R"({"output":{"check_pass":true,"face_bbox":[1,2,3]}})",
       "output.face_bbox is not an array of 4 integers"},
      {ResponseShape::check_pass_bbox, R"({"output":{"check_pass":true,"face_bbox":"1,2,3,4"}})",
       "output.face_bbox"},
      {ResponseShape::check_pass_bbox, R"({"output":{"check_pass":true,"ext_bbox":[1,2,3.5,4]}})",
       "output.ext_bbox"},
      {ResponseShape::pass_message, R"({"output":{"check_pass":true}})", "output.pass is missing"},
      {ResponseShape::pass_message, R"({"output":{"pass":true,"message":5}})",
       "output.message is not a string"},
      {ResponseShape::bbox_face, R"({"output":{"bbox_face":"[1,2,3,4]"}})", "output.bbox_face"},
      {ResponseShape::check_pass_bodystyle, R"({"output":{"check_pass":true,"bodystyle":1}})",
       "output.bodystyle"},
      {ResponseShape::check_pass_humanoid, R"({"request_id":"x"})", "neither output nor code"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    const auto r = parse_detect_response(c.shape, 200, c.body);
    CHECK(r.outcome == DetectOutcome::bad_response);
    CHECK_FALSE(r.passed);
    CHECK(r.billed == 0);
    CHECK(r.billing_uncertain());
    CHECK(r.detail.find(c.detail) != std::string::npos);
  }
}

TEST_CASE("answers: no prefix of a pass reads as passed") {
  const std::string pass =
      R"({"output":{"check_pass":true,"face_bbox":[302,286,610,593],"ext_bbox":[71,9,840,778]},"usage":{"image_count":1},"request_id":"c56f62df"})";
  for (std::size_t length = 0; length < pass.size(); ++length) {
    CAPTURE(length);
    const auto r = parse_detect_response(ResponseShape::check_pass_bbox, 200,
                                         std::string_view(pass).substr(0, length));
    CHECK(r.outcome == DetectOutcome::bad_response);
    CHECK_FALSE(r.passed);
  }
  CHECK(parse_detect_response(ResponseShape::check_pass_bbox, 200, pass).passed);
}

// =============================================================================================
// Retry policy and rate limiter (pure)

TEST_CASE("Retry-After: delta seconds and HTTP dates") {
  const auto now =
      std::chrono::system_clock::from_time_t(1'700'000'000);  // Tue, 14 Nov 2023 22:13:20 GMT
  using detail::parse_retry_after;
  CHECK(parse_retry_after("120", now) == 120s);
  CHECK(parse_retry_after(" 3 ", now) == 3s);
  CHECK(parse_retry_after("0", now) == 0s);
  CHECK(parse_retry_after("Tue, 14 Nov 2023 22:13:25 GMT", now) == 5s);       // IMF-fixdate
  CHECK(parse_retry_after("Tuesday, 14-Nov-23 22:13:30 GMT", now) == 10s);    // RFC 850
  CHECK(parse_retry_after("Tue Nov 14 22:13:21 2023", now) == 1s);            // asctime
  CHECK(parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0s);       // in the past
  CHECK(parse_retry_after("99999999999999999999999", now).value() >= 3600s);  // saturates
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
  CHECK_FALSE(parse_retry_after("-5", now).has_value());
}

TEST_CASE("retry decisions follow the spec's error table") {
  DetectOptions options;
  options.backoff_base = 100ms;
  options.backoff_cap = 1000ms;
  options.max_retry_after = 60s;
  auto refused = [](int status, std::string code) {
    DetectResult r;
    r.outcome = DetectOutcome::request_error;
    r.http_status = status;
    r.code = std::move(code);
    return r;
  };
  auto of = [](DetectOutcome outcome) {
    DetectResult r;
    r.outcome = outcome;
    return r;
  };
  using detail::decide_retry;
  CHECK(decide_retry(refused(429, "Throttling.RateQuota"), 1, std::nullopt, options, 0).retry);
  CHECK(decide_retry(refused(500, "InternalError"), 1, std::nullopt, options, 0).retry);
  CHECK(decide_retry(refused(503, "ModelUnavailable"), 2, std::nullopt, options, 0).retry);
  CHECK(decide_retry(refused(502, ""), 1, std::nullopt, options, 0).retry);
  CHECK(decide_retry(refused(400, "InvalidURL.Timeout"), 1, std::nullopt, options, 0).retry);
  // Named variables, not a structured binding: clang 14 cannot capture bindings (CAPTURE's lambda).
  for (const auto& refusal :
       std::vector<std::pair<int, std::string>>{{400, "InvalidParameter"},
                                                {400, "InvalidURL"},
                                                {400, "InvalidURL.ConnectionRefused"},
                                                {400, "DataInspectionFailed"},
                                                {400, "Arrearage"},
                                                {401, "InvalidApiKey"},
                                                {403, "AccessDenied"},
                                                {404, "ModelNotFound"}}) {
    const int status = refusal.first;
    const std::string& code = refusal.second;
    CAPTURE(code);
    const auto decision = decide_retry(refused(status, code), 1, std::nullopt, options, 0);
    CHECK_FALSE(decision.retry);
    CHECK(decision.reason.find("not retryable") != std::string::npos);
  }
  CHECK(decide_retry(of(DetectOutcome::transport_error), 1, std::nullopt, options, 0).retry);
  CHECK_FALSE(decide_retry(of(DetectOutcome::possibly_billed), 1, std::nullopt, options, 0).retry);
  CHECK_FALSE(decide_retry(of(DetectOutcome::bad_response), 1, std::nullopt, options, 0).retry);
  CHECK_FALSE(decide_retry(of(DetectOutcome::passed), 1, std::nullopt, options, 0).retry);
  CHECK_FALSE(decide_retry(of(DetectOutcome::failed_check), 1, std::nullopt, options, 0).retry);
  CHECK_FALSE(
      decide_retry(refused(503, ""), 3, std::nullopt, options, 0).retry);  // 3 attempts made
  options.retry_ambiguous = true;
  CHECK(decide_retry(of(DetectOutcome::possibly_billed), 1, std::nullopt, options, 0).retry);

  SUBCASE("Retry-After wins over backoff and is clamped to max_retry_after") {
    CHECK(decide_retry(refused(503, ""), 1, 7s, options, 12345).delay == 7000ms);
    CHECK(decide_retry(refused(429, ""), 1, 86400s, options, 0).delay == 60000ms);
  }
  SUBCASE("full jitter stays within min(cap, base * 2^(n-1))") {
    const std::uint64_t randoms[] = {0, 1, 99, 100, 12345, ~std::uint64_t{0}};
    const std::chrono::milliseconds ceilings[] = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms};
    options.max_attempts = 10;
    for (std::uint32_t attempt = 1; attempt <= 6; ++attempt) {
      for (const auto random : randoms) {
        const auto decision =
            decide_retry(refused(500, ""), attempt, std::nullopt, options, random);
        CHECK(decision.delay <= ceilings[attempt - 1]);
        CHECK(decision.delay >= 0ms);
      }
    }
    // The draw reaches the ceiling itself.
    CHECK(decide_retry(refused(500, ""), 1, std::nullopt, options, 100).delay == 100ms);
  }
}

TEST_CASE("rate limiter: at most N requests written in any window") {
  using Clock = detail::RateLimiter::Clock;
  detail::RateLimiter limiter(2, 1s);
  const auto t0 = Clock::now();
  const auto a = limiter.try_acquire(t0);
  const auto b = limiter.try_acquire(t0);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK_FALSE(limiter.try_acquire(t0).has_value());
  CHECK_FALSE(limiter.next_release().has_value());  // both wait for their request to be written
  limiter.sent(*a, t0 + 100ms);
  CHECK(limiter.next_release() == t0 + 1100ms);
  CHECK_FALSE(limiter.try_acquire(t0 + 1099ms).has_value());
  CHECK(limiter.try_acquire(t0 + 1100ms) == a);
  limiter.unused(*b, t0 + 200ms);  // never written: back at once
  CHECK(limiter.try_acquire(t0 + 200ms) == b);
}

// =============================================================================================
// Against the fake service

TEST_CASE("fake: a mixed batch: exact requests, RPS windows, shapes, retries") {
  auto& server = fake();
  const auto options = fast_options(server);
  struct Expected {
    Submission submission;
    DetectOutcome outcome;
    std::size_t requests;  // arrivals at the fake for this image
    std::string code = {};
  };
  auto url = [&](const std::string& name, const std::string& model_name,
                 const std::string& extra = "") {
    return server.image(name + "?m=" + model_name + extra);
  };
  const std::string wan = "wan2.2-s2v-detect", emo = "emo-detect-v1", live = "liveportrait-detect",
                    emoji = "emoji-detect-v1", aa = "animate-anyone-detect-gen2";
  const std::vector<Expected> expected = {
      {{wan, url("face.jpg", wan)}, DetectOutcome::passed, 1},
      {{wan, url("noface.png", wan)}, DetectOutcome::failed_check, 1, "InvalidFile.NoHuman"},
      {{wan, url("small.png", wan)}, DetectOutcome::request_error, 1, "InvalidFile.Resolution"},
      {{wan, url("face.png", wan, "&fault=503&times=1&retry_after=1")}, DetectOutcome::passed, 2},
      {{wan, url("face.png", wan, "&fault=timeout_url&times=1")}, DetectOutcome::passed, 2},
      {{emo, url("face.png", emo)}, DetectOutcome::passed, 1},
      {{emo, url("face.png", emo, "&half"), {{"ratio", "3:4"}}}, DetectOutcome::passed, 1},
      {{emo, url("noface.png", emo)}, DetectOutcome::failed_check, 1, "InvalidFile.NoHuman"},
      {{emo, url("small.png", emo)}, DetectOutcome::request_error, 1, "InvalidFile.Resolution"},
      {{emo, url("face.png", emo, "&fault=429&times=2")}, DetectOutcome::passed, 3},
      {{live, url("face.webp", live)}, DetectOutcome::passed, 1},
      {{live, url("noface.png", live)}, DetectOutcome::failed_check, 1},
      {{live, url("wide.png", live)}, DetectOutcome::request_error, 1, "InvalidFile.AspectRatio"},
      {{live, url("face.png", live, "&fault=500&times=1")}, DetectOutcome::passed, 2},
      {{emoji, url("face.bmp", emoji)}, DetectOutcome::passed, 1},
      {{emoji, url("noface.png", emoji)}, DetectOutcome::failed_check, 1, "InvalidFile.FacePose"},
      {{emoji, url("anim.gif", emoji)},
       DetectOutcome::request_error,
       1,
       "InvalidParameter.UnsupportedFileFormat"},
      {{emoji, url("face.png", emoji, "&fault=500&times=1")}, DetectOutcome::passed, 2},
      {{aa, url("face.png", aa)}, DetectOutcome::passed, 1},
      {{aa, url("noface.png", aa)}, DetectOutcome::failed_check, 1},
      {{aa, url("face.webp", aa)},
       DetectOutcome::request_error,
       1,
       "InvalidParameter.UnsupportedFileFormat"},
      {{aa, url("noface.png", aa, "&fault=fail400")},
       DetectOutcome::failed_check,
       1,
       "InvalidFile.NoHuman"},
      {{wan, url("face.png", wan, "&fault=503&times=1&retry_after_date=2")},
       DetectOutcome::passed,
       2},
  };
  std::vector<Submission> batch;
  for (const auto& e : expected) batch.push_back(e.submission);
  const auto results = run_batch(batch, options);
  const auto log = server.log();

  std::size_t total_requests = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& e = expected[i];
    const auto& r = results[i];
    CAPTURE(e.submission.image_url);
    CAPTURE(r.detail);
    CHECK(r.outcome == e.outcome);
    CHECK(r.passed == (e.outcome == DetectOutcome::passed));
    CHECK(r.attempts == e.requests);
    CHECK(requests_for(log, e.submission.image_url) == e.requests);
    CHECK_FALSE(r.request_id.empty());
    if (!e.code.empty()) CHECK(r.code == e.code);
    const bool completed =
        e.outcome == DetectOutcome::passed || e.outcome == DetectOutcome::failed_check;
    CHECK(r.billed == (completed ? 1u : 0u));
    CHECK_FALSE(r.billing_uncertain());
    total_requests += e.requests;
  }
  // Exactly the requested images arrived, each as often as expected, and nothing else.
  CHECK(log.size() == total_requests);

  {                                                     // each shape's fields are carried over
    CHECK(results[0].humanoid == true);                 // wan pass
    CHECK(results[1].message == "No human detected.");  // wan fail
    CHECK(results[5].face_bbox == BoundingBox{200, 200, 600, 600});  // emo pass, 800x800
    CHECK(results[5].ext_bbox == BoundingBox{0, 0, 800, 800});
    CHECK(results[10].message == "success");                          // liveportrait pass
    CHECK(results[11].message == "No human face detected.");          // liveportrait fail
    CHECK(results[14].face_bbox == BoundingBox{200, 150, 600, 450});  // emoji pass, 800x600
    CHECK(results[14].ext_bbox == BoundingBox{0, 0, 800, 600});
    CHECK(results[18].bodystyle == "half");                            // aa pass
    CHECK(results[19].message == "No complete human body detected.");  // aa fail (reason)
    CHECK(results[21].http_status == 400);                             // failed check as 400
  }
  {  // every request was well-formed and authorized
    for (const auto& entry : log) {
      CHECK(entry.auth == "valid");
      CHECK(entry.authorization_redacted);
      CHECK_FALSE(entry.async_header);
      CHECK(entry.content_type == "application/json");
    }
  }
  {  // no model ever exceeded its RPS in any 1-second window of arrivals
    std::map<std::string, std::vector<double>> arrivals;
    for (const auto& entry : log) arrivals[entry.model].push_back(entry.t);
    for (auto& model_arrivals : arrivals) {
      const std::string& name = model_arrivals.first;
      std::vector<double>& times = model_arrivals.second;
      CAPTURE(name);
      std::sort(times.begin(), times.end());
      const auto rps = model(name).rate.requests_per_second;
      for (std::size_t i = 0; i < times.size(); ++i) {
        const auto in_window =
            std::upper_bound(times.begin(), times.end(), times[i] + 1.0) - (times.begin() + i);
        CHECK(static_cast<std::uint32_t>(in_window) <= rps);
      }
    }
    for (const auto& entry : log)
      CHECK((entry.code != "Throttling.RateQuota" || entry.fault == "429"));
  }
  {  // Retry-After was honoured
    auto arrival_times = [&](const std::string& image_url) {
      std::vector<double> times;
      for (const auto& entry : log) {
        if (entry.image_url == image_url) times.push_back(entry.t);
      }
      return times;
    };
    const auto delta = arrival_times(expected[3].submission.image_url);  // Retry-After: 1
    REQUIRE(delta.size() == 2);
    CHECK(delta[1] - delta[0] >= 0.95);
    // An HTTP-date 2 s ahead, in whole seconds on both sides: at least 1 s.
    const auto date = arrival_times(expected[22].submission.image_url);
    REQUIRE(date.size() == 2);
    CHECK(date[1] - date[0] >= 0.95);
  }
}

TEST_CASE("fake: 400, 401 and 404 answers are sent exactly once") {
  auto& server = fake();
  const auto options = fast_options(server);
  const auto image = server.image("face.png");

  auto wrong_key = run_one({"wan2.2-s2v-detect", image + "?k"}, options, "sk-wrong-key");
  CHECK(wrong_key.outcome == DetectOutcome::request_error);
  CHECK(wrong_key.http_status == 401);
  CHECK(wrong_key.code == "InvalidApiKey");
  CHECK(wrong_key.attempts == 1);

  auto bad_ratio = run_one({"emo-detect-v1", image + "?r", {{"ratio", "3:5"}}}, options);
  CHECK(bad_ratio.outcome == DetectOutcome::request_error);
  CHECK(bad_ratio.http_status == 400);
  CHECK(bad_ratio.code == "InvalidParameter");
  CHECK(bad_ratio.attempts == 1);

  ModelRules unknown = model("wan2.2-s2v-detect");
  unknown.name = "no-such-detect";
  NetworkLoop loop;
  DetectClient client(loop, ApiKey(kKey), options);
  DetectResult not_found;
  client.submit(unknown, image + "?u", {}, [&](DetectResult r) { not_found = std::move(r); });
  loop.run();
  CHECK(not_found.outcome == DetectOutcome::request_error);
  CHECK(not_found.http_status == 404);
  CHECK(not_found.code == "ModelNotFound");
  CHECK(not_found.attempts == 1);

  const auto log = server.log();
  CHECK(log.size() == 3);
  CHECK(requests_for(log, image + "?k") == 1);
  CHECK(requests_for(log, image + "?r") == 1);
  CHECK(requests_for(log, image + "?u") == 1);
}

TEST_CASE("fake: throttling above the model's RPS is answered 429 and recovered") {
  auto& server = fake();
  auto options = fast_options(server);
  options.requests_per_second = 2;  // twice emoji-detect-v1's documented 1 RPS
  options.backoff_base = 1500ms;    // a retry lands outside the fake's 1-second window
  options.backoff_cap = 1500ms;
  const auto results = run_batch({{"emoji-detect-v1", server.image("face.png?a")},
                                  {"emoji-detect-v1", server.image("face.png?b")}},
                                 options);
  const auto log = server.log();
  const auto throttled = std::count_if(log.begin(), log.end(), [](const LogEntry& e) {
    return e.status == 429 && e.code == "Throttling.RateQuota";
  });
  CHECK(throttled >= 1);
  for (const auto& r : results) {
    // A retry drawn below 1 s by the jitter may be throttled again; 3 attempts bound it.
    CHECK((r.outcome == DetectOutcome::passed ||
           (r.outcome == DetectOutcome::request_error && r.code == "Throttling.RateQuota" &&
            r.attempts == 3)));
  }
  CHECK(log.size() == results[0].attempts + results[1].attempts);
}

TEST_CASE("fake: persistent 5xx gives up after max_attempts") {
  auto& server = fake();
  const auto options = fast_options(server);
  const auto image = server.image("face.png?fault=html502");
  const auto r = run_one({"liveportrait-detect", image}, options);
  CHECK(r.outcome == DetectOutcome::request_error);
  CHECK(r.http_status == 502);
  CHECK(r.attempts == 3);
  CHECK(r.detail.find("gave up after 3 attempts") != std::string::npos);
  CHECK(requests_for(server.log(), image) == 3);
}

TEST_CASE("fake: malformed answers are clear errors and are not retried") {
  auto& server = fake();
  const auto options = fast_options(server);
  const std::vector<Submission> batch = {
      {"wan2.2-s2v-detect", server.image("face.png?fault=malformed")},
      {"wan2.2-s2v-detect", server.image("face.png?fault=truncated")},
      {"wan2.2-s2v-detect", server.image("face.png?fault=wrong_type")},
      {"emoji-detect-v1", server.image("face.png?fault=wrong_type")},
      {"liveportrait-detect", server.image("face.png?fault=truncated")},
  };
  const char* details[] = {"not valid JSON", "not valid JSON", "output.check_pass is not a boolean",
                           "output.bbox_face is not an array of 4 integers", "not valid JSON"};
  const auto results = run_batch(batch, options);
  const auto log = server.log();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    CAPTURE(batch[i].image_url);
    CHECK(results[i].outcome == DetectOutcome::bad_response);
    CHECK_FALSE(results[i].passed);
    CHECK(results[i].http_status == 200);
    CHECK(results[i].billing_uncertain());
    CHECK(results[i].attempts == 1);
    CHECK(results[i].detail.find(details[i]) != std::string::npos);
  }
  CHECK(log.size() == batch.size());
}

TEST_CASE("fake: timeouts and resets after sending are possibly billed and not resent") {
  auto& server = fake();
  auto options = fast_options(server);
  options.request_timeout = 800ms;
  SUBCASE("without retry_ambiguous: one request each") {
    const std::vector<Submission> batch = {
        {"wan2.2-s2v-detect", server.image("face.png?fault=slow&delay=2")},
        {"wan2.2-s2v-detect", server.image("face.png?fault=reset")},
        {"wan2.2-s2v-detect", server.image("face.png?fault=short_body")},
    };
    const auto results = run_batch(batch, options);
    const auto log = server.log();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      CAPTURE(batch[i].image_url);
      CAPTURE(results[i].detail);
      CHECK(results[i].outcome == DetectOutcome::possibly_billed);
      CHECK(results[i].billing_uncertain());
      CHECK_FALSE(results[i].passed);
      CHECK(results[i].attempts == 1);
      CHECK(requests_for(log, batch[i].image_url) == 1);
      CHECK(results[i].detail.find("retry_ambiguous is off") != std::string::npos);
    }
    CHECK(results[0].detail.find("Timeout") != std::string::npos);
  }
  SUBCASE("a reset on a reused connection is not resent by libcurl either") {
    NetworkLoop loop;
    DetectClient client(loop, ApiKey(kKey), options);
    DetectResult first, second;
    client.submit(model("wan2.2-s2v-detect"), server.image("face.png?warm"), {},
                  [&](DetectResult r) { first = std::move(r); });
    loop.run();  // the connection now sits in the pool
    const auto image = server.image("face.png?fault=reset&reused");
    client.submit(model("wan2.2-s2v-detect"), image, {},
                  [&](DetectResult r) { second = std::move(r); });
    loop.run();
    CHECK(first.outcome == DetectOutcome::passed);
    CHECK(second.outcome == DetectOutcome::possibly_billed);
    const auto log = server.log();
    REQUIRE(log.size() == 2);
    CHECK(log[0].client_port == log[1].client_port);  // the pooled connection was reused
    CHECK(requests_for(log, image) == 1);
  }
  SUBCASE("with retry_ambiguous: sent again, and the earlier loss is remembered") {
    options.retry_ambiguous = true;
    const auto image = server.image("face.png?fault=slow&delay=2&times=1");
    const auto r = run_one({"wan2.2-s2v-detect", image}, options);
    CHECK(r.outcome == DetectOutcome::passed);
    CHECK(r.attempts == 2);
    CHECK(r.earlier_possibly_billed == 1);
    CHECK(r.billing_uncertain());
    CHECK(requests_for(server.log(), image) == 2);
  }
}

TEST_CASE("connection refused: nothing was sent, so it is retried, and not billed") {
  // A port that was just free: bind, read the port, close.
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(probe >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(probe);
  DetectOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/api/v1";
  options.backoff_base = 10ms;
  options.backoff_cap = 20ms;
  const auto r = run_one({"wan2.2-s2v-detect", "http://127.0.0.1/a.png"}, options);
  CHECK(r.outcome == DetectOutcome::transport_error);
  CHECK(r.attempts == 3);
  CHECK(r.billed == 0);
  CHECK_FALSE(r.billing_uncertain());
  CHECK(r.detail.find("nothing was sent") != std::string::npos);
  CHECK(r.detail.find("attempt 1: transport_error") != std::string::npos);
}

TEST_CASE("no API key or a non-http base URL: not sent") {
  auto& server = fake();
  auto options = fast_options(server);
  NetworkLoop loop;
  DetectClient keyless(loop, ApiKey(""), options);
  DetectResult r;
  keyless.submit(model("wan2.2-s2v-detect"), server.image("face.png"), {},
                 [&](DetectResult done) { r = std::move(done); });
  CHECK(keyless.pending() == 1);
  loop.run();
  CHECK(keyless.pending() == 0);
  CHECK(r.outcome == DetectOutcome::not_sent);
  CHECK(r.detail.find("no API key") != std::string::npos);
  options.base_url = "ftp://127.0.0.1/api/v1";
  r = run_one({"wan2.2-s2v-detect", server.image("face.png")}, options);
  CHECK(r.outcome == DetectOutcome::not_sent);
  CHECK(server.log().empty());
}

TEST_CASE("an option libcurl refuses to set: not sent, with libcurl's reason") {
  auto& server = fake();
  auto options = fast_options(server);
  // libcurl refuses a string option longer than 8,000,000 bytes (CURL_MAX_INPUT_LENGTH in its
  // lib/setopt.c) with CURLE_BAD_FUNCTION_ARGUMENT: a real failing curl_easy_setopt.
  options.user_agent = std::string(8'000'001, 'a');
  const auto r = run_one({"wan2.2-s2v-detect", server.image("face.png")}, options);
  CHECK(r.outcome == DetectOutcome::not_sent);
  CHECK(r.attempts == 0);
  CHECK(r.detail.find("libcurl could not be set up: ") != std::string::npos);
  CHECK(r.detail.find(curl_easy_strerror(CURLE_BAD_FUNCTION_ARGUMENT)) != std::string::npos);
  CHECK(server.log().empty());
}

TEST_CASE("the loop is never blocked: waits are loop tasks, header fetches share the loop") {
  auto& server = fake();
  const auto options = fast_options(server);
  NetworkLoop loop;
  DetectClient client(loop, ApiKey(kKey), options);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Clock::time_point retried_done, quick_done, fetch_done;
  DetectResult retried;
  ProbeResult fetched;
  client.submit(model("wan2.2-s2v-detect"),
                server.image("face.png?fault=503&times=1&retry_after=2"), {}, [&](DetectResult r) {
                  retried = std::move(r);
                  retried_done = Clock::now();
                });
  // Five more wan images: the 5 RPS lane makes the last of them wait for a token, too.
  int quick_passed = 0;
  for (int i = 0; i < 5; ++i) {
    client.submit(model("wan2.2-s2v-detect"), server.image("face.png?q" + std::to_string(i)), {},
                  [&](DetectResult r) {
                    quick_passed += r.passed;
                    quick_done = Clock::now();
                  });
  }
  FetchOptions fetch_options;
  fetch_options.allow_loopback = true;
  probe_url_async(loop, server.image("fetch.png"), fetch_options, [&](ProbeResult r) {
    fetched = std::move(r);
    fetch_done = Clock::now();
  });
  loop.run();
  CHECK(retried.passed);
  CHECK(quick_passed == 5);
  CHECK_MESSAGE(fetched.ok(), fetched.error.message);
  CHECK(fetched.info.width == 800);
  // The 2-second Retry-After held only its own image.
  CHECK(retried_done - start >= 1900ms);
  CHECK(fetch_done < retried_done);
  CHECK(quick_done < retried_done);
}

TEST_CASE("detect_one: a client destroyed with work pending still completes it") {
  auto& server = fake();
  const auto r = detect_one(model("emo-detect-v1"), server.image("face.png"), ApiKey(kKey),
                            fast_options(server));
  CHECK(r.outcome == DetectOutcome::passed);
  CHECK(r.face_bbox == BoundingBox{200, 200, 600, 600});
  CHECK(server.log().size() == 1);
}

// Runs `loop` until the fake has received `count` requests (at most 10 s).
void run_until_received(NetworkLoop& loop, const FakeDashScope& server, std::size_t count) {
  for (int i = 0; i < 500 && server.log().size() < count; ++i) loop.run_for(20ms);
  REQUIRE(server.log().size() == count);
}

TEST_CASE("cancel_pending ends every image not yet written as not_sent, and retries none") {
  auto& server = fake();
  const auto options = fast_options(server);
  NetworkLoop loop;
  DetectClient client(loop, ApiKey(kKey), options);
  std::vector<DetectResult> results(5);
  const auto keep = [&results](int i) { return [&results, i](DetectResult r) { results[i] = std::move(r); }; };
  // Written, answered after a second: it finishes normally.
  client.submit(model("emoji-detect-v1"), server.image("face.png?fault=slow&delay=1"), {}, keep(0));
  // Written, then answered 503, which is retried unless cancel_pending came in between.
  client.submit(model("wan2.2-s2v-detect"), server.image("face.png?fault=slow&delay=1&then=503"), {},
                keep(1));
  run_until_received(loop, server, 2);
  // emoji-detect-v1 has 1 RPS: these two wait for a token.
  client.submit(model("emoji-detect-v1"), server.image("face.png?c2"), {}, keep(2));
  client.submit(model("emoji-detect-v1"), server.image("face.png?c3"), {}, keep(3));
  // Handed to the loop, not yet written: the loop has not run since.
  client.submit(model("wan2.2-s2v-detect"), server.image("face.png?c4"), {}, keep(4));
  CHECK(client.pending() == 5);
  client.cancel_pending();
  CHECK(client.pending() == 2);
  loop.run();
  CHECK(results[0].outcome == DetectOutcome::passed);
  CHECK(results[1].outcome == DetectOutcome::request_error);
  CHECK(results[1].http_status == 503);
  CHECK(results[1].attempts == 1);
  CHECK(results[1].detail.find("not retried") != std::string::npos);
  for (int i = 2; i < 5; ++i) {
    CAPTURE(i);
    CHECK(results[i].outcome == DetectOutcome::not_sent);
    CHECK(results[i].attempts == 0);
    CHECK(results[i].detail == "cancelled before it was sent");
  }
  CHECK(server.log().size() == 2);
}

TEST_CASE("the API key appears nowhere: results, details, dry runs, the fake's log") {
  auto& server = fake();
  auto options = fast_options(server);
  options.request_timeout = 800ms;
  const std::vector<Submission> batch = {
      {"wan2.2-s2v-detect", server.image("face.png?fault=echo_key")},
      {"wan2.2-s2v-detect", server.image("face.png")},
      {"emo-detect-v1", server.image("noface.png")},
      {"liveportrait-detect", server.image("face.png?fault=malformed")},
      {"liveportrait-detect", server.image("face.png?fault=slow&delay=2")},
      {"emoji-detect-v1", server.image("face.png?fault=wrong_type")},
  };
  const auto results = run_batch(batch, options);
  // The echo fault quotes the Authorization header back: the client must scrub it.
  CHECK(results[0].outcome == DetectOutcome::request_error);
  CHECK(results[0].message.find("Bearer sk-***") != std::string::npos);
  std::string everything;
  for (const auto& r : results) everything += all_text(r) + "\n";
  const auto request =
      build_detect_request(model("wan2.2-s2v-detect"), server.base_url(), server.image("face.png"));
  everything += render_dry_run(request, true) + dry_run_json(request, true);
  everything += server.log_text();
  CHECK(everything.find(kKey) == std::string::npos);
  CHECK(everything.find("7f3a9c1e5b2d4f60") == std::string::npos);  // not even its tail
}

TEST_CASE("fake: an input fault is a refused request or a completed, billed failed check") {
  // The vendor bills a completed check, pass or fail, and not a failed request, but does not say
  // which of the two an input fault gets (docs/service.md#billing): the fake answers either.
  auto& server = fake();
  const auto options = fast_options(server);
  struct InputFault {
    std::string model, image, code;
    bool shape_has_code;  // liveportrait-detect and animate-anyone-detect-gen2 fail with a message
  };
  const std::vector<InputFault> faults = {
      {"wan2.2-s2v-detect", "small.png", "InvalidFile.Resolution", true},
      {"emo-detect-v1", "small.png", "InvalidFile.Resolution", true},
      {"liveportrait-detect", "wide.png", "InvalidFile.AspectRatio", false},
      {"emoji-detect-v1", "anim.gif", "InvalidParameter.UnsupportedFileFormat", true},
      {"animate-anyone-detect-gen2", "face.webp", "InvalidParameter.UnsupportedFileFormat", false},
  };
  std::vector<Submission> batch;
  for (const auto& fault : faults) {  // "n": one URL per request, to count them
    const std::string n = "n=" + std::to_string(batch.size());
    batch.push_back({fault.model, server.image(fault.image + "?" + n)});  // the default way
    batch.push_back({fault.model, server.image(fault.image + "?input_fault=failed_check&" + n)});
  }
  const auto results = run_batch(batch, options);
  for (std::size_t i = 0; i < faults.size(); ++i) {
    CAPTURE(faults[i].model);
    const DetectResult& refused = results[2 * i];
    CHECK(refused.outcome == DetectOutcome::request_error);
    CHECK(refused.http_status == 400);
    CHECK(refused.code == faults[i].code);
    CHECK(refused.billed == 0);
    CHECK_FALSE(refused.billing_uncertain());
    const DetectResult& failed = results[2 * i + 1];
    CHECK(failed.outcome == DetectOutcome::failed_check);
    CHECK(failed.http_status == 200);
    CHECK_FALSE(failed.passed);
    CHECK(failed.billed == 1);
    CHECK_FALSE(failed.billing_uncertain());
    CHECK(failed.code == (faults[i].shape_has_code ? faults[i].code : ""));
    CHECK_FALSE(failed.message.empty());
  }
  const auto log = server.log();
  CHECK(log.size() == batch.size());
  for (const auto& submission : batch) CHECK(requests_for(log, submission.image_url) == 1);
}

TEST_CASE("fake: after a model-level refusal nothing more is sent for that model") {
  auto& server = fake();
  for (const std::string code : {"ModelNotFound", "Model.AccessDenied", "AccessDenied.Unpurchased"}) {
    CAPTURE(code);
    server.reset();
    auto options = fast_options(server);
    options.requests_per_second = 2;  // two emo-detect-v1 requests go at once, the rest wait
    NetworkLoop loop;
    DetectClient client(loop, ApiKey(kKey), options);
    std::vector<DetectResult> results(6);
    std::vector<int> calls(results.size(), 0);
    std::function<void(std::string_view, std::string, std::size_t)> submit =
        [&](std::string_view name, std::string url, std::size_t i) {
          client.submit(model(name), std::move(url), {}, [&, i](DetectResult r) {
            ++calls[i];
            results[i] = std::move(r);
            // Submitted after the refusal, later in the run.
            if (i == 0) submit("emo-detect-v1", server.image("face.png?after"), 5);
          });
        };
    const std::string refused = server.image("face.png?fault=refuse_model&code=" + code);
    const std::string retried = server.image("face.png?fault=500&times=1");
    submit("emo-detect-v1", refused, 0);
    submit("emo-detect-v1", retried, 1);  // backing off or waiting when the refusal comes
    submit("emo-detect-v1", server.image("face.png?waiting1"), 2);
    submit("emo-detect-v1", server.image("face.png?waiting2"), 3);
    submit("wan2.2-s2v-detect", server.image("face.png?other"), 4);  // another model
    loop.run();
    CHECK(client.pending() == 0);
    CHECK(calls == std::vector<int>(results.size(), 1));

    CHECK(results[0].outcome == DetectOutcome::request_error);
    CHECK(results[0].code == code);
    CHECK(results[0].http_status == (code == "ModelNotFound" ? 404 : 403));
    CHECK(results[0].attempts == 1);
    const std::string why = "the service refused the model: " + code + " (HTTP " +
                            std::to_string(results[0].http_status) + ", ";
    CHECK(results[1].outcome == DetectOutcome::not_sent);
    CHECK(results[1].attempts == 1);
    CHECK(results[1].detail.find(why) != std::string::npos);
    for (std::size_t i : {2u, 3u, 5u}) {
      CAPTURE(i);
      CHECK(results[i].outcome == DetectOutcome::not_sent);
      CHECK(results[i].attempts == 0);
      CHECK(results[i].billed == 0);
      CHECK(results[i].detail.starts_with(why));
    }
    CHECK(results[4].outcome == DetectOutcome::passed);

    const auto log = server.log();
    CHECK(log.size() == 3);
    CHECK(requests_for(log, refused) == 1);
    CHECK(requests_for(log, retried) == 1);
    CHECK(requests_for(log, server.image("face.png?other")) == 1);
  }
}
