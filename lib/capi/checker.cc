// The C API's checker and its options (include/facegate/facegate.h), over facegate::Checker.
#include <simdjson.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "capi/capi.hpp"
#include "facegate/check.hpp"

struct facegate_options {
  facegate::CheckerOptions options;
};

struct facegate_checker {
  std::unique_ptr<facegate::Checker> checker;
};

namespace facegate::detail {
namespace {

static_assert(FACEGATE_DECISION_ERROR == static_cast<int>(Decision::error));
static_assert(FACEGATE_ONLINE == static_cast<int>(RemoteMode::online));

std::string text_or_empty(const char* text) { return text != nullptr ? text : ""; }

// The record as C sees it; its pointers point into `record` and `json`.
facegate_record c_record(const CheckRecord& record, const std::string& json) {
  facegate_record out{};
  out.sequence = record.sequence;
  out.source = record.source.c_str();
  out.id_json = record.id_json.c_str();
  out.model = record.model.c_str();
  out.json = json.c_str();
  out.error = static_cast<int>(record.probe.error.code);
  out.decision = record.verdict ? static_cast<int>(record.verdict->decision) : FACEGATE_DECISION_NONE;
  out.passed = record.passed();
  out.shown = record.shown();
  out.info = capi_image_info(record.probe.info);
  return out;
}

RecordCallback c_callback(facegate_record_callback on_record, void* user) {
  return [on_record, user](CheckRecord record) {
    capi_guard([&] {
      const std::string json = to_json(record);
      const facegate_record out = c_record(record, json);
      on_record(&out, user);
      return FACEGATE_OK;
    });
  };
}

// `id_json` minified when it is one JSON value; nullopt when it is not.
std::optional<std::string> minified_id(const char* id_json) {
  if (id_json == nullptr) return std::string();
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(simdjson::padded_string(std::string_view(id_json))).get(element)) {
    return std::nullopt;
  }
  return simdjson::minify(element);
}

// Fills in the id and model of `input` and submits it.
int submit(facegate_checker* checker, CheckInput input, const char* id_json, const char* model) {
  if (checker == nullptr) return capi_null_argument("checker");
  std::optional<std::string> id = minified_id(id_json);
  if (!id) return capi_fail(FACEGATE_ERR_BAD_INPUT, "the id is not one JSON value: ", id_json);
  input.id_json = std::move(*id);
  input.model = text_or_empty(model);
  if (checker->checker->submit(std::move(input)) == SubmitStatus::cancelled) {
    return capi_fail(FACEGATE_ERR_CANCELLED, "the checker was cancelled");
  }
  return capi_ok();
}

// Runs `change` on the options of `handle`, or fails on a NULL handle.
template <typename Change>
int change_options(facegate_options* handle, Change&& change) {
  if (handle == nullptr) return capi_null_argument("options");
  return capi_guard([&] { return change(handle->options); });
}

int set_flag(facegate_options* handle, bool CheckerOptions::*flag, int value) {
  return change_options(handle, [&](CheckerOptions& options) {
    options.*flag = value != 0;
    return capi_ok();
  });
}

}  // namespace
}  // namespace facegate::detail

using namespace facegate;
using namespace facegate::detail;

