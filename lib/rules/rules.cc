// Names and lookups of the rules types.
#include <algorithm>
#include <string>

#include "facegate/rules.hpp"
#include "rules/internal.hpp"

namespace facegate {

std::string_view rule_source_name(RuleSource source) noexcept {
  switch (source) {
    case RuleSource::documented: return "documented";
    case RuleSource::inferred: return "inferred";
  }
  return "inferred";
}

std::string_view size_bound_name(SizeBound bound) noexcept {
  switch (bound) {
    case SizeBound::below: return "<";
    case SizeBound::at_or_below: return "<=";
  }
  return "<";
}

std::string_view response_shape_name(ResponseShape shape) noexcept {
  switch (shape) {
    case ResponseShape::check_pass_humanoid: return "check_pass_humanoid";
    case ResponseShape::check_pass_bbox: return "check_pass_bbox";
    case ResponseShape::pass_message: return "pass_message";
    case ResponseShape::bbox_face: return "bbox_face";
    case ResponseShape::check_pass_bodystyle: return "check_pass_bodystyle";
  }
  return "check_pass_humanoid";
}

std::string_view rules_error_kind_name(RulesErrorKind kind) noexcept {
  switch (kind) {
    case RulesErrorKind::io: return "io";
    case RulesErrorKind::empty: return "empty";
    case RulesErrorKind::not_json: return "not_json";
    case RulesErrorKind::missing_field: return "missing_field";
    case RulesErrorKind::wrong_type: return "wrong_type";
    case RulesErrorKind::negative: return "negative";
    case RulesErrorKind::unknown_key: return "unknown_key";
    case RulesErrorKind::bad_value: return "bad_value";
    case RulesErrorKind::unsupported_schema: return "unsupported_schema";
  }
  return "bad_value";
}

std::string_view decision_name(Decision decision) noexcept {
  switch (decision) {
    case Decision::pass: return "pass";
    case Decision::reject: return "reject";
    case Decision::unknown: return "unknown";
    case Decision::error: return "error";
  }
  return "error";
}

std::string_view severity_name(Severity severity) noexcept {
  switch (severity) {
    case Severity::error: return "error";
    case Severity::reject: return "reject";
    case Severity::warn: return "warn";
    case Severity::info: return "info";
  }
  return "info";
}

std::string RulesError::message() const {
  return (path.empty() ? std::string("rules") : path) + ": " + detail;
}

const ModelRules* RuleSet::find(std::string_view name) const noexcept {
  for (const auto& model : models) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

std::vector<std::string_view> RuleSet::names() const {
  std::vector<std::string_view> out;
  out.reserve(models.size());
  for (const auto& model : models) out.push_back(model.name);
  return out;
}

std::string format_money(const Money& money) {
  constexpr std::uint64_t kMicrosPerUnit = 1'000'000;
  // The magnitude in unsigned arithmetic: negating INT64_MIN as a signed value overflows.
  const bool negative = money.amount_micros < 0;
  const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(money.amount_micros)
                                           : static_cast<std::uint64_t>(money.amount_micros);
  std::string fraction = std::to_string(magnitude % kMicrosPerUnit);
  fraction.insert(0, 6 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  std::string text = money.currency + (negative ? " -" : " ") +
                     std::to_string(magnitude / kMicrosPerUnit);
  if (!fraction.empty()) text += "." + fraction;
  return text;
}

std::optional<Money> price_per_image(const ModelRules& rules, std::string_view currency) {
  if (!rules.price) return std::nullopt;
  for (const auto& money : rules.price->per_image) {
    if (money.currency == currency) return money;
  }
  return std::nullopt;
}

std::optional<RuleSource> detail::scheme_source(const UrlRule& rule,
                                                std::string_view scheme) noexcept {
  auto listed = [&](const std::vector<std::string>& schemes) {
    return std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
  };
  if (listed(rule.schemes)) return rule.source;
  if (listed(rule.inferred_schemes)) return RuleSource::inferred;
  return std::nullopt;
}

std::optional<RuleSource> oss_url_source(const ModelRules& model) noexcept {
  return detail::scheme_source(model.urls, "oss");
}

const Finding* Verdict::find(std::string_view code) const noexcept {
  for (const auto& finding : findings) {
    if (finding.code == code) return &finding;
  }
  return nullptr;
}

Subject subject_from_probe(const ProbeResult& probe, SourceKind source) {
  Subject subject;
  subject.image = probe.info;
  subject.probe_error = probe.error;
  subject.file_size = probe.file_size;
  subject.source = source;
  return subject;
}

}  // namespace facegate
