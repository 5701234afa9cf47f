// The gateway core (include/facegate/gateway.hpp): a detect request is read, its image judged
// by a Checker in offline mode (the model and parameters per input), and then answered locally
// or handed to the Forwarder. Pending requests are kept by a ticket that the Checker's record
// echoes as its id.
#include "facegate/gateway.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>

#include "facegate/check.hpp"
#include "serve/forwarder.hpp"
#include "serve/metrics.hpp"
#include "serve/request_body.hpp"
#include "serve/vendor_codes.hpp"

namespace facegate {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view header_of(const std::vector<HttpHeader>& headers, std::string_view name) {
  for (const HttpHeader& header : headers) {
    if (same_name(header.name, name)) return header.value;
  }
  return {};
}

GatewayResponse json_response(int status, std::string body) {
  GatewayResponse response;
  response.status = status;
  response.headers.push_back({"Content-Type", "application/json"});
  response.body = std::move(body);
  return response;
}


// The findings that decided a local answer, by code: the X-Facegate-Findings header.
std::string deciding_codes(const Verdict& verdict) {
  std::string codes;
  for (const Finding& finding : verdict.findings) {
    if (finding.severity != Severity::reject && finding.severity != Severity::error) continue;
    if (!codes.empty()) codes += ',';
    codes += finding.code;
  }
  return codes;
}

}  // namespace

GatewayResponse gateway_error(int status, std::string_view code, std::string_view message,
                              std::string_view decision) {
  GatewayResponse response =
      json_response(status, vendor_error_body(code, message, detail::new_request_id()));
  response.headers.push_back({"X-Facegate-Decision", std::string(decision)});
  return response;
}

namespace {

GatewayResponse throttled(std::string_view message, std::string retry_after) {
  GatewayResponse response = gateway_error(429, "Throttling.RateQuota", message, "throttled");
  response.headers.push_back({"Retry-After", std::move(retry_after)});
  return response;
}

}  // namespace

std::string_view GatewayResponse::header(std::string_view name) const noexcept {
  return header_of(headers, name);
}

struct Gateway::State {
  /// A detect request between its arrival and its answer.
  struct Pending {
    const ModelRules* model = nullptr;
    std::string authorization;                // "Authorization: ..." line sent upstream
    std::vector<std::string> passed_headers;  // the caller's X-DashScope-* lines
    std::vector<Parameter> parameters;        // as the body gave them: part of the ledger's key
    std::string body;
    GatewayCallback done;
  };

  explicit State(GatewayOptions gateway_options) : options(std::move(gateway_options)) {}

  GatewayOptions options;
  std::string upstream;
  detail::GatewayMetrics metrics;
  std::unique_ptr<detail::Forwarder> forwarder;
  std::unique_ptr<Checker> checker;
  std::optional<Ledger> ledger;  // one thread at a time: ledger_mutex
  std::mutex ledger_mutex;
  std::mutex mutex;
  std::map<std::uint64_t, Pending> pending;  // by ticket
  std::uint64_t next_ticket = 0;
  std::atomic<std::size_t> open{0};

  void answer(GatewayCallback& done, GatewayResponse response) {
    auto callback = std::move(done);
    callback(std::move(response));
    open.fetch_sub(1);
  }

  const ModelRules* model_at(std::string_view path) const {
    for (const ModelRules& model : options.rules.models) {
      if (path == options.path_prefix + model.endpoint) return &model;
    }
    return nullptr;
  }

