// facegate::Gateway (include/facegate/gateway.hpp) without sockets: requests handed to the
// core, the fake service (tests/servers/fake_dashscope.py) as the upstream on 127.0.0.1.
#include "facegate/gateway.hpp"

#include "facegate/check.hpp"

#include <doctest/doctest.h>
#include <curl/curl.h>
#include <simdjson.h>

#include <future>
#include <regex>
#include <string>
#include <vector>

#include "servers/fake_dashscope.hpp"
#include "servers/test_servers.hpp"

using namespace facegate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKey = "sk-test-gateway-5d2c81a7";
constexpr std::string_view kModel = "wan2.2-s2v-detect";
constexpr std::string_view kFaceDetect = "/api/v1/services/aigc/image2video/face-detect";

fs::path example(std::string_view name) { return test::source_root() / "examples" / name; }

// The fake, serving copies of the examples (and a "noface" one that fails its face rule).
struct Upstream {
  Upstream() : images("facegate-gateway-images-"), fake(init(images.path()), images.path()) {}
  static std::string init(const fs::path& directory) {
    for (const char* name : {"portrait-640x800.jpg", "small-300x300.png", "banner-1600x400.webp",
                             "drawing.svg", "cut-short.jpg"}) {
      fs::copy_file(example(name), directory / name);
    }
    fs::copy_file(example("portrait-640x800.jpg"), directory / "portrait-noface.jpg");
    return std::string(kKey);
  }
  test::TempDir images;
  test::FakeDashScope fake;
};

GatewayOptions options_for(const test::FakeDashScope& fake) {
  GatewayOptions options;
  options.upstream = fake.base_url();
  options.fetch.allow_private_network = true;  // the images are on 127.0.0.1
  options.rate_window_margin = 250ms;          // the fake stamps arrivals late on a busy machine
  return options;
}

std::unique_ptr<Gateway> make_gateway(GatewayOptions options) {
  GatewayResult made = Gateway::create(std::move(options));
  REQUIRE_MESSAGE(made.ok(), made.error);
  return std::move(made.gateway);
}

std::string detect_body(std::string_view model, std::string_view image_url,
                        std::string_view parameters = {}) {
  std::string body = "{\"model\":" + json_quote(model) + ",\"input\":{\"image_url\":" +
                     json_quote(image_url) + "}";
  if (!parameters.empty()) body += ",\"parameters\":" + std::string(parameters);
  return body + "}";
}

GatewayRequest post(std::string body, std::string_view authorization = "Bearer " + std::string(kKey)) {
  GatewayRequest request;
  request.method = "POST";
  request.path = std::string(kFaceDetect);
  request.headers.push_back({"Content-Type", "application/json"});
  if (!authorization.empty()) request.headers.push_back({"Authorization", std::string(authorization)});
  request.body = std::move(body);
  return request;
}

std::future<GatewayResponse> send(Gateway& gateway, GatewayRequest request) {
  auto promise = std::make_shared<std::promise<GatewayResponse>>();
  auto future = promise->get_future();
  gateway.handle(std::move(request),
                 [promise](GatewayResponse response) { promise->set_value(std::move(response)); });
  return future;
}

GatewayResponse call(Gateway& gateway, GatewayRequest request) {
  auto future = send(gateway, std::move(request));
  REQUIRE(future.wait_for(30s) == std::future_status::ready);
  return future.get();
}

// The vendor's request-failure shape: {"code","message","request_id"} (and facegate's extra
// field); returns the code.
std::string vendor_code(const GatewayResponse& response) {
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  REQUIRE_MESSAGE(parser.parse(response.body).get(body) == simdjson::SUCCESS, response.body);
  std::string_view code, message, request_id;
  CHECK(body["code"].get_string().get(code) == simdjson::SUCCESS);
  CHECK(body["message"].get_string().get(message) == simdjson::SUCCESS);
  CHECK(body["request_id"].get_string().get(request_id) == simdjson::SUCCESS);
  CHECK(!message.empty());
  CHECK(std::regex_match(std::string(request_id),
                         std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  CHECK(response.header("Content-Type") == "application/json");
  return std::string(code);
}

// The body with its request_id's value blanked: two answers of the fake differ only there.
std::string without_request_id(std::string body) {
  return std::regex_replace(body, std::regex("\"request_id\": ?\"[^\"]*\""), "\"request_id\":\"\"");
}

// What `url` answers to `body` POSTed with the key (status, body): the fake without the gateway.
std::pair<long, std::string> post_straight(const std::string& url, const std::string& body) {
  CURL* easy = curl_easy_init();
  REQUIRE(easy != nullptr);
  const std::string authorization = "Authorization: Bearer " + std::string(kKey);
  curl_slist* headers = curl_slist_append(nullptr, authorization.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string answer;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  });
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer);
  const CURLcode code = curl_easy_perform(easy);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  REQUIRE(code == CURLE_OK);
  return {status, answer};
}

}  // namespace

