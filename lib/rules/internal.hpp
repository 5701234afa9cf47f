// Rule lookups shared by evaluate() and the Checker.
#pragma once

#include <optional>
#include <string_view>

#include "facegate/rules.hpp"

namespace facegate::detail {

/// Where the model's taking of URLs of lower-case `scheme` comes from: urls.source when it is
/// in urls.schemes, inferred when in urls.inferred_schemes, nullopt when neither.
std::optional<RuleSource> scheme_source(const UrlRule& rule, std::string_view scheme) noexcept;

/// model.region when `region` is not empty and the model's region rule does not list it
/// (documented or strict: reject; else warn); nullopt when it is offered there or has no rule.
std::optional<Finding> region_finding(const ModelRules& model, std::string_view region,
                                      bool strict);

}  // namespace facegate::detail