  void detect(const ModelRules& endpoint_model, GatewayRequest request, GatewayCallback done) {
    detail::DetectBody body = detail::parse_detect_body(request.body);
    if (!body.problem.empty()) {
      metrics.count_request(body.model, "bad_request");
      return answer(done, gateway_error(400, "InvalidParameter", body.problem, "bad_request"));
    }
    const ModelRules* model = options.rules.find(body.model);
    if (model == nullptr) {
      metrics.count_request(body.model, "bad_request");
      return answer(done, gateway_error(404, "ModelNotFound", "Model not exist.", "bad_request"));
    }
    if (model->endpoint != endpoint_model.endpoint) {
      metrics.count_request(body.model, "bad_request");
      return answer(done, gateway_error(400, "InvalidParameter",
                                       "the model " + model->name + " is served at " +
                                           options.path_prefix + model->endpoint,
                                       "bad_request"));
    }
    const std::string_view authorization = header_of(request.headers, "Authorization");
    if (!options.key && authorization.empty()) {
      metrics.count_request(body.model, "unauthorized");
      return answer(done, gateway_error(401, "InvalidApiKey", "No API-key provided.", "unauthorized"));
    }
    Pending waiting;
    waiting.model = model;
    waiting.authorization = options.key ? "Authorization: Bearer " + std::string(options.key->reveal())
                                        : "Authorization: " + std::string(authorization);
    for (const HttpHeader& header : request.headers) {
      if (header.name.size() > 11 && same_name(header.name.substr(0, 11), "X-DashScope")) {
        waiting.passed_headers.push_back(header.name + ": " + header.value);
      }
    }
    waiting.body = std::move(request.body);
    waiting.done = std::move(done);
    CheckInput input;
    input.kind = CheckInput::Kind::url;  // never a path, whatever it looks like
    input.source = std::move(body.image_url);
    input.model = model->name;
    input.parameters = body.parameters;
    waiting.parameters = std::move(body.parameters);
    std::uint64_t ticket = 0;
    {
      std::lock_guard lock(mutex);
      ticket = next_ticket++;
      pending.emplace(ticket, std::move(waiting));
    }
    input.id_json = std::to_string(ticket);
    if (checker->try_submit(input) == SubmitStatus::accepted) return;
    Pending refused = take(ticket);
    metrics.count_request(model->name, "throttled");
    answer(refused.done, throttled("facegate: too many requests are being checked", "1"));
  }

  Pending take(std::uint64_t ticket) {
    std::lock_guard lock(mutex);
    auto found = pending.find(ticket);
    Pending taken = std::move(found->second);
    pending.erase(found);
    return taken;
  }

  /// The Checker's record of one request: answer it here, or forward it.
  void judged(CheckRecord record) {
    std::uint64_t ticket = 0;
    std::from_chars(record.id_json.data(), record.id_json.data() + record.id_json.size(), ticket);
    Pending request = take(ticket);
    const Decision decision = record.verdict ? record.verdict->decision : Decision::error;
    if (decision == Decision::pass || decision == Decision::unknown) {
      if (ledger) return look_up(std::move(request), record, decision_name(decision));
      return forward(std::move(request), decision_name(decision), std::nullopt);
    }
    local_answer(request, record);
  }

  void local_answer(Pending& request, const CheckRecord& record) {
    const Verdict verdict = record.verdict.value_or(Verdict{Decision::error, {}});
    const Finding* finding = detail::deciding_finding(verdict);
    const std::string_view code = detail::vendor_code_for(finding ? finding->code : "probe.error");
    const std::string message =
        finding ? finding->message : "facegate: the image could not be checked: " + record.probe.error.message;
    std::string body = vendor_error_body(code, message, detail::new_request_id());
    body.pop_back();  // the closing brace: the findings follow as an extra field
    body += ",\"facegate\":" + to_json(record) + "}";
    const std::string decision(decision_name(verdict.decision));
    GatewayResponse response = json_response(400, std::move(body));
    response.headers.push_back({"X-Facegate-Decision", decision});
    response.headers.push_back({"X-Facegate-Findings", deciding_codes(verdict)});
    metrics.count_request(request.model->name, decision);
    metrics.count_local_reject(*request.model, code);
    answer(request.done, std::move(response));
  }

  /// A pass with a ledger: answered from it, or claimed there and forwarded.
  void look_up(Pending request, const CheckRecord& record, std::string_view decision) {
    const CallKey key{request.model->name, request.parameters,
                      identify_url(record.source, record.probe)};
    const ModelRules& model = *request.model;
    const Money* price = model.price ? &model.price->per_image.front() : nullptr;
    ReusePolicy policy = options.reuse;
    policy.raw_only = true;
    BeginCall begin;
    {
      std::lock_guard lock(ledger_mutex);
      begin = ledger->begin_call(key, policy, price);
    }
    switch (begin.outcome) {
      case BeginOutcome::claimed:
        return forward(std::move(request), decision, begin.row);
      case BeginOutcome::reuse:
        metrics.count_cache_hit(model);
        metrics.count_request(model.name, decision);
        return answer(request.done, cached(*begin.raw, decision));
      case BeginOutcome::in_flight:
        // Its answer would never be returned again: the callers chose to pay twice.
        if (!key.image.reusable()) return forward(std::move(request), decision, std::nullopt);
        metrics.count_request(model.name, "throttled");
        return answer(request.done,
                      throttled("facegate: an identical request is being answered; retry", "1"));
      case BeginOutcome::ambiguous: {
        metrics.count_request(model.name, "upstream_error");
        GatewayResponse response = gateway_error(
            409, "InternalError",
            "facegate: not resent: an identical earlier call (ledger row " +
                std::to_string(begin.row) + ") may have been billed without an answer",
            "upstream_error");
        response.headers.push_back({"X-Facegate-Possibly-Billed", "true"});
        return answer(request.done, std::move(response));
      }
      case BeginOutcome::error:
        metrics.count_request(model.name, "upstream_error");
        return answer(request.done,
                      gateway_error(500, "InternalError",
                                    "facegate: not sent: the ledger failed: " + begin.error.message,
                                    "upstream_error"));
    }
  }

