// Normalizing the service's answers (docs/service.md#responses) into one DetectResult.
// The answer is untrusted: every field is type-checked, and nothing unexpected reads as "passed".
#include <simdjson.h>

#include <limits>

#include "facegate/detect.hpp"

namespace facegate {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Reads typed fields of one JSON object and remembers the first problem. A JSON null counts
// as absent for optional fields: it carries no value, so it cannot be misread.
class FieldReader {
 public:
  FieldReader(object fields, std::string path) : fields_(fields), path_(std::move(path)) {}

  bool has(std::string_view key) { return value_of(key).has_value(); }

  std::optional<bool> boolean(std::string_view key) {
    const auto value = value_of(key);
    if (!value) return std::nullopt;
    bool result = false;
    if (value->get_bool().get(result) != simdjson::SUCCESS) return wrong(key, "a boolean");
    return result;
  }

  std::optional<std::string> string(std::string_view key) {
    const auto value = value_of(key);
    if (!value) return std::nullopt;
    std::string_view result;
    if (value->get_string().get(result) != simdjson::SUCCESS) return wrong(key, "a string");
    return std::string(result);
  }

  std::optional<std::uint32_t> count(std::string_view key) {
    const auto value = value_of(key);
    if (!value) return std::nullopt;
    std::uint64_t result = 0;
    if (value->get_uint64().get(result) != simdjson::SUCCESS ||
        result > std::numeric_limits<std::uint32_t>::max()) {
      return wrong(key, "a non-negative integer");
    }
    return static_cast<std::uint32_t>(result);
  }

  std::optional<BoundingBox> box(std::string_view key) {
    const auto value = value_of(key);
    if (!value) return std::nullopt;
    simdjson::dom::array items;
    if (value->get_array().get(items) != simdjson::SUCCESS || items.size() != 4) {
      return wrong(key, "an array of 4 integers");
    }
    BoundingBox result{};
    std::size_t i = 0;
    for (const element item : items) {
      if (item.get_int64().get(result[i++]) != simdjson::SUCCESS) {
        return wrong(key, "an array of 4 integers");
      }
    }
    return result;
  }

  std::optional<object> nested(std::string_view key) {
    const auto value = value_of(key);
    if (!value) return std::nullopt;
    object result;
    if (value->get_object().get(result) != simdjson::SUCCESS) return wrong(key, "an object");
    return result;
  }

  /// Records a problem of the object as a whole.
  void fail(std::string problem) {
    if (problem_.empty()) problem_ = std::move(problem);
  }
  const std::string& problem() const { return problem_; }
  std::string name(std::string_view key) const { return path_ + std::string(key); }

