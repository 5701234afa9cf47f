// Fuzzes the rules-file loader, parse_rules(), and what consumes its answer (rules.hpp):
// rules_to_json() gives the same rules back, render_rules_table() renders them, and
// evaluate() follows its documented, integer-exact semantics for subjects at and around every
// bound the fuzzed rules set. A violation aborts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "facegate/detect.hpp"
#include "facegate/rules.hpp"
#include "support.hpp"

namespace facegate::fuzz {
namespace {

constexpr std::uint32_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();

/// The input under test, for reports.
struct Context {
  std::span<const std::byte> input;
  [[noreturn]] void fail(std::string_view invariant, const std::string& details) const {
    violation(invariant, input, details);
  }
};

void check_failed_load(const RulesResult& result, const Context& context) {
  const RulesError& error = *result.error;
  if (!result.rules.models.empty()) context.fail("a failed load returned models", error.message());
  if (error.detail.empty() || error.message().empty()) {
    context.fail("a load error without a reason", error.message());
  }
  if (!error.path.empty() && error.message().rfind(error.path, 0) != 0) {
    context.fail("a load error message does not start with its path", error.message());
  }
}

// The constraints that rules.hpp documents for loaded rules.
void check_loaded_rules(const RuleSet& rules, const Context& context) {
  std::set<std::string> names;
  for (const ModelRules& model : rules.models) {
    const std::string who = "model '" + model.name + "': ";
    if (!names.insert(model.name).second) context.fail("two models with one name", who);
    if (rules.find(model.name) != &model) context.fail("find() misses a model", who);
    if (model.endpoint.empty() || model.endpoint.front() != '/') {
      context.fail("an endpoint that does not start with '/'", who + model.endpoint);
    }
    if (std::count(model.formats.accepted.begin(), model.formats.accepted.end(),
                   Format::unknown) != 0) {
      context.fail("'unknown' among the accepted formats", who);
    }
    if (model.pixels) {
      const PixelRule& p = *model.pixels;
      if ((p.min_width && p.max_width && *p.min_width > *p.max_width) ||
          (p.min_height && p.max_height && *p.min_height > *p.max_height)) {
        context.fail("a pixel minimum above its maximum", who);
      }
    }
    if (model.aspect && (model.aspect->short_part < 1 ||
                         model.aspect->long_part < model.aspect->short_part)) {
      context.fail("an aspect rule with short < 1 or long < short", who);
    }
    for (const ParameterRule& parameter : model.parameters) {
      if (parameter.values.empty()) context.fail("a parameter without values", who);
    }
    if (model.rate.requests_per_second < 1) context.fail("a rate below 1 per second", who);
    if (model.price) {
      if (model.price->per_image.empty()) context.fail("a price without amounts", who);
      for (const Money& money : model.price->per_image) {
        if (money.amount_micros < 0) context.fail("a negative price", who);
      }
    }
    if (model.lifecycle && (model.lifecycle->retired.size() != 10 ||
                            model.lifecycle->reference.empty())) {
      context.fail("a lifecycle without a YYYY-MM-DD date or a reference", who);
    }
    if (model.regions) {
      const std::vector<std::string>& offered = model.regions->offered;
      const auto unknown = [](const std::string& name) { return find_region(name) == nullptr; };
      if (offered.empty() || std::any_of(offered.begin(), offered.end(), unknown)) {
        context.fail("a region rule without regions or with one not in dashscope_regions()", who);
      }
    }
  }
  if (rules.names().size() != rules.models.size()) context.fail("names() misses models", "");
}

// rules.hpp: "parse_rules(rules_to_json(r)) gives r back".
void check_round_trip(const RuleSet& rules, const Context& context) {
  const std::string json = rules_to_json(rules);
  const RulesResult again = parse_rules(json);
  if (!again.ok()) {
    context.fail("rules_to_json() wrote a file that does not load",
                 again.error->message() + "\n" + json);
  }
  if (!(again.rules == rules)) context.fail("rules_to_json() did not round-trip", json);
  if (rules_to_json(again.rules) != json) context.fail("rules_to_json() is not stable", json);
  const std::string table = render_rules_table(rules);
  if (!rules.models.empty() && (table.empty() || table.back() != '\n')) {
    context.fail("render_rules_table() does not end with a newline", table);
  }
}

/// b-1, b and b+1 where they exist.
void add_around(std::vector<std::uint64_t>& values, std::optional<std::uint64_t> bound,
                std::uint64_t maximum) {
  if (!bound) return;
  if (*bound > 0) values.push_back(*bound - 1);
  values.push_back(*bound);
  if (*bound < maximum) values.push_back(*bound + 1);
}

/// Widths and heights at and around every pixel and aspect bound of the model, plus extremes.
std::vector<std::pair<std::uint32_t, std::uint32_t>> dimensions_to_try(const ModelRules& model) {
  std::vector<std::uint64_t> sides = {1, 2, 399, 400, 401, 4096, 7000, 7001, 1u << 24, kMaxU32};
  if (model.pixels) {
    const PixelRule& p = *model.pixels;
    for (const auto& bound : {p.min_width, p.max_width, p.min_height, p.max_height,
                              p.min_short_side, p.max_long_side}) {
      if (bound) add_around(sides, *bound, kMaxU32);
    }
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
  for (std::size_t i = 0; i < sides.size(); ++i) {
    if (sides[i] == 0) continue;
    const auto side = static_cast<std::uint32_t>(sides[i]);
    const auto partner = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, sides[(i * 7 + 3) % sides.size()]));
    pairs.insert(pairs.end(), {{side, side}, {side, partner}, {partner, side}});
  }
  if (model.aspect) {
    // Exactly at the limit, one pixel past it each way, and the same ratio scaled up.
    const std::uint32_t l = model.aspect->long_part;
    const std::uint32_t s = std::max<std::uint32_t>(1, model.aspect->short_part);
    pairs.insert(pairs.end(), {{l, s}, {s, l}, {kMaxU32, kMaxU32 - 1}, {kMaxU32, 1}});
    if (l < kMaxU32) pairs.push_back({l + 1, s});
    if (s < l) pairs.push_back({l, s + 1});
    const std::uint32_t scale = kMaxU32 / std::max(l, s);
    if (scale > 1) pairs.push_back({l * scale, s * scale});
  }
  return pairs;
}

std::vector<std::optional<std::uint64_t>> file_sizes_to_try(const ModelRules& model) {
  std::vector<std::uint64_t> sizes = {0, 10'000'000, 10'485'760, kMaxU64};
  if (model.file_size) {
    add_around(sizes, model.file_size->max_bytes, kMaxU64);
    add_around(sizes, model.file_size->ambiguous_from_bytes, kMaxU64);
  }
  std::vector<std::optional<std::uint64_t>> out(sizes.begin(), sizes.end());
  out.push_back(std::nullopt);
  return out;
}

bool has_finding(const Verdict& verdict, std::string_view code, Severity severity) {
  const Finding* finding = verdict.find(code);
  return finding != nullptr && finding->severity == severity;
}

std::string describe(const ModelRules& model, const Subject& subject, const Verdict& verdict) {
  std::string text = "model '" + model.name + "', image " +
                     std::to_string(subject.image.width) + "x" +
                     std::to_string(subject.image.height) + ", file size " +
                     (subject.file_size ? std::to_string(*subject.file_size) : "unknown") +
                     (subject.strict ? ", strict" : "") + " -> " +
                     std::string(decision_name(verdict.decision)) + ":";
  for (const Finding& finding : verdict.findings) {
    text += " " + finding.code + "(" + std::string(severity_name(finding.severity)) + ")";
  }
  return text;
}

// rules.hpp, evaluate(): a retired model "adds model.retired, a warning, last in every
// verdict"; a model without a lifecycle never gets it.
void check_retirement(const ModelRules& model, const Verdict& verdict, const std::string& about,
                      const Context& context) {
  const bool warned = !verdict.findings.empty() &&
                      verdict.findings.back().code == "model.retired" &&
                      verdict.findings.back().severity == Severity::warn;
  if (model.lifecycle.has_value() != warned || (!warned && verdict.find("model.retired"))) {
    context.fail("model.retired is not the last finding exactly of a retired model", about);
  }
}

// rules.hpp, evaluate(): "Decision precedence: error > reject > unknown > pass".
void check_decision(const Verdict& verdict, const std::string& about, const Context& context) {
  auto any = [&](Severity severity) {
    return std::any_of(verdict.findings.begin(), verdict.findings.end(),
                       [&](const Finding& f) { return f.severity == severity; });
  };
  const bool consistent = any(Severity::error)    ? verdict.decision == Decision::error
                          : any(Severity::reject) ? verdict.decision == Decision::reject
                                                  : verdict.decision == Decision::pass ||
                                                        verdict.decision == Decision::unknown;
  if (!consistent) context.fail("the decision does not follow from the findings", about);
}

// Each bound, computed here independently in 64-bit integers: the finding is there exactly
// when the bound fails, with the severity of its source ("documented rules reject, inferred
// rules warn, or reject when strict").
void check_bounds(const ModelRules& model, const Subject& subject, const Verdict& verdict,
                  const std::string& about, const Context& context) {
  auto expect = [&](bool fails, std::string_view code, Severity severity) {
    if (fails != has_finding(verdict, code, severity)) {
      context.fail("evaluate() got a bound wrong: " + std::string(code), about);
    }
  };
  auto severity_of = [&](RuleSource source) {
    return source == RuleSource::documented || subject.strict ? Severity::reject : Severity::warn;
  };
  const std::uint64_t width = subject.image.width;
  const std::uint64_t height = subject.image.height;
  const std::uint64_t short_side = std::min(width, height);
  const std::uint64_t long_side = std::max(width, height);
  if (model.pixels) {
    const PixelRule& p = *model.pixels;
    const Severity severity = severity_of(p.source);
    expect(p.min_width && width < *p.min_width, "size.width_below_min", severity);
    expect(p.max_width && width > *p.max_width, "size.width_above_max", severity);
    expect(p.min_height && height < *p.min_height, "size.height_below_min", severity);
    expect(p.max_height && height > *p.max_height, "size.height_above_max", severity);
    expect(p.min_short_side && short_side < *p.min_short_side, "size.short_side_below_min",
           severity);
    expect(p.max_long_side && long_side > *p.max_long_side, "size.long_side_above_max",
           severity);
  }
  if (model.aspect) {
    const AspectRule& a = *model.aspect;
    expect(long_side * a.short_part > short_side * a.long_part, "aspect.above_max",
           severity_of(a.source));
  }
  if (model.file_size && subject.file_size) {
    const FileSizeRule& f = *model.file_size;
    const std::uint64_t size = *subject.file_size;
    const bool above = f.bound == SizeBound::below ? size >= f.max_bytes : size > f.max_bytes;
    expect(above, "file_size.above_max", severity_of(f.source));
    expect(!above && f.ambiguous_from_bytes && size >= *f.ambiguous_from_bytes,
           "file_size.ambiguous", subject.strict ? Severity::reject : Severity::warn);
  }
}

void check_evaluate(const ModelRules& model, const Context& context) {
  const auto sizes = file_sizes_to_try(model);
  const auto dimensions = dimensions_to_try(model);
  std::vector<Parameter> parameters;
  for (const ParameterRule& rule : model.parameters) {
    parameters.push_back(Parameter{rule.name, rule.values.front()});
  }
  for (std::size_t i = 0; i < dimensions.size(); ++i) {
    Subject subject;
    subject.image.format = Format::jpeg;
    subject.image.width = dimensions[i].first;
    subject.image.height = dimensions[i].second;
    subject.file_size = sizes[i % sizes.size()];
    subject.strict = i % 2 == 1;
    subject.parameters = parameters;
    const Verdict verdict = evaluate(model, subject);
    const std::string about = describe(model, subject, verdict);
    check_decision(verdict, about, context);
    check_bounds(model, subject, verdict, about, context);
    check_retirement(model, verdict, about, context);
  }
  // A failed probe decides error, whatever the rules.
  Subject failed;
  failed.probe_error = Error{ErrorCode::truncated, "truncated"};
  failed.image.format = Format::png;
  const Verdict verdict = evaluate(model, failed);
  if (verdict.decision != Decision::error) {
    context.fail("a failed probe did not decide error", describe(model, failed, verdict));
  }
  check_retirement(model, verdict, describe(model, failed, verdict), context);
  // Without dimensions, the pixel and aspect rules can only say so.
  Subject unknown_size;
  unknown_size.image.format = Format::gif;
  unknown_size.source = SourceKind::local_file;
  const Verdict no_size = evaluate(model, unknown_size);
  check_decision(no_size, describe(model, unknown_size, no_size), context);
  if ((model.pixels || model.aspect) && no_size.find("size.unknown") == nullptr) {
    context.fail("no size.unknown without dimensions", describe(model, unknown_size, no_size));
  }
}

}  // namespace
}  // namespace facegate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace facegate;
  const fuzz::HeapBytes copy(std::as_bytes(std::span(data, size)));
  const fuzz::Context context{copy.span()};
  const RulesResult result = parse_rules(copy.text());
  if (result.ok() == result.error.has_value()) context.fail("ok() contradicts error", "");
  if (!result.ok()) {
    fuzz::check_failed_load(result, context);
    return 0;
  }
  fuzz::check_loaded_rules(result.rules, context);
  fuzz::check_round_trip(result.rules, context);
  for (const ModelRules& model : result.rules.models) fuzz::check_evaluate(model, context);
  return 0;
}
