// Building and showing the face-detect request (docs/service.md#endpoint-and-request).
#include <algorithm>

#include "facegate/detect.hpp"
#include "detect/service_request.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

constexpr std::string_view kOssScheme = "oss://";

std::string request_body(const ModelRules& model, std::string_view image_url,
                         std::span<const Parameter> parameters) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("model").string(model.name);
  json.key("input").begin_object().key("image_url").string(image_url).end_object();
  // Parameters only for a model that has some (docs/service.md#endpoint-and-request).
  if (!model.parameters.empty()) {
    json.key("parameters").begin_object();
    for (const auto& parameter : parameters) json.key(parameter.name).string(parameter.value);
    json.end_object();
  }
  json.end_object();
  return json.take();
}

}  // namespace

std::vector<Parameter> request_parameters(const ModelRules& model,
                                          std::span<const Parameter> given) {
  const auto effective = effective_parameters(model, given);
  std::vector<Parameter> parameters;
  for (const auto& rule : model.parameters) {
    const auto found = std::find_if(effective.begin(), effective.end(),
                                    [&](const Parameter& p) { return p.name == rule.name; });
    if (found != effective.end()) {
      parameters.push_back(*found);
    } else if (rule.required && rule.values.size() == 1) {
      parameters.push_back({rule.name, rule.values.front()});
    }
  }
  return parameters;
}

DetectRequest build_detect_request(const ModelRules& model, std::string_view base_url,
                                   std::string_view image_url,
                                   std::span<const Parameter> given_parameters) {
  DetectRequest request;
  request.url = dashscope_base_url(base_url) + model.endpoint;
  request.headers.push_back({"Content-Type", "application/json"});
  // A temporary oss:// upload needs this header to be resolved (docs/service.md#temporary-upload).
  if (image_url.starts_with(kOssScheme)) {
    request.headers.push_back({"X-DashScope-OssResourceResolve", "enable"});
  }
  request.body = request_body(model, image_url, request_parameters(model, given_parameters));
  return request;
}

std::string render_dry_run(const DetectRequest& request, bool has_api_key) {
  std::string text = request.method + " " + request.url + "\n";
  text += "Authorization: " + detail::redacted_authorization(has_api_key) + "\n";
  for (const auto& header : request.headers) text += header.name + ": " + header.value + "\n";
  text += "\n" + request.body + "\n";
  return text;
}

std::string dry_run_json(const DetectRequest& request, bool has_api_key) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("method").string(request.method);
  json.key("url").string(request.url);
  json.key("headers").begin_object();
  json.key("Authorization").string(detail::redacted_authorization(has_api_key));
  for (const auto& header : request.headers) json.key(header.name).string(header.value);
  json.end_object();
  json.key("body").raw(request.body);
  json.end_object();
  return json.take();
}

namespace detail {

std::string redacted_authorization(bool has_api_key) {
  if (!has_api_key) return "Bearer <no API key: set DASHSCOPE_API_KEY>";
  return "Bearer " + std::string(ApiKey::kRedacted);
}

}  // namespace detail
}  // namespace facegate
