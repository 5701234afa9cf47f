// The built-in rules text, compiled in from lib/rules/models.json by embed_json.py.
#pragma once

#include <string_view>

namespace facegate::detail {

/// The bytes of lib/rules/models.json.
extern const std::string_view kBuiltinRulesJson;

}  // namespace facegate::detail
