// Fuzzes the reading of the face-detect service's answers, parse_detect_response() (detect.hpp):
// the input is a response body, read for every response shape under a range of HTTP statuses,
// and the result must keep the promises about money and verdicts that detect.hpp and
// docs/service.md#responses make. A violation aborts.
#include <simdjson.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "facegate/detect.hpp"
#include "support.hpp"

namespace facegate::fuzz {
namespace {

constexpr std::array kShapes = {ResponseShape::check_pass_humanoid, ResponseShape::check_pass_bbox,
                                ResponseShape::pass_message, ResponseShape::bbox_face,
                                ResponseShape::check_pass_bodystyle};
// Every answer is read under 200 and under 400 (the "failed check under 400" of some
// clients), and under one more status drawn from the body: another success, a refusal
// (docs/service.md#request-failures) or a status the service never documents.
constexpr std::array kOtherStatuses = {201, 299, 401, 403, 404, 429, 500, 503, 0, 302, 999};

bool is_success(int status) { return status >= 200 && status <= 299; }

std::string describe(ResponseShape shape, int status, const DetectResult& result) {
  return std::string(response_shape_name(shape)) + " under HTTP " + std::to_string(status) +
         ": " + std::string(detect_outcome_name(result.outcome)) + ", passed " +
         (result.passed ? "true" : "false") + ", billed " + std::to_string(result.billed) +
         ", code '" + result.code + "', detail '" + result.detail + "'";
}

void check_result(ResponseShape shape, int status, const DetectResult& result,
                  std::span<const std::byte> input) {
  auto fail = [&](std::string_view invariant) {
    violation(invariant, input, describe(shape, status, result));
  };
  if (result.http_status != status) fail("http_status is not the status given");
  // "passed: true only for DetectOutcome::passed", and never guessed: only a 2xx answer passes
  // (a pass under HTTP 400 contradicts itself).
  if (result.passed != (result.outcome == DetectOutcome::passed)) fail("passed and outcome disagree");
  if (result.passed && !is_success(status)) fail("passed under a status that is not 2xx");
  // A body can say what the service did, never what the transport did.
  if (result.outcome == DetectOutcome::possibly_billed ||
      result.outcome == DetectOutcome::transport_error ||
      result.outcome == DetectOutcome::not_sent) {
    fail("a transport outcome from a response body");
  }
  const bool completed = result.outcome == DetectOutcome::passed ||
                         result.outcome == DetectOutcome::failed_check;
  // "billed: usage.image_count of a completed check; 0 otherwise".
  if (!completed && result.billed != 0) fail("billed without a completed check");
  // Only a 2xx or 400 answer can complete a check; any other status is a refusal.
  if (completed && !is_success(status) && status != 400) fail("a completed check under a refusal status");
  if (!is_success(status) && status != 400 && result.outcome != DetectOutcome::request_error) {
    fail("a refusal status that is not a request_error");
  }
  // "bad_response: ... billing unknown when the status was 200 or 400".
  if (result.outcome == DetectOutcome::bad_response) {
    if (result.billing_uncertain() != (is_success(status) || status == 400)) {
      fail("bad_response: billing_uncertain() does not follow the status");
    }
    if (result.detail.empty()) fail("bad_response without a detail");
  }
  // Fields belong to the shapes that have them (docs/service.md#responses).
  if (result.humanoid && shape != ResponseShape::check_pass_humanoid) fail("humanoid outside wan2.2");
  if ((result.face_bbox || result.ext_bbox) && shape != ResponseShape::check_pass_bbox &&
      shape != ResponseShape::bbox_face) {
    fail("a bounding box outside emo and emoji");
  }
  if (!result.bodystyle.empty() && shape != ResponseShape::check_pass_bodystyle) {
    fail("bodystyle outside animate-anyone");
  }
}

/// True when the body is one well-formed JSON document.
bool is_json(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(body.data(), body.size()).get(root) == simdjson::SUCCESS;
}

/// Length of the body without trailing JSON white space.
std::size_t trimmed_length(std::string_view body) {
  std::size_t end = body.size();
  while (end > 0 && (body[end - 1] == ' ' || body[end - 1] == '\t' || body[end - 1] == '\n' ||
                     body[end - 1] == '\r')) {
    --end;
  }
  return end;
}

}  // namespace
}  // namespace facegate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace facegate;
  const fuzz::HeapBytes copy(std::as_bytes(std::span(data, size)));
  const std::string_view body = copy.text();
  const std::size_t drawn = std::hash<std::string_view>{}(body);
  const int statuses[] = {200, 400, fuzz::kOtherStatuses[drawn % fuzz::kOtherStatuses.size()]};
  for (ResponseShape shape : fuzz::kShapes) {
    for (int status : statuses) {
      fuzz::check_result(shape, status, parse_detect_response(shape, status, body), copy.span());
    }
  }
  // "body may be truncated": a well-formed answer cut short (by more than trailing white
  // space) is never read as a pass, whatever the shape (one drawn from the body, for replays).
  const std::size_t content = fuzz::trimmed_length(body);
  if (content > 0 && fuzz::is_json(body)) {
    const fuzz::HeapBytes cut(copy.span().first(content * 7 / 11));
    const ResponseShape shape = fuzz::kShapes[drawn % fuzz::kShapes.size()];
    const DetectResult result = parse_detect_response(shape, 200, cut.text());
    if (result.passed) {
      fuzz::violation("a truncated answer read as a pass", copy.span(),
                      fuzz::describe(shape, 200, result));
    }
  }
  return 0;
}
