// to_json(const CheckRecord&): the one JSON form of a record (README, "Records").
#include <optional>
#include <string>

#include "facegate/check.hpp"
#include "ledger/internal.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

std::optional<std::string_view> text_or_null(std::string_view text) {
  return text.empty() ? std::nullopt : std::optional(text);
}

std::optional<std::uint64_t> count_or_null(std::uint64_t value) {
  return value ? std::optional(value) : std::nullopt;
}

// format ... bytes_read, and for URLs http_status, bytes_transferred and requests.
void write_image_fields(detail::JsonWriter& json, const ProbeResult& probe) {
  const ImageInfo& info = probe.info;
  json.key("format");
  if (info.format == Format::unknown) {
    json.null();
  } else {
    json.string(format_name(info.format));
  }
  json.key("subtype").optional_string(text_or_null(info.subtype));
  json.key("width").optional_number(count_or_null(info.width));
  json.key("height").optional_number(count_or_null(info.height));
  json.key("orientation").optional_number(count_or_null(info.orientation));
  json.key("animated").boolean(info.animated);
  json.key("file_size").optional_number(probe.file_size);
  json.key("bytes_read").number(probe.bytes_read);
  if (probe.network) {
    const NetworkFacts& net = *probe.network;
    json.key("http_status").optional_number(
        net.http_status > 0 ? std::optional(static_cast<std::uint64_t>(net.http_status))
                            : std::nullopt);
    json.key("bytes_transferred").number(net.bytes_transferred);
    json.key("requests").number(std::uint64_t{net.requests});
  }
  json.key("error");
  if (probe.ok()) {
    json.null();
    return;
  }
  json.begin_object();
  json.key("code").string(error_code_name(probe.error.code));
  json.key("message").string(probe.error.message);
  json.end_object();
}

void write_findings(detail::JsonWriter& json, const Verdict& verdict) {
  json.key("findings").begin_array();
  for (const Finding& finding : verdict.findings) {
    json.begin_object();
    json.key("code").string(finding.code);
    json.key("severity").string(severity_name(finding.severity));
    json.key("message").string(finding.message);
    json.key("limit").optional_string(text_or_null(finding.limit));
    json.key("actual").optional_string(text_or_null(finding.actual));
    json.end_object();
  }
  json.end_array();
}

void write_box(detail::JsonWriter& json, const std::optional<BoundingBox>& box) {
  if (!box) {
    json.null();
    return;
  }
  json.begin_array();
  for (std::int64_t v : *box) json.number(v);
  json.end_array();
}

void write_upload(detail::JsonWriter& json, const UploadFacts& upload) {
  json.begin_object();
  json.key("outcome").string(upload_outcome_name(upload.outcome));
  json.key("oss_url").optional_string(text_or_null(upload.oss_url));
  json.key("bytes").number(upload.bytes);
  json.key("attempts").number(std::uint64_t{upload.attempts});
  json.key("expires_at").optional_string(
      upload.expires_at ? std::optional<std::string>(detail::format_utc_time(*upload.expires_at)) : std::nullopt);
  json.key("error").optional_string(text_or_null(upload.error));
  json.end_object();
}

void write_remote(detail::JsonWriter& json, const DetectResult& r,
                  const std::optional<UploadFacts>& upload) {
  json.begin_object();
  json.key("outcome").string(detect_outcome_name(r.outcome));
  json.key("passed").boolean(r.passed);
  json.key("billed").number(std::uint64_t{r.billed});
  json.key("possibly_billed").boolean(r.billing_uncertain());
  json.key("cached").boolean(r.cached);
  json.key("code").optional_string(text_or_null(r.code));
  json.key("message").optional_string(text_or_null(r.message));
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
  json.key("bodystyle").optional_string(text_or_null(r.bodystyle));
  json.key("request_id").optional_string(text_or_null(r.request_id));
  json.key("http_status").optional_number(
      r.http_status > 0 ? std::optional(static_cast<std::uint64_t>(r.http_status)) : std::nullopt);
  json.key("attempts").number(std::uint64_t{r.attempts});
  json.key("detail").optional_string(text_or_null(r.detail));
  if (upload) {
    json.key("upload");
    write_upload(json, *upload);
  }
  json.end_object();
}

}  // namespace

std::string json_quote(std::string_view text) {
  std::string quoted;
  detail::append_json_string(quoted, text);
  return quoted;
}

std::string to_json(const CheckRecord& record) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("source").string(record.source);
  if (!record.id_json.empty()) json.key("id").raw(record.id_json);
  if (!record.verdict) {  // probe-only: the probe schema
    write_image_fields(json, record.probe);
    json.end_object();
    return json.take();
  }
  json.key("model").string(record.model);
  json.key("decision").string(decision_name(record.verdict->decision));
  write_findings(json, *record.verdict);
  json.key("image").begin_object();
  write_image_fields(json, record.probe);
  json.end_object();
  if (record.deep) {
    json.key("deep").boolean(true);
    json.key("deep_outcome").string(deep_outcome_name(record.deep->outcome));
    json.key("deep_us").number(record.deep->microseconds);
  }
  json.key("remote");
  if (record.dry_run) {
    json.begin_object().key("dry_run").raw(dry_run_json(*record.dry_run, record.dry_run_has_key));
    if (record.dry_run_upload) {
      json.key("upload").raw(upload_plan_json(*record.dry_run_upload, record.dry_run_has_key));
    }
    json.end_object();
  } else if (record.remote) {
    write_remote(json, *record.remote, record.upload);
  } else {
    json.null();
  }
  json.end_object();
  return json.take();
}

}  // namespace facegate