  /// An earlier upstream answer, as it came.
  static GatewayResponse cached(const RawAnswer& raw, std::string_view decision) {
    GatewayResponse response;
    response.status = raw.status;
    if (!raw.content_type.empty()) response.headers.push_back({"Content-Type", raw.content_type});
    response.headers.push_back({"X-Facegate-Decision", std::string(decision)});
    response.headers.push_back({"X-Facegate-Cache", "hit"});
    response.body = raw.body;
    return response;
  }

  /// Settles the claimed ledger row of a forwarded call: released when nothing was sent,
  /// completed with the raw answer when one came, possibly billed when it was lost.
  void record(const ModelRules& model, std::int64_t row, const detail::UpstreamAnswer& got) {
    using Kind = detail::UpstreamAnswer::Kind;
    std::lock_guard lock(ledger_mutex);
    switch (got.kind) {
      case Kind::answered: {
        const RawAnswer raw{got.status, got.content_type, got.body};
        ledger->complete_call(row, parse_detect_response(model.response, got.status, got.body), &raw);
        return;
      }
      case Kind::queue_full:
      case Kind::queue_timeout:
      case Kind::not_sent:
        ledger->release_claim(row);
        return;
      case Kind::possibly_billed:
      case Kind::too_large: {
        DetectResult lost;
        lost.outcome = DetectOutcome::possibly_billed;
        lost.http_status = got.status;
        lost.attempts = 1;
        lost.detail = "facegate serve: " + got.detail;
        ledger->complete_call(row, lost);
        return;
      }
    }
  }

  void forward(Pending request, std::string_view decision, std::optional<std::int64_t> row) {
    metrics.count_forwarded(request.model->name);
    detail::UpstreamCall call;
    call.model = request.model;
    call.url = upstream + request.model->endpoint;
    call.headers = std::move(request.passed_headers);
    call.headers.push_back(std::move(request.authorization));
    call.headers.push_back("Content-Type: application/json");
    call.body = std::move(request.body);
    call.done = [this, model = request.model, done = std::move(request.done),
                 decision = std::string(decision), row](detail::UpstreamAnswer upstream_answer) mutable {
      if (row) record(*model, *row, upstream_answer);
      GatewayResponse response = relay(*model, std::move(upstream_answer), decision);
      answer(done, std::move(response));
    };
    forwarder->submit(std::move(call));
  }

  /// The upstream's answer as it came, or the gateway's vendor-shaped account of why none came.
  GatewayResponse relay(const ModelRules& model, detail::UpstreamAnswer upstream_answer,
                        const std::string& decision) {
    using Kind = detail::UpstreamAnswer::Kind;
    switch (upstream_answer.kind) {
      case Kind::answered: {
        const DetectResult result =
            parse_detect_response(model.response, upstream_answer.status, upstream_answer.body);
        metrics.count_upstream(model, upstream_answer.status, result.billed,
                               result.billing_uncertain());
        metrics.count_request(model.name, decision);
        GatewayResponse response;
        response.status = upstream_answer.status;
        if (!upstream_answer.content_type.empty()) {
          response.headers.push_back({"Content-Type", upstream_answer.content_type});
        }
        if (!upstream_answer.retry_after.empty()) {
          response.headers.push_back({"Retry-After", upstream_answer.retry_after});
        }
        response.headers.push_back({"X-Facegate-Decision", decision});
        response.body = std::move(upstream_answer.body);
        return response;
      }
      case Kind::queue_full:
      case Kind::queue_timeout:
        metrics.count_request(model.name, "throttled");
        return throttled("facegate: " + upstream_answer.detail, upstream_answer.retry_after);
      case Kind::not_sent:
        metrics.count_upstream(model, 0, 0, false);
        metrics.count_request(model.name, "upstream_error");
        return gateway_error(503, "ModelUnavailable", "facegate: " + upstream_answer.detail,
                            "upstream_error");
      case Kind::possibly_billed:
      case Kind::too_large: {
        metrics.count_upstream(model, upstream_answer.status, 0, true);
        metrics.count_request(model.name, "upstream_error");
        const bool timeout = upstream_answer.kind == Kind::possibly_billed;
        GatewayResponse response =
            gateway_error(timeout ? 504 : 502, timeout ? "RequestTimeOut" : "InternalError",
                         "facegate: " + upstream_answer.detail, "upstream_error");
        response.headers.push_back({"X-Facegate-Possibly-Billed", "true"});
        return response;
      }
    }
    return gateway_error(500, "InternalError", "facegate: unreachable", "upstream_error");
  }
};

