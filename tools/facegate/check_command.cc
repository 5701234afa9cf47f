// `facegate check`: probe, judge against the model's rules, and call the remote detector for
// the images that could pass (and only those), all on one network loop.
#include <algorithm>

#include "commands.hpp"
#include "facegate/detect.hpp"
#include "output/json_writer.hpp"
#include "table.hpp"

namespace facegate::cli {
namespace {

/// One input's way through the check.
struct CheckRecord {
  SourceProbe probe;
  Verdict verdict;
  std::optional<DetectResult> remote;        // a remote call, or why none was made
  std::optional<DetectRequest> dry_run;      // --dry-run: the request that would be sent
};

// Totals for the summary on stderr.
struct Tally {
  std::size_t checked = 0, pass = 0, reject = 0, unknown = 0, error = 0;
  std::uint64_t remote_attempts = 0, billed = 0, possibly_billed = 0, remote_passed = 0;
};

bool scheme_is_accepted(const ModelRules& model, std::string_view url) {
  const std::string_view scheme = url.substr(0, url.find(':'));
  return std::any_of(model.urls.schemes.begin(), model.urls.schemes.end(),
                     [&](const std::string& accepted) {
                       return accepted.size() == scheme.size() &&
                              std::equal(accepted.begin(), accepted.end(), scheme.begin(),
                                         [](char a, char b) {
                                           return a == (b >= 'A' && b <= 'Z' ? b + 32 : b);
                                         });
                     });
}

class CheckRun {
 public:
  CheckRun(const CheckOptions& options, const ModelRules& model, Streams io)
      : options_(options), model_(model), io_(io), loop_(options.settings.loop) {
    if (options.ratio) given_parameters_.push_back(Parameter{"ratio", *options.ratio});
  }

