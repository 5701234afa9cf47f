// tests/servers/fake_dashscope.py as a child process, for the tests that drive the detector
// end to end (check_test, cli_test): its base URL, its image URLs, its request logs (detect,
// upload policy, upload) and the faults of its temporary upload.
#pragma once

#include <simdjson.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "servers/test_servers.hpp"

namespace facegate::test {

/// CLOCK_MONOTONIC in seconds: the clock of the fake's arrival stamps (Python's
/// time.monotonic), to compare them with moments of the test.
inline double monotonic_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

/// One detect request the fake received (an entry of GET /__log).
struct FakeRequest {
  double arrival = 0;     ///< monotonic_seconds() when it arrived
  std::string image_url;  ///< input.image_url of its body
  bool answered = false;  ///< the fake has settled its answer (a slow one only after its delay)
  bool oss_resolve = false;  ///< it carried X-DashScope-OssResourceResolve: enable
};

/// One request to the fake's upload host (an entry of GET /__uploads).
struct FakeUpload {
  std::string key;                  ///< the form's key field; empty when it had none
  std::int64_t size = -1;           ///< bytes of the file part; -1 when the last part was no file
  int status = 0;                   ///< the HTTP status answered; 0 for a reset (or until answered)
  std::vector<std::string> fields;  ///< the names of the form's parts, in order
};

/// One getPolicy request the fake received (an entry of GET /__policies).
struct FakePolicyRequest {
  std::string model;  ///< the model of its query; empty when it had none
  int status = 0;     ///< the HTTP status answered; 0 until answered
};

/// How the fake's temporary upload behaves (fake_dashscope.py --policy-ttl, --max-file-size-mb).
struct FakeDashScopeOptions {
  int policy_ttl_seconds = 300;  ///< how long an upload policy is good for
  int max_file_size_mb = 100;    ///< the largest upload, in MiB
};

/// fake_dashscope.py on a free 127.0.0.1 port, accepting `key`; with `files`, the files of
/// that directory are served at /files/NAME (the query is ignored: it picks a fault).
class FakeDashScope {
 public:
  explicit FakeDashScope(const std::string& key, const fs::path& files = {},
                         const FakeDashScopeOptions& options = {})
      : process_(arguments(key, files, options), /*capture_stdout=*/true) {
    const std::optional<std::string> line = process_.read_line(10s);
    if (!line || line->rfind("PORT ", 0) != 0)
      throw std::runtime_error("fake_dashscope.py did not start");
    port_ = static_cast<std::uint16_t>(std::stoi(line->substr(5)));
  }

  /// The detector base URL for DetectOptions::base_url / --base-url.
  std::string base_url() const { return loopback_url(port_, "api/v1"); }
  /// The URL of file `name_and_query` of `files` ("face.jpg?fault=slow&delay=2").
  std::string file_url(std::string_view name_and_query) const {
    return loopback_url(port_, "files/" + std::string(name_and_query));
  }

  /// The detect requests received so far, in arrival order.
  std::vector<FakeRequest> requests() const {
    std::vector<FakeRequest> requests;
    for_each_entry("/__log", [&](simdjson::dom::element entry) {
      FakeRequest request;
      std::string_view image_url;
      if (entry["t"].get_double().get(request.arrival) != simdjson::SUCCESS ||
          entry["image_url"].get_string().get(image_url) != simdjson::SUCCESS ||
          entry["oss_resolve"].get_bool().get(request.oss_resolve) != simdjson::SUCCESS) {
        throw std::runtime_error("a /__log entry without t, image_url or oss_resolve");
      }
      request.image_url = image_url;
      request.answered = !entry["status"].is_null();
      requests.push_back(std::move(request));
    });
    return requests;
  }