extern "C" {

facegate_options* facegate_options_create(void) {
  facegate_options* options = nullptr;
  capi_guard([&] {
    options = new facegate_options{};
    return capi_ok();
  });
  return options;
}

void facegate_options_destroy(facegate_options* options) { delete options; }

int facegate_options_set_model(facegate_options* options, const char* model) {
  return change_options(options, [&](CheckerOptions& o) {
    o.model = text_or_empty(model);
    return capi_ok();
  });
}

int facegate_options_add_parameter(facegate_options* options, const char* name,
                                   const char* value) {
  if (name == nullptr) return capi_null_argument("name");
  if (value == nullptr) return capi_null_argument("value");
  return change_options(options, [&](CheckerOptions& o) {
    o.parameters.push_back(Parameter{name, value});
    return capi_ok();
  });
}

int facegate_options_set_remote(facegate_options* options, int mode) {
  if (mode < FACEGATE_OFFLINE || mode > FACEGATE_ONLINE) {
    return capi_fail(FACEGATE_ERR_INVALID_CALL, "the remote mode is not a facegate_remote_mode");
  }
  return change_options(options, [&](CheckerOptions& o) {
    o.remote = static_cast<RemoteMode>(mode);
    return capi_ok();
  });
}

int facegate_options_set_key(facegate_options* options, const char* key) {
  if (key == nullptr) return capi_null_argument("key");
  return change_options(options, [&](CheckerOptions& o) {
    o.key = ApiKey(key);
    return capi_ok();
  });
}

int facegate_options_set_base_url(facegate_options* options, const char* base_url) {
  const std::string url = text_or_empty(base_url);
  if (const std::string problem = url.empty() ? "" : base_url_problem(url); !problem.empty()) {
    return capi_fail(FACEGATE_ERR_BAD_URL, problem);
  }
  return change_options(options, [&](CheckerOptions& o) {
    o.detect.base_url = url;
    return capi_ok();
  });
}

int facegate_options_set_ledger(facegate_options* options, const char* path) {
  return change_options(options, [&](CheckerOptions& o) {
    o.ledger = path != nullptr ? std::optional<std::filesystem::path>(path) : std::nullopt;
    return capi_ok();
  });
}

int facegate_options_set_allow_loopback(facegate_options* options, int allow) {
  return change_options(options, [&](CheckerOptions& o) {
    o.fetch.allow_loopback = allow != 0;
    return capi_ok();
  });
}

int facegate_options_set_upload(facegate_options* options, int upload) {
  return set_flag(options, &CheckerOptions::upload, upload);
}

int facegate_options_set_deep(facegate_options* options, int deep) {
  return set_flag(options, &CheckerOptions::deep, deep);
}

int facegate_options_set_strict(facegate_options* options, int strict) {
  return set_flag(options, &CheckerOptions::strict, strict);
}

int facegate_options_set_threads(facegate_options* options, unsigned threads) {
  return change_options(options, [&](CheckerOptions& o) {
    o.local_threads = threads;
    return capi_ok();
  });
}

int facegate_options_set_max_in_flight(facegate_options* options, size_t count) {
  if (count == 0) return capi_fail(FACEGATE_ERR_INVALID_CALL, "max_in_flight must be at least 1");
  return change_options(options, [&](CheckerOptions& o) {
    o.max_in_flight = count;
    return capi_ok();
  });
}

int facegate_checker_create(const facegate_options* options, facegate_record_callback on_record,
                            void* user, facegate_checker** out) {
  if (out == nullptr) return capi_null_argument("out");
  *out = nullptr;
  if (options == nullptr) return capi_null_argument("options");
  if (on_record == nullptr) return capi_null_argument("on_record");
  return capi_guard([&] {
    CheckerResult made = Checker::create(options->options, c_callback(on_record, user));
    if (!made.ok()) return capi_fail(FACEGATE_ERR_BAD_INPUT, made.error);
    *out = new facegate_checker{std::move(made.checker)};
    return capi_ok();
  });
}

int facegate_checker_submit_path(facegate_checker* checker, const char* path,
                                 const char* id_json, const char* model) {
  if (path == nullptr) return capi_null_argument("path");
  return capi_guard([&] { return submit(checker, CheckInput::from_path(path), id_json, model); });
}

int facegate_checker_submit_url(facegate_checker* checker, const char* url, const char* id_json,
                                const char* model) {
  if (url == nullptr) return capi_null_argument("url");
  return capi_guard([&] {
    CheckInput input;
    input.kind = CheckInput::Kind::url;
    input.source = url;
    return submit(checker, std::move(input), id_json, model);
  });
}

int facegate_checker_submit_memory(facegate_checker* checker, const char* label,
                                   const void* bytes, size_t size, const char* id_json,
                                   const char* model) {
  if (label == nullptr) return capi_null_argument("label");
  if (bytes == nullptr && size != 0) return capi_null_argument("bytes");
  return capi_guard([&] {
    const auto* begin = static_cast<const std::byte*>(bytes);
    std::vector<std::byte> copy(begin, begin + size);
    return submit(checker, CheckInput::from_memory(label, std::move(copy)), id_json, model);
  });
}

int facegate_checker_finish(facegate_checker* checker) {
  if (checker == nullptr) return capi_null_argument("checker");
  return capi_guard([&] {
    checker->checker->finish();
    return capi_ok();
  });
}

int facegate_checker_cancel(facegate_checker* checker) {
  if (checker == nullptr) return capi_null_argument("checker");
  return capi_guard([&] {
    checker->checker->cancel();
    return capi_ok();
  });
}

int facegate_checker_summary(const facegate_checker* checker, facegate_summary* out) {
  if (checker == nullptr) return capi_null_argument("checker");
  if (out == nullptr) return capi_null_argument("out");
  return capi_guard([&] {
    const CheckSummary s = checker->checker->summary();
    *out = facegate_summary{s.records, s.cancelled, s.pass, s.reject, s.unknown, s.error,
                            s.not_images, s.deep_checked, s.deep_corrupt, s.bytes_read,
                            s.bytes_transferred, s.calls_avoided,
                            static_cast<uint64_t>(s.rate_time_avoided.count()), s.remote_calls,
                            s.remote_passed, s.billed, s.possibly_billed, s.reused,
                            s.budget_exhausted, s.online,         s.uploads,
                            s.uploads_reused,   s.upload_failures, s.upload_bytes};
    return capi_ok();
  });
}

char* facegate_checker_summary_text(const facegate_checker* checker) {
  if (checker == nullptr) {
    capi_null_argument("checker");
    return nullptr;
  }
  char* text = nullptr;
  capi_guard([&] {
    const Checker& c = *checker->checker;
    text = capi_copy(summary_text(c.summary(), c.options().model.empty()));
    return text != nullptr ? capi_ok() : capi_fail(FACEGATE_ERR_INTERNAL, "out of memory");
  });
  return text;
}

void facegate_checker_destroy(facegate_checker* checker) {
  capi_guard([&] {
    delete checker;  // ~Checker cancels and waits for the last records
    return FACEGATE_OK;
  });
}

}  // extern "C"