GatewayResult Gateway::create(GatewayOptions options) {
  GatewayResult result;
  if (options.rules.models.empty()) {
    result.error = "the rules name no model";
    return result;
  }
  auto state = std::make_unique<State>(std::move(options));
  state->upstream = dashscope_base_url(state->options.upstream);
  if (std::string problem = base_url_problem(state->upstream); !problem.empty()) {
    result.error = std::move(problem);
    return result;
  }
  const GatewayOptions& given = state->options;
  if (given.ledger) {
    LedgerOpenResult opened = Ledger::open(*given.ledger, given.ledger_options);
    if (!opened.ok()) {
      result.error = std::move(opened.error.message);
      return result;
    }
    state->ledger.emplace(std::move(*opened.ledger));
  }
  detail::ForwarderOptions forwarding;
  forwarding.requests_per_second = given.requests_per_second;
  forwarding.rate_window_margin = given.rate_window_margin;
  forwarding.queue_limit = given.queue_limit;
  forwarding.queue_wait = given.queue_wait;
  forwarding.connect_timeout = given.connect_timeout;
  forwarding.timeout = given.upstream_timeout;
  forwarding.max_response_bytes = given.max_response_bytes;
  forwarding.ca_file = given.ca_file;
  forwarding.metrics = &state->metrics;
  state->forwarder = std::make_unique<detail::Forwarder>(std::move(forwarding));

  CheckerOptions checking;
  checking.rules = given.rules;
  checking.model = given.rules.models.front().name;  // judging mode; each input names its own
  checking.strict = given.strict;
  checking.fetch = given.fetch;
  checking.loop = given.loop;
  checking.max_in_flight = std::max<std::size_t>(given.max_in_flight, 1);
  checking.local_threads = 1;  // inputs are URLs: the Checker's network thread does the work
  State* raw = state.get();
  CheckerResult checker =
      Checker::create(std::move(checking), [raw](CheckRecord record) { raw->judged(std::move(record)); });
  if (!checker.ok()) {
    result.error = std::move(checker.error);
    return result;
  }
  state->checker = std::move(checker.checker);
  result.gateway.reset(new Gateway(std::move(state)));
  return result;
}

Gateway::Gateway(std::unique_ptr<State> state) : state_(std::move(state)) {}

Gateway::~Gateway() {
  state_->checker->finish();
  state_->checker.reset();    // every record delivered: nothing more is forwarded
  state_->forwarder.reset();  // every forwarded request answered
}

void Gateway::handle(GatewayRequest request, GatewayCallback done) {
  State& state = *state_;
  state.open.fetch_add(1);
  if (request.path == "/healthz" || request.path == "/metrics") {
    if (request.method != "GET" && request.method != "HEAD") {
      return state.answer(done, gateway_error(405, "MethodNotAllowed", "use GET", "bad_request"));
    }
    if (request.path == "/healthz") return state.answer(done, json_response(200, "{\"status\":\"ok\"}"));
    GatewayResponse response;
    response.headers.push_back({"Content-Type", "text/plain; version=0.0.4; charset=utf-8"});
    response.body = metrics_text();
    return state.answer(done, std::move(response));
  }
  const ModelRules* endpoint = state.model_at(request.path);
  if (endpoint == nullptr) {
    return state.answer(done, gateway_error(404, "NotFound", "facegate serves no " + request.path,
                                           "bad_request"));
  }
  if (request.method != "POST") {
    return state.answer(done, gateway_error(405, "MethodNotAllowed", "use POST", "bad_request"));
  }
  state.detect(*endpoint, std::move(request), std::move(done));
}

std::string Gateway::metrics_text() const { return state_->metrics.text(); }

std::size_t Gateway::in_flight() const noexcept { return state_->open.load(); }

}  // namespace facegate