  /// The requests its upload host received so far, in arrival order.
  std::vector<FakeUpload> uploads() const {
    std::vector<FakeUpload> uploads;
    for_each_entry("/__uploads", [&](simdjson::dom::element entry) {
      FakeUpload upload;
      upload.key = text_or_empty(entry["key"]);
      upload.size = integer_or(entry, "size", -1);
      upload.status = static_cast<int>(integer_or(entry, "status", 0));
      simdjson::dom::array fields;
      if (entry["fields"].get_array().get(fields) != simdjson::SUCCESS) {
        throw std::runtime_error("a /__uploads entry without fields");
      }
      for (simdjson::dom::element field : fields) upload.fields.push_back(text_or_empty(field));
      uploads.push_back(std::move(upload));
    });
    return uploads;
  }

  /// The getPolicy requests received so far, in arrival order.
  std::vector<FakePolicyRequest> policy_requests() const {
    std::vector<FakePolicyRequest> policies;
    for_each_entry("/__policies", [&](simdjson::dom::element entry) {
      policies.push_back(
          {text_or_empty(entry["model"]), static_cast<int>(integer_or(entry, "status", 0))});
    });
    return policies;
  }

  /// Makes the next `times` requests to `target` ("policy" or "upload") fail with `kind`
  /// (policy: "401", "429", "500"; upload: "expired", "403", "500", "reset"; see the fake).
  void set_fault(std::string_view target, std::string_view kind, int times = 1) const {
    const std::string body = "{\"target\": \"" + std::string(target) + "\", \"kind\": \"" +
                             std::string(kind) + "\", \"times\": " + std::to_string(times) + "}";
    const std::string response = loopback_http_exchange(
        port_, "POST /__fault HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    if (response.rfind("HTTP/1.1 200 ", 0) != 0) {
      throw std::runtime_error("the fake refused the fault " + body + ": " + response);
    }
  }

  /// Waits until the fake has received `count` requests (at most `timeout`); what it has then.
  std::vector<FakeRequest> wait_for_requests(std::size_t count,
                                             std::chrono::milliseconds timeout = 10s) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::vector<FakeRequest> received = requests();
    while (received.size() < count && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(10ms);
      received = requests();
    }
    return received;
  }

 private:
  static std::vector<std::string> arguments(const std::string& key, const fs::path& files,
                                            const FakeDashScopeOptions& options) {
    std::vector<std::string> argv{
        "/usr/bin/python3",
        (source_root() / "tests" / "servers" / "fake_dashscope.py").string(),
        "--key",
        key,
        "--port",
        "0",
        "--policy-ttl",
        std::to_string(options.policy_ttl_seconds),
        "--max-file-size-mb",
        std::to_string(options.max_file_size_mb)};
    if (!files.empty()) argv.insert(argv.end(), {"--files", files.string()});
    return argv;
  }

  /// Calls `each` with every entry of the JSON array the fake answers at `uri`.
  template <typename Each>
  void for_each_entry(std::string_view uri, Each&& each) const {
    const std::string response = loopback_http_get(port_, uri);
    const std::size_t body = response.find("\r\n\r\n");
    if (body == std::string::npos) {
      throw std::runtime_error("the fake's " + std::string(uri) + " has no body");
    }
    simdjson::dom::parser parser;
    simdjson::dom::array entries;
    if (parser.parse(response.substr(body + 4)).get(entries) != simdjson::SUCCESS) {
      throw std::runtime_error("the fake's " + std::string(uri) + " is not a JSON array");
    }
    for (simdjson::dom::element entry : entries) each(entry);
  }

  /// The string `value` (an element or a lookup's result); empty when it is anything else.
  template <typename Value>
  static std::string text_or_empty(Value&& value) {
    std::string_view text;
    return std::forward<Value>(value).get_string().get(text) == simdjson::SUCCESS
               ? std::string(text)
               : std::string();
  }

  /// The integer at `field` of `entry`; `otherwise` when it is null or missing.
  static std::int64_t integer_or(simdjson::dom::element entry, const char* field,
                                 std::int64_t otherwise) {
    std::int64_t value = 0;
    return entry[field].get_int64().get(value) == simdjson::SUCCESS ? value : otherwise;
  }

  ChildProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace facegate::test