TEST_CASE("a local reject gets the vendor's 400 with the finding's code; nothing goes upstream") {
  Upstream upstream;
  auto gateway = make_gateway(options_for(upstream.fake));
  struct Case {
    std::string model;
    std::string image;
    std::string parameters;
    std::string code;
    std::string finding;
  };
  const std::vector<Case> cases = {
      {"wan2.2-s2v-detect", "small-300x300.png", "", "InvalidFile.Resolution", "size.width_below_min"},
      {"liveportrait-detect", "banner-1600x400.webp", "", "InvalidFile.AspectRatio", "aspect.above_max"},
      {"wan2.2-s2v-detect", "drawing.svg", "", "InvalidParameter.UnsupportedFileFormat", "format.not_accepted"},
      {"emo-detect-v1", "portrait-640x800.jpg", "{\"ratio\":\"2:1\"}", "InvalidParameter", "param.ratio.invalid"},
      {"wan2.2-s2v-detect", "cut-short.jpg", "", "InvalidFile.Format", "probe.truncated"},
      {"wan2.2-s2v-detect", "missing.jpg", "", "InvalidURL", "fetch.http_status"},
  };
  for (const Case& item : cases) {
    CAPTURE(item.image);
    const GatewayResponse response =
        call(*gateway, post(detect_body(item.model, upstream.fake.file_url(item.image), item.parameters)));
    CHECK(response.status == 400);
    CHECK(vendor_code(response) == item.code);
    const std::string_view decision = response.header("X-Facegate-Decision");
    CHECK((decision == "reject" || decision == "error"));
    CHECK(std::string(response.header("X-Facegate-Findings")).find(item.finding) != std::string::npos);
    CHECK(response.body.find("\"facegate\":{\"source\":") != std::string::npos);
    CHECK(response.body.find("\"code\":\"" + item.finding + "\"") != std::string::npos);
  }
  CHECK(upstream.fake.requests().empty());
  const std::string metrics = gateway->metrics_text();
  CHECK(metrics.find("facegate_local_rejects_total{model=\"wan2.2-s2v-detect\",code=\"InvalidFile.Resolution\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("facegate_requests_total{model=\"liveportrait-detect\",decision=\"reject\"} 1\n") !=
        std::string::npos);
  // wan2.2-s2v-detect publishes USD 0.000574 and CNY 0.004: four local rejects of it.
  CHECK(metrics.find("facegate_money_saved_up_to_micros_total{currency=\"USD\"} 2296\n") != std::string::npos);
}

TEST_CASE("a pass is forwarded with the caller's key and answered as the upstream answered") {
  Upstream upstream;
  auto gateway = make_gateway(options_for(upstream.fake));
  for (const std::string image : {"portrait-640x800.jpg", "portrait-noface.jpg"}) {
    CAPTURE(image);
    const std::string body = detect_body(kModel, upstream.fake.file_url(image));
    const GatewayResponse response = call(*gateway, post(body));
    const std::pair<long, std::string> direct =
        post_straight(upstream.fake.base_url() + "/services/aigc/image2video/face-detect", body);
    CHECK(response.status == direct.first);
    CHECK(response.status == 200);
    CHECK(without_request_id(response.body) == without_request_id(direct.second));
    CHECK(response.header("X-Facegate-Decision") == "pass");
    CHECK(response.header("Content-Type") == "application/json");
  }
  CHECK(upstream.fake.requests().size() == 4);  // two through the gateway, two straight

  // A wrong key is the caller's: the upstream's 401 comes back as it came.
  const GatewayResponse refused =
      call(*gateway, post(detect_body(kModel, upstream.fake.file_url("portrait-640x800.jpg")),
                          "Bearer sk-not-the-key"));
  CHECK(refused.status == 401);
  CHECK(vendor_code(refused) == "InvalidApiKey");
  const std::string metrics = gateway->metrics_text();
  CHECK(metrics.find("facegate_upstream_responses_total{model=\"wan2.2-s2v-detect\",status=\"200\"} 2\n") !=
        std::string::npos);
  CHECK(metrics.find("facegate_upstream_responses_total{model=\"wan2.2-s2v-detect\",status=\"401\"} 1\n") !=
        std::string::npos);
  CHECK(metrics.find("facegate_billed_total{model=\"wan2.2-s2v-detect\"} 2\n") != std::string::npos);
  CHECK(metrics.find("facegate_forwarded_total{model=\"wan2.2-s2v-detect\"} 3\n") != std::string::npos);
  CHECK(metrics.find("facegate_cost_micros_total{currency=\"USD\"} 1148\n") != std::string::npos);
}

TEST_CASE("with its own key the gateway replaces the caller's Authorization") {
  Upstream upstream;
  GatewayOptions options = options_for(upstream.fake);
  options.key = ApiKey(kKey);
  auto gateway = make_gateway(options);
  const std::string image = upstream.fake.file_url("portrait-640x800.jpg");
  CHECK(call(*gateway, post(detect_body(kModel, image), "")).status == 200);
  CHECK(call(*gateway, post(detect_body(kModel, image), "Bearer sk-someone-else")).status == 200);
}

TEST_CASE("bad requests get the vendor's error shapes and are not sent") {
  Upstream upstream;
  auto gateway = make_gateway(options_for(upstream.fake));
  const std::string image = upstream.fake.file_url("portrait-640x800.jpg");
  struct Case {
    GatewayRequest request;
    int status;
    std::string code;
  };
  GatewayRequest aa_model_here = post(detect_body("animate-anyone-detect-gen2", image));
  GatewayRequest get = post("");
  get.method = "GET";
  GatewayRequest elsewhere = post(detect_body(kModel, image));
  elsewhere.path = "/api/v1/services/other";
  std::vector<Case> cases;
  cases.push_back({post("not json"), 400, "InvalidParameter"});
  cases.push_back({post("[1,2]"), 400, "InvalidParameter"});
  cases.push_back({post("{\"model\":\"wan2.2-s2v-detect\",\"input\":{}}"), 400, "InvalidParameter"});
  cases.push_back({post(detect_body(kModel, image, "{\"ratio\":1}")), 400, "InvalidParameter"});
  cases.push_back({post(detect_body("no-such-model", image)), 404, "ModelNotFound"});
  cases.push_back({std::move(aa_model_here), 400, "InvalidParameter"});
  cases.push_back({post(detect_body(kModel, image), ""), 401, "InvalidApiKey"});
  cases.push_back({std::move(get), 405, "MethodNotAllowed"});
  cases.push_back({std::move(elsewhere), 404, "NotFound"});
  for (Case& item : cases) {
    CAPTURE(item.request.body);
    CAPTURE(item.code);
    const GatewayResponse response = call(*gateway, std::move(item.request));
    CHECK(response.status == item.status);
    CHECK(vendor_code(response) == item.code);
  }
  CHECK(upstream.fake.requests().empty());
  CHECK(gateway->in_flight() == 0);

  GatewayRequest health;
  health.method = "GET";
  health.path = "/healthz";
  const GatewayResponse healthy = call(*gateway, health);
  CHECK(healthy.status == 200);
  CHECK(healthy.body == "{\"status\":\"ok\"}");
  GatewayRequest metrics = health;
  metrics.path = "/metrics";
  const GatewayResponse exposition = call(*gateway, metrics);
  CHECK(exposition.status == 200);
  CHECK(exposition.header("Content-Type").substr(0, 10) == "text/plain");
  CHECK(exposition.body.find("# TYPE facegate_requests_total counter\n") != std::string::npos);
  CHECK(exposition.body.find("facegate_requests_total{model=\"no-such-model\",decision=\"bad_request\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("one rate limiter per model: a bounded queue, 429 Throttling.RateQuota beyond it") {
  Upstream upstream;
  GatewayOptions options = options_for(upstream.fake);
  options.requests_per_second = 1;
  options.queue_limit = 2;
  options.queue_wait = 10s;
  auto gateway = make_gateway(options);
  const std::string body = detect_body(kModel, upstream.fake.file_url("portrait-640x800.jpg"));
  std::vector<std::future<GatewayResponse>> answers;
  for (int i = 0; i < 6; ++i) answers.push_back(send(*gateway, post(body)));
  int passed = 0;
  int throttled = 0;
  for (auto& answer : answers) {
    REQUIRE(answer.wait_for(30s) == std::future_status::ready);
    const GatewayResponse response = answer.get();
    if (response.status == 200) {
      ++passed;
      continue;
    }
    CHECK(response.status == 429);
    CHECK(vendor_code(response) == "Throttling.RateQuota");
    CHECK(!response.header("Retry-After").empty());
    CHECK(response.header("X-Facegate-Decision") == "throttled");
    ++throttled;
  }
  // One sent at once and two queued, or fewer sent at once when the checks finish apart.
  CHECK(passed >= 3);
  CHECK(throttled >= 1);
  CHECK(passed + throttled == 6);
  const std::vector<test::FakeRequest> received = upstream.fake.requests();
  REQUIRE(received.size() == static_cast<std::size_t>(passed));
  for (std::size_t i = 1; i < received.size(); ++i) {
    CHECK(received[i].arrival - received[i - 1].arrival >= 0.9);  // 1 RPS, never faster
  }
  CHECK(gateway->metrics_text().find("facegate_queue_depth{model=\"wan2.2-s2v-detect\"} 0\n") !=
        std::string::npos);
}

TEST_CASE("past the queue's deadline the answer is 429; an upstream that is gone is a 503") {
  Upstream upstream;
  GatewayOptions options = options_for(upstream.fake);
  options.requests_per_second = 1;
  options.queue_wait = 300ms;
  auto gateway = make_gateway(options);
  const std::string body = detect_body(kModel, upstream.fake.file_url("portrait-640x800.jpg"));
  CHECK(call(*gateway, post(body)).status == 200);
  const GatewayResponse late = call(*gateway, post(body));  // the slot is back only in 1.25 s
  CHECK(late.status == 429);
  CHECK(vendor_code(late) == "Throttling.RateQuota");
  CHECK(late.body.find("within 300 ms") != std::string::npos);

  GatewayOptions nowhere = options_for(upstream.fake);
  nowhere.upstream = test::loopback_url(test::free_loopback_port(), "api/v1");
  auto lost = make_gateway(nowhere);
  const GatewayResponse unreachable = call(*lost, post(body));
  CHECK(unreachable.status == 503);
  CHECK(vendor_code(unreachable) == "ModelUnavailable");
  CHECK(unreachable.header("X-Facegate-Decision") == "upstream_error");
}

TEST_CASE("an upstream that resets after the request was written: 504, possibly billed") {
  Upstream upstream;
  auto gateway = make_gateway(options_for(upstream.fake));
  const GatewayResponse response = call(
      *gateway, post(detect_body(kModel, upstream.fake.file_url("portrait-640x800.jpg?fault=reset"))));
  CHECK(response.status == 504);
  CHECK(vendor_code(response) == "RequestTimeOut");
  CHECK(response.header("X-Facegate-Possibly-Billed") == "true");
  CHECK(gateway->metrics_text().find("facegate_possibly_billed_total{model=\"wan2.2-s2v-detect\"} 1\n") !=
        std::string::npos);
}

// The fake upstream, nginx serving the same images with ETag and Last-Modified (answers for
// them are reusable), and gateway options with a ledger in a fresh directory.
struct WithLedger {
  WithLedger() : images(upstream.images.path()), state("facegate-gateway-ledger-") {
    options = options_for(upstream.fake);
    options.ledger = state.path() / "ledger.sqlite3";
  }
  Upstream upstream;
  test::NginxServer images;
  test::TempDir state;
  GatewayOptions options;
};

TEST_CASE("with a ledger an identical second request is a cache hit: byte for byte, not sent") {
  WithLedger setup;
  Upstream& upstream = setup.upstream;
  const test::NginxServer& images = setup.images;
  const GatewayOptions& options = setup.options;
  std::string first_body;
  {
    auto gateway = make_gateway(options);
    const std::string body = detect_body(kModel, images.url("/portrait-640x800.jpg"));
    const GatewayResponse first = call(*gateway, post(body));
    REQUIRE(first.status == 200);
    CHECK(first.header("X-Facegate-Cache").empty());
    const GatewayResponse second = call(*gateway, post(body));
    CHECK(second.status == 200);
    CHECK(second.header("X-Facegate-Cache") == "hit");
    CHECK(second.header("X-Facegate-Decision") == "pass");
    CHECK(second.header("Content-Type") == first.header("Content-Type"));
    CHECK(second.body == first.body);  // the request_id too: the same answer, not a new one
    CHECK(upstream.fake.requests().size() == 1);

    // Other parameters are another call.
    const GatewayResponse other =
        call(*gateway, post(detect_body(kModel, images.url("/portrait-640x800.jpg"),
                                        R"({"ratio":"1:1"})")));
    CHECK(other.header("X-Facegate-Cache").empty());
    CHECK(upstream.fake.requests().size() == 2);
    const std::string metrics = gateway->metrics_text();
    CHECK(metrics.find("facegate_cache_hits_total{model=\"wan2.2-s2v-detect\"} 1\n") !=
          std::string::npos);
    CHECK(metrics.find("facegate_forwarded_total{model=\"wan2.2-s2v-detect\"} 2\n") !=
          std::string::npos);
    first_body = first.body;
  }
  // A new gateway on the same ledger answers from it too.
  auto gateway = make_gateway(options);
  const GatewayResponse again =
      call(*gateway, post(detect_body(kModel, images.url("/portrait-640x800.jpg"))));
  CHECK(again.header("X-Facegate-Cache") == "hit");
  CHECK(again.body == first_body);
  CHECK(upstream.fake.requests().size() == 2);

  // The fake's own file URLs carry no validators: recorded, never reused.
  const std::string unvalidated = detect_body(kModel, upstream.fake.file_url("portrait-640x800.jpg"));
  CHECK(call(*gateway, post(unvalidated)).header("X-Facegate-Cache").empty());
  CHECK(call(*gateway, post(unvalidated)).header("X-Facegate-Cache").empty());
  CHECK(upstream.fake.requests().size() == 4);
}

TEST_CASE("with a ledger an upstream refusal is recorded but never returned again") {
  WithLedger setup;
  Upstream& upstream = setup.upstream;
  const test::NginxServer& images = setup.images;
  const GatewayOptions& options = setup.options;
  auto gateway = make_gateway(options);
  const std::string body = detect_body(kModel, images.url("/portrait-640x800.jpg"));
  for (int round = 0; round < 2; ++round) {
    const GatewayResponse refused = call(*gateway, post(body, "Bearer sk-not-the-key"));
    CHECK(refused.status == 401);
    CHECK(refused.header("X-Facegate-Cache").empty());
  }
  CHECK(upstream.fake.requests().size() == 2);
  LedgerOptions existing;
  existing.create_if_missing = false;
  LedgerOpenResult opened = Ledger::open(*options.ledger, existing);
  REQUIRE(opened.ok());
  CHECK(opened.ledger->report().total.calls == 2);
}

TEST_CASE("a ledger that cannot be opened makes no gateway") {
  test::TempDir state("facegate-gateway-ledger-");
  test::write_text(state.path() / "not-a-ledger", "plain text, not SQLite");
  GatewayOptions options;
  options.upstream = "http://127.0.0.1:9/api/v1";
  options.ledger = state.path() / "not-a-ledger";
  const GatewayResult made = Gateway::create(options);
  CHECK_FALSE(made.ok());
  CHECK(made.error.find("not-a-ledger") != std::string::npos);
}
