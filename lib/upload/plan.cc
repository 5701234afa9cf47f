// The public face of the upload (include/facegate/upload.hpp): names, and the dry run's plan.
#include "detect/service_request.hpp"
#include "facegate/upload.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

constexpr std::string_view kUploadHost = "{upload_host}";
constexpr std::string_view kUploadDir = "{upload_dir}";

std::string key_text(const UploadPlan& plan) {
  return std::string(kUploadDir) + "/" + plan.object_name;
}

}  // namespace

std::string_view upload_outcome_name(UploadOutcome outcome) noexcept {
  switch (outcome) {
    case UploadOutcome::uploaded:
      return "uploaded";
    case UploadOutcome::reused:
      return "reused";
    case UploadOutcome::failed:
      return "failed";
  }
  return "failed";
}

std::vector<std::string_view> upload_form_fields() {
  return {"OSSAccessKeyId",
          "Signature",
          "policy",
          "key",
          "x-oss-object-acl",
          "x-oss-forbid-overwrite",
          "success_action_status",
          "file"};
}

std::string UploadPlan::oss_url() const { return "oss://" + key_text(*this); }

std::string render_upload_plan(const UploadPlan& plan, bool has_api_key) {
  std::string text = "GET " + plan.policy_url + "\n";
  text += "Authorization: " + detail::redacted_authorization(has_api_key) + "\n\n";
  text += "POST " + std::string(kUploadHost) + "\nContent-Type: multipart/form-data\n\n";
  for (const std::string_view field : upload_form_fields()) {
    text += std::string(field);
    if (field == "key") text += " = " + key_text(plan);
    if (field == "success_action_status") text += " = 200";
    if (field == "file") text += " = " + plan.path + " (" + std::to_string(plan.bytes) + " bytes)";
    text += "\n";
  }
  return text;
}

std::string upload_plan_json(const UploadPlan& plan, bool has_api_key) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("policy_request").begin_object();
  json.key("method").string("GET");
  json.key("url").string(plan.policy_url);
  json.key("headers").begin_object();
  json.key("Authorization").string(detail::redacted_authorization(has_api_key));
  json.end_object().end_object();
  json.key("upload").begin_object();
  json.key("method").string("POST");
  json.key("url").string(kUploadHost);
  json.key("fields").begin_array();
  for (const std::string_view field : upload_form_fields()) json.string(field);
  json.end_array();
  json.key("key").string(key_text(plan));
  json.key("file").string(plan.path);
  json.key("bytes").number(plan.bytes);
  json.end_object();
  json.end_object();
  return json.take();
}

}  // namespace facegate
