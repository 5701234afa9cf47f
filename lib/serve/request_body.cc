#include "serve/request_body.hpp"

#include <simdjson.h>

namespace facegate::detail {
namespace {

DetectBody refused(std::string problem) {
  DetectBody body;
  body.problem = std::move(problem);
  return body;
}

}  // namespace

DetectBody parse_detect_body(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) {
    return refused("the request body is not a JSON object");
  }
  DetectBody body;
  std::string_view model;
  if (root["model"].get_string().get(model) != simdjson::SUCCESS || model.empty()) {
    return refused("Model not specified: \"model\" must be a non-empty string");
  }
  body.model = model;
  std::string_view image_url;
  if (root.at_pointer("/input/image_url").get_string().get(image_url) != simdjson::SUCCESS ||
      image_url.empty()) {
    return refused("input.image_url must be a non-empty string");
  }
  body.image_url = image_url;
  simdjson::dom::element parameters;
  if (root["parameters"].get(parameters) != simdjson::SUCCESS || parameters.is_null()) return body;
  simdjson::dom::object fields;
  if (parameters.get_object().get(fields) != simdjson::SUCCESS) {
    return refused("parameters must be a JSON object");
  }
  for (auto [name, value] : fields) {
    std::string_view text_value;
    if (value.get_string().get(text_value) != simdjson::SUCCESS) {
      return refused("parameters." + std::string(name) + " must be a string");
    }
    body.parameters.push_back({std::string(name), std::string(text_value)});
  }
  return body;
}

}  // namespace facegate::detail