 private:
  std::optional<element> value_of(std::string_view key) {
    element value;
    if (fields_.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return std::nullopt;
    return value;
  }

  std::nullopt_t wrong(std::string_view key, std::string_view expected) {
    fail(name(key) + " is not " + std::string(expected));
    return std::nullopt;
  }

  object fields_;
  std::string path_;
  std::string problem_;
};

bool is_success_status(int status) { return status >= 200 && status <= 299; }

// The answer cannot be used. Under 200 or 400 the service may have completed (and billed) the
// check, so the result is a bad_response; under another error status the status alone says
// the request was refused, and the body only lacked the details.
DetectResult unusable(DetectResult result, std::string problem) {
  const bool maybe_completed = is_success_status(result.http_status) || result.http_status == 400;
  result.outcome = maybe_completed ? DetectOutcome::bad_response : DetectOutcome::request_error;
  result.passed = false;
  result.billed = 0;
  result.detail = "HTTP " + std::to_string(result.http_status) + ": " + problem;
  return result;
}

// The decision fields of output, per response shape. Returns the verdict, or nullopt when the
// output does not carry one (the reader says why).
std::optional<bool> read_check(ResponseShape shape, FieldReader& output, DetectResult& result) {
  result.code = output.string("code").value_or("");
  result.message = output.string("message").value_or("");
  std::optional<bool> verdict;
  switch (shape) {
    case ResponseShape::check_pass_humanoid:  // wan2.2-s2v-detect
      verdict = output.boolean("check_pass");
      result.humanoid = output.boolean("humanoid");
      if (!output.has("check_pass")) output.fail(output.name("check_pass") + " is missing");
      break;
    case ResponseShape::check_pass_bbox:  // emo-detect-v1
      verdict = output.boolean("check_pass");
      result.face_bbox = output.box("face_bbox");
      result.ext_bbox = output.box("ext_bbox");
      if (!output.has("check_pass")) output.fail(output.name("check_pass") + " is missing");
      break;
    case ResponseShape::pass_message:  // liveportrait-detect: "pass", not "check_pass"
      verdict = output.boolean("pass");
      if (!output.has("pass")) output.fail(output.name("pass") + " is missing");
      break;
    case ResponseShape::bbox_face:  // emoji-detect-v1: no check_pass; the overview says face_bbox
      result.face_bbox =
          output.has("bbox_face") ? output.box("bbox_face") : output.box("face_bbox");
      result.ext_bbox =
          output.has("ext_bbox_face") ? output.box("ext_bbox_face") : output.box("ext_bbox");
      if (output.has("check_pass")) {
        verdict = output.boolean("check_pass");
      } else if (!result.code.empty()) {
        verdict = false;  // a failed check names its cause in output.code
      } else if (result.face_bbox) {
        verdict = true;
      } else {
        output.fail(output.name("bbox_face") + " and " + output.name("code") + " are both missing");
      }
      break;
    case ResponseShape::check_pass_bodystyle:  // animate-anyone-detect-gen2
      verdict = output.boolean("check_pass");
      result.bodystyle = output.string("bodystyle").value_or("");
      if (const auto reason = output.string("reason"); reason && result.message.empty()) {
        result.message = *reason;
      }
      if (!output.has("check_pass")) output.fail(output.name("check_pass") + " is missing");
      break;
  }
  if (!output.problem().empty()) return std::nullopt;
  return verdict;
}

DetectResult completed_check(ResponseShape shape, FieldReader& root, object output_object,
                             DetectResult result) {
  FieldReader output(output_object, "output.");
  const auto verdict = read_check(shape, output, result);
  if (!verdict) return unusable(std::move(result), output.problem());

  std::optional<std::uint32_t> image_count;
  if (const auto usage = root.nested("usage")) {
    FieldReader usage_fields(*usage, "usage.");
    image_count = usage_fields.count("image_count");
    if (!usage_fields.problem().empty()) return unusable(std::move(result), usage_fields.problem());
  }
  if (!root.problem().empty()) return unusable(std::move(result), root.problem());
  // Some clients receive a failed check as HTTP 400 with output.code (docs/service.md#responses);
  // a pass under 400 contradicts itself.
  if (result.http_status == 400 && *verdict) {
    return unusable(std::move(result), "a passed check under HTTP 400");
  }
  result.passed = *verdict;
  result.outcome = *verdict ? DetectOutcome::passed : DetectOutcome::failed_check;
  // Every request that the service completes is billed (docs/service.md#billing): an answer
  // without usage.image_count still cost one image.
  result.billed = image_count.value_or(1);
  if (!image_count) result.detail = "usage.image_count is missing: counted as 1 billed image";
  return result;
}

DetectResult refused_request(FieldReader& root, DetectResult result) {
  result.code = root.string("code").value_or("");
  result.message = root.string("message").value_or("");
  if (!root.problem().empty()) return unusable(std::move(result), root.problem());
  result.outcome = DetectOutcome::request_error;
  result.detail = "the service refused the request (HTTP " + std::to_string(result.http_status) +
                  "; not billed)";
  return result;
}

}  // namespace

DetectResult parse_detect_response(ResponseShape shape, int http_status, std::string_view body) {
  DetectResult result;
  result.http_status = http_status;
  simdjson::dom::parser parser;
  element root_element;
  if (const auto error = parser.parse(body.data(), body.size()).get(root_element); error) {
    return unusable(std::move(result), "the answer is not valid JSON (" +
                                           std::string(simdjson::error_message(error)) + ")");
  }
  object root_object;
  if (root_element.get_object().get(root_object) != simdjson::SUCCESS) {
    return unusable(std::move(result), "the answer is not a JSON object");
  }
  FieldReader root(root_object, "");
  result.request_id = root.string("request_id").value_or("");
  const auto output = root.nested("output");
  if (!root.problem().empty()) return unusable(std::move(result), root.problem());

  const bool completed_status = is_success_status(http_status) || http_status == 400;
  if (output && completed_status) return completed_check(shape, root, *output, std::move(result));
  if (root.has("code") || !is_success_status(http_status)) {
    return refused_request(root, std::move(result));
  }
  return unusable(std::move(result), "the answer has neither output nor code");
}

std::string_view detect_outcome_name(DetectOutcome outcome) noexcept {
  switch (outcome) {
    case DetectOutcome::passed: return "passed";
    case DetectOutcome::failed_check: return "failed_check";
    case DetectOutcome::request_error: return "request_error";
    case DetectOutcome::bad_response: return "bad_response";
    case DetectOutcome::possibly_billed: return "possibly_billed";
    case DetectOutcome::transport_error: return "transport_error";
    case DetectOutcome::not_sent: return "not_sent";
    case DetectOutcome::budget_exhausted: return "budget_exhausted";
  }
  return "unknown";
}

bool DetectResult::billing_uncertain() const noexcept {
  if (outcome == DetectOutcome::possibly_billed || earlier_possibly_billed > 0) return true;
  return outcome == DetectOutcome::bad_response &&
         ((http_status >= 200 && http_status <= 299) || http_status == 400);
}

}  // namespace facegate
