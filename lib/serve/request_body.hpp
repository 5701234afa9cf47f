// The body of a face-detect request as the vendor documents it (docs/service.md#endpoint-and-request).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "facegate/rules.hpp"

namespace facegate::detail {

/// {"model", "input": {"image_url"}, "parameters": {...}} read strictly; `problem` says what is
/// wrong (empty when the body is usable).
struct DetectBody {
  std::string model;                  ///< "model"
  std::string image_url;              ///< "input.image_url"
  std::vector<Parameter> parameters;  ///< "parameters", each a string value; may be empty
  std::string problem;                ///< why the body is refused; empty when it is not
};

/// Reads a request body; never throws.
DetectBody parse_detect_body(std::string_view body);

}  // namespace facegate::detail
