// tests/servers/fake_dashscope.py as a child process, for the tests that drive the detector
// end to end (check_test, cli_test): its base URL, its image URLs and its request log.
#pragma once

#include <simdjson.h>
#include <time.h>

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
};

/// fake_dashscope.py on a free 127.0.0.1 port, accepting `key`; with `files`, the files of
/// that directory are served at /files/NAME (the query is ignored: it picks a fault).
class FakeDashScope {
 public:
  explicit FakeDashScope(const std::string& key, const fs::path& files = {})
      : process_(arguments(key, files), /*capture_stdout=*/true) {
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
    const std::string response = loopback_http_get(port_, "/__log");
    const std::size_t body = response.find("\r\n\r\n");
    if (body == std::string::npos) throw std::runtime_error("the fake's /__log has no body");
    simdjson::dom::parser parser;
    simdjson::dom::array entries;
    if (parser.parse(response.substr(body + 4)).get(entries) != simdjson::SUCCESS) {
      throw std::runtime_error("the fake's /__log is not a JSON array");
    }
    std::vector<FakeRequest> requests;
    for (simdjson::dom::element entry : entries) {
      FakeRequest request;
      std::string_view image_url;
      if (entry["t"].get_double().get(request.arrival) != simdjson::SUCCESS ||
          entry["image_url"].get_string().get(image_url) != simdjson::SUCCESS) {
        throw std::runtime_error("a /__log entry without t or image_url");
      }
      request.image_url = image_url;
      request.answered = !entry["status"].is_null();
      requests.push_back(std::move(request));
    }
    return requests;
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
  static std::vector<std::string> arguments(const std::string& key, const fs::path& files) {
    std::vector<std::string> argv{
        "/usr/bin/python3",
        (source_root() / "tests" / "servers" / "fake_dashscope.py").string(),
        "--key",
        key,
        "--port",
        "0"};
    if (!files.empty()) argv.insert(argv.end(), {"--files", files.string()});
    return argv;
  }

  ChildProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace facegate::test