  int run() {
    const std::vector<Input> inputs = expand_inputs(options_.inputs, io_.in);
    records_.resize(inputs.size());
    start_remote_side();
    std::vector<SourceProbe> local = probe_local_inputs(inputs);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].kind == Input::Kind::url) {
        start_url(i, inputs[i]);
      } else {
        records_[i].probe = std::move(local[i]);
        judge(i, SourceKind::local_file);
      }
    }
    loop_.run();
    return finish();
  }

 private:
  void start_remote_side() {
    if (options_.offline) {
      io_.err << "facegate: offline: no remote detector calls\n";
      return;
    }
    ApiKeyResult key = load_api_key();
    if (options_.dry_run) {
      has_key_ = key.ok();
      dry_run_client_.emplace(loop_, ApiKey{}, detect_options());
      return;
    }
    if (!key.ok()) {
      io_.err << "facegate: " << key.error << ": checking offline\n";
      return;
    }
    has_key_ = true;
    client_.emplace(loop_, std::move(key.key), detect_options());
  }

  DetectOptions detect_options() const {
    DetectOptions detect;
    detect.base_url = options_.base_url;
    detect.requests_per_second = options_.requests_per_second;
    detect.retry_ambiguous = options_.retry_ambiguous;
    detect.use_environment_proxy = options_.settings.fetch.use_environment_proxy;
    detect.user_agent = options_.settings.fetch.user_agent;
    return detect;
  }

  void start_url(std::size_t index, const Input& input) {
    const FetchError url_check = check_public_url(input.source);
    const bool private_allowed =
        url_check == FetchError::private_address && options_.settings.fetch.allow_private_network;
    if (url_check != FetchError::none && !private_allowed) {
      // Never fetched. oss:// temporary URLs are fetched by the service, not by us:
      // nothing to judge but their parameters (spec/models.md, URL rule).
      records_[index].probe.input = input;
      const bool service_reads_it =
          url_check == FetchError::scheme && scheme_is_accepted(model_, input.source);
      judge(index, service_reads_it ? SourceKind::public_url : SourceKind::non_public_url,
            /*header_read=*/false);
      return;
    }
    probe_url_async(loop_, input.source, options_.settings.fetch,
                    [this, index, input](FetchResult result) {
                      const bool refused = result.error.code == FetchError::private_address;
                      records_[index].probe = from_fetch(input, std::move(result));
                      judge(index, refused ? SourceKind::non_public_url : SourceKind::public_url);
                    });
  }

  void judge(std::size_t index, SourceKind source, bool header_read = true) {
    CheckRecord& record = records_[index];
    const SourceProbe& probe = record.probe;
    const bool network_failure = !probe.ok() && !probe.probe_error &&
                                 probe.error_code != fetch_error_name(FetchError::private_address);
    if (network_failure) {
      record.verdict = Verdict{Decision::error,
                               {Finding{"fetch." + probe.error_code, Severity::error,
                                        probe.error_message, {}, probe.error_code}}};
      return;
    }
    Subject subject;
    subject.image = probe.info;
    subject.probe_error = probe.probe_error;
    subject.file_size = probe.file_size;
    subject.source = source;
    // What the request would send: defaults, and a required parameter's only value.
    subject.parameters = request_parameters(model_, given_parameters_);
    subject.strict = options_.strict;
    subject.header_read = header_read;
    record.verdict = evaluate(model_, subject);
    if (record.verdict.decision == Decision::pass) call_detector(index, source);
  }

  void call_detector(std::size_t index, SourceKind source) {
    CheckRecord& record = records_[index];
    if (!client_ && !dry_run_client_) return;
    if (source == SourceKind::local_file) {
      DetectResult not_sent;
      not_sent.outcome = DetectOutcome::not_sent;
      not_sent.detail = "a local file cannot be sent: the service fetches only public URLs";
      record.remote = std::move(not_sent);
      return;
    }
    if (dry_run_client_) {
      record.dry_run =
          dry_run_client_->request_for(model_, record.probe.input.source, given_parameters_);
      return;
    }
    client_->submit(model_, record.probe.input.source, given_parameters_,
                    [this, index](DetectResult result) { records_[index].remote = std::move(result); });
  }

  int finish() {
    Tally tally;
    bool all_passed = true;
    Table table({"SOURCE", "DECISION", "FORMAT", "SIZE", "FINDINGS", "REMOTE"});
    for (const CheckRecord& record : records_) {
      count(record, tally);
      all_passed = all_passed && record.verdict.decision == Decision::pass &&
                   (!record.remote || record.remote->passed ||
                    record.remote->outcome == DetectOutcome::not_sent);
      if (options_.json) {
        io_.out << record_json(record) << '\n';
      } else {
        table.add_row(table_cells(record));
      }
    }
    if (!options_.json) {
      table.print(io_.out);
      if (options_.dry_run) print_dry_runs();
    }
    io_.out.flush();
    print_summary(tally);
    return all_passed ? kExitOk : kExitFailed;
  }

  static void count(const CheckRecord& record, Tally& tally) {
    ++tally.checked;
    switch (record.verdict.decision) {
      case Decision::pass: ++tally.pass; break;
      case Decision::reject: ++tally.reject; break;
      case Decision::unknown: ++tally.unknown; break;
      case Decision::error: ++tally.error; break;
    }
    if (!record.remote || record.remote->outcome == DetectOutcome::not_sent) return;
    tally.remote_attempts += record.remote->attempts;
    tally.billed += record.remote->billed;
    tally.possibly_billed += record.remote->billing_uncertain() ? 1 : 0;
    tally.remote_passed += record.remote->passed ? 1 : 0;
  }

  void print_dry_runs() const {
    for (const CheckRecord& record : records_) {
      if (record.dry_run) io_.out << '\n' << render_dry_run(*record.dry_run, has_key_);
    }
  }

  // The price of `count` requests, or "price not published".
  std::string cost_text(std::uint64_t count) const {
    if (!model_.price || model_.price->per_image.empty()) return "price not published";
    std::optional<Money> unit = price_per_image(model_, "USD");
    if (!unit) unit = model_.price->per_image.front();
    return format_money(Money{unit->currency, unit->amount_micros * static_cast<std::int64_t>(count)});
  }

  void print_summary(const Tally& t) const {
    io_.err << "checked " << t.checked << ": " << t.pass << " pass, " << t.reject << " reject, "
            << t.unknown << " unknown, " << t.error << " error\n";
    io_.err << "billed calls avoided: " << t.reject << ", money saved: " << cost_text(t.reject)
            << '\n';
    if (client_) {
      io_.err << "remote calls: " << t.remote_attempts << ", passed: " << t.remote_passed
              << ", billed: " << t.billed << ", cost: " << cost_text(t.billed)
              << ", possibly billed: " << t.possibly_billed << '\n';
    }
  }

  std::string record_json(const CheckRecord& record) const {
    detail::JsonWriter json;
    json.begin_object();
    json.key("source").string(record.probe.input.source);
    json.key("model").string(model_.name);
    json.key("decision").string(decision_name(record.verdict.decision));
    json.key("findings").begin_array();
    for (const Finding& finding : record.verdict.findings) {
      json.begin_object();
      json.key("code").string(finding.code);
      json.key("severity").string(severity_name(finding.severity));
      json.key("message").string(finding.message);
      json.key("limit").optional_string(finding.limit.empty() ? std::nullopt
                                                              : std::optional(std::string_view(finding.limit)));
      json.key("actual").optional_string(finding.actual.empty() ? std::nullopt
                                                                : std::optional(std::string_view(finding.actual)));
      json.end_object();
    }
    json.end_array();
    json.key("image").begin_object();
    write_image_fields(json, record.probe);
    write_error_field(json, record.probe);
    json.end_object();
    json.key("remote");
    if (record.dry_run) {
      json.begin_object().key("dry_run").raw(dry_run_json(*record.dry_run, has_key_)).end_object();
    } else if (record.remote) {
      write_remote(json, *record.remote);
    } else {
      json.null();
    }
    json.end_object();
    return json.take();
  }

  static void write_box(detail::JsonWriter& json, const std::optional<BoundingBox>& box) {
    if (!box) {
      json.null();
      return;
    }
    json.begin_array();
    for (std::int64_t v : *box) json.number(v);
    json.end_array();
  }

  static void write_remote(detail::JsonWriter& json, const DetectResult& r) {
    auto optional_text = [](const std::string& s) {
      return s.empty() ? std::nullopt : std::optional<std::string_view>(s);
    };
    json.begin_object();
    json.key("outcome").string(detect_outcome_name(r.outcome));
    json.key("passed").boolean(r.passed);
    json.key("billed").number(std::uint64_t{r.billed});
    json.key("possibly_billed").boolean(r.billing_uncertain());
    json.key("code").optional_string(optional_text(r.code));
    json.key("message").optional_string(optional_text(r.message));
    json.key("face_bbox");
    write_box(json, r.face_bbox);
    json.key("ext_bbox");
    write_box(json, r.ext_bbox);
    json.key("humanoid");
    if (r.humanoid) {
      json.boolean(*r.humanoid);
    } else {
      json.null();
    }
    json.key("bodystyle").optional_string(optional_text(r.bodystyle));
    json.key("request_id").optional_string(optional_text(r.request_id));
    json.key("http_status").optional_number(
        r.http_status > 0 ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(r.http_status))
                          : std::nullopt);
    json.key("attempts").number(std::uint64_t{r.attempts});
    json.key("detail").optional_string(optional_text(r.detail));
    json.end_object();
  }

  static std::vector<std::string> table_cells(const CheckRecord& record) {
    const ImageInfo& info = record.probe.info;
    std::string findings;
    for (const Finding& finding : record.verdict.findings) {
      if (finding.severity == Severity::info) continue;
      if (!findings.empty()) findings += ", ";
      findings += finding.code;
    }
    std::string remote = "-";
    if (record.dry_run) remote = "dry run";
    if (record.remote) {
      remote = std::string(detect_outcome_name(record.remote->outcome));
      if (!record.remote->code.empty()) remote += " (" + record.remote->code + ")";
    }
    return {record.probe.input.source,
            std::string(decision_name(record.verdict.decision)),
            info.format == Format::unknown ? "-" : std::string(format_name(info.format)),
            info.has_dimensions() ? std::to_string(info.width) + "x" + std::to_string(info.height)
                                  : "-",
            findings.empty() ? "-" : findings,
            remote};
  }

  const CheckOptions& options_;
  const ModelRules& model_;
  Streams io_;
  NetworkLoop loop_;
  std::optional<DetectClient> client_;
  std::optional<DetectClient> dry_run_client_;  // builds requests only; never submits
  bool has_key_ = false;
  std::vector<Parameter> given_parameters_;
  std::vector<CheckRecord> records_;
};

}  // namespace

int run_check(const CheckOptions& options, Streams io) {
  const std::optional<RuleSet> rules = load_rules_or_report(options.rules_file, io.err);
  if (!rules) return kExitUsage;
  const ModelRules* model = find_model_or_report(*rules, options.model, io.err);
  if (!model) return kExitUsage;
  return CheckRun(options, *model, io).run();
}

}  // namespace facegate::cli
