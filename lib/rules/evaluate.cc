// evaluate(): one model's rules against the probe's facts (docs/service.md#input-rules;
// docs/design.md#principles, principle 1).
// Integer arithmetic only: widths and heights are uint32, so every product below fits in uint64.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>

#include "facegate/detect.hpp"
#include "facegate/fetch.hpp"
#include "facegate/rules.hpp"
#include "rules/internal.hpp"

namespace facegate {
namespace {

// Documented rules reject; inferred rules warn unless the caller asked for strict.
Severity rule_severity(RuleSource source, bool strict) {
  return source == RuleSource::documented || strict ? Severity::reject : Severity::warn;
}

std::string source_suffix(RuleSource source) {
  return source == RuleSource::inferred ? " (inferred rule)" : "";
}

std::string quoted_list(const std::vector<std::string>& values) {
  std::string text;
  for (const auto& value : values) {
    if (!text.empty()) text += ", ";
    text += "\"" + value + "\"";
  }
  return text;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) {
    if (!text.empty()) text += ", ";
    text += item;
  }
  return text;
}

std::string format_list(const std::vector<Format>& formats) {
  std::string text;
  for (Format format : formats) {
    if (!text.empty()) text += ", ";
    text += format_name(format);
  }
  return text;
}

const Parameter* given_parameter(std::span<const Parameter> given, std::string_view name) {
  for (const auto& parameter : given) {
    if (parameter.name == name) return &parameter;
  }
  return nullptr;
}

const ParameterRule* parameter_rule(const ModelRules& rules, std::string_view name) {
  for (const auto& rule : rules.parameters) {
    if (rule.name == name) return &rule;
  }
  return nullptr;
}

class Evaluation {
 public:
  Evaluation(const ModelRules& rules, const Subject& subject) : rules_(rules), subject_(subject) {}

  Verdict run() {
    if (check_source()) {
      if (header_read_) {
        check_probe();
        note_lenient_read();
        check_format();
        check_dimensions();
        check_file_size();
      } else {
        note_unread_image();
      }
      check_parameters();
    }
    note_region();
    note_retirement();
    verdict_.decision = decide();
    return std::move(verdict_);
  }

 private:
  void add(std::string code, Severity severity, std::string message, std::string limit = {},
           std::string actual = {}) {
    verdict_.findings.push_back(Finding{std::move(code), severity, std::move(message),
                                        std::move(limit), std::move(actual)});
  }

  bool probe_failed() const {
    return subject_.probe_error && subject_.probe_error.code != ErrorCode::unsupported_format;
  }

  // The URL's scheme in lower case, as the rules list schemes.
  std::string url_scheme() const {
    std::string scheme = subject_.url.substr(0, subject_.url.find(':'));
    for (char& c : scheme) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
    return scheme;
  }

  // A scheme the model takes by inference only (UrlRule::inferred_schemes, or the URL rule
  // itself inferred): the URL may be refused, so it warns (strict: rejects).
  void note_inferred_scheme(const std::string& scheme, RuleSource source) {
    if (source != RuleSource::inferred) return;
    add("url." + scheme + "_inferred", rule_severity(source, subject_.strict),
        rules_.name + " is not documented to take " + scheme + ":// URLs; facegate infers it does" +
            source_suffix(source),
        joined(rules_.urls.schemes), scheme);
  }

  // A local file that facegate uploads is sent as an oss:// URL (Subject::uploaded).
  void note_upload() {
    const std::optional<RuleSource> oss = oss_url_source(rules_);
    if (!oss) {
      add("url.no_oss", Severity::reject,
          rules_.name + " takes no oss:// URL, so an uploaded file cannot be sent to it; give a "
                        "public http(s) URL instead",
          joined(rules_.urls.schemes), "oss");
      return;
    }
    note_inferred_scheme("oss", *oss);
  }

  // Where the image comes from, judged before its bytes. Returns false when the source alone
  // decides (the service can never fetch the URL, or the fetch failed): nothing else is judged.
  bool check_source() {
    const std::string limit = "public http(s) URL";
    const Severity url_severity = rule_severity(rules_.urls.source, subject_.strict);
    switch (subject_.source) {
      case SourceKind::local_file:
      case SourceKind::memory:
        // Uploaded by facegate: judged as the oss:// URL it will be sent as.
        if (subject_.uploaded) {
          note_upload();
          return true;
        }
        // The user may upload the bytes: their content is what facegate judges, so this is a
        // note, never a warning or a rejection.
        add("url.not_public", Severity::info,
            "the service fetches only public http(s) URLs; upload this local file first", limit,
            subject_.source == SourceKind::memory ? "bytes in memory" : "local file");
        return true;
      case SourceKind::none: return true;  // the input's own error is the finding
      case SourceKind::url: break;
    }
    const ErrorCode url_fault =
        subject_.url.empty() ? ErrorCode::none : check_public_url(subject_.url);
    if (url_fault == ErrorCode::scheme) {
      const std::string scheme = url_scheme();
      if (const auto taken = detail::scheme_source(rules_.urls, scheme)) {
        header_read_ = false;  // oss://: only the service resolves it (docs/service.md#urls)
        note_inferred_scheme(scheme, *taken);
        return true;
      }
    }
    if (url_fault == ErrorCode::bad_url) {
      add("url.malformed", url_severity, "not a valid URL: the service cannot fetch it", limit,
          "malformed URL");
      return false;
    }
    if (url_fault == ErrorCode::scheme) {
      const std::string scheme = subject_.url.substr(0, subject_.url.find(':'));
      add("url.scheme", url_severity,
          "the service fetches only " + scheme_list() + " URLs, not " + scheme + "://" +
              source_suffix(rules_.urls.source),
          scheme_list(), scheme);
      return false;
    }
    const bool private_refused = url_fault == ErrorCode::private_address ||
                                 subject_.probe_error.code == ErrorCode::private_address;
    if (private_refused && !subject_.private_network_reachable) {
      add("url.not_public", url_severity,
          "the service cannot fetch an address in a private, loopback or link-local range" +
              source_suffix(rules_.urls.source),
          limit, "non-public URL");
      return false;
    }
    const ErrorCode fault = subject_.probe_error.code;
    if (fault != ErrorCode::none && !is_image_fault(fault) && fault != ErrorCode::io) {
      const std::string name(error_code_name(fault));
      add("fetch." + name, Severity::error, subject_.probe_error.message, {}, name);
      return false;
    }
    return true;
  }

  std::string scheme_list() const { return joined(rules_.urls.schemes); }

  // A failed probe (other than "no known magic bytes", which is a format fact) leaves nothing
  // to judge but what the bytes already said; the decision is error, never reject.
  void check_probe() {
    if (!probe_failed()) return;
    const std::string_view name = error_code_name(subject_.probe_error.code);
    std::string message = "the image header could not be read";
    if (!subject_.probe_error.message.empty()) message += ": " + subject_.probe_error.message;
    add("probe." + std::string(name), Severity::error, std::move(message), {}, std::string(name));
  }

  // A header that breaks its format's specification where decoders are lenient was read as they
  // read it (ImageInfo::leniency): worth knowing, never a reason to reject.
  void note_lenient_read() {
    const std::string_view leniency = subject_.image.leniency;
    if (probe_failed() || leniency.empty()) return;
    add("probe.lenient", Severity::info,
        "the header breaks its format's specification, and was read as decoders read it: " +
            std::string(leniency));
  }

  // An image facegate never fetched (a non-public URL, an oss:// URL that only the service can
  // resolve) has no facts: no image rule can pass or fail, so the decision is at best unknown.
  void note_unread_image() {
    missing_fact_ = true;
    add("image.not_read", Severity::info,
        "the image was not fetched, so its format, size and file size are unknown");
  }

  void check_format() {
    const FormatRule& rule = rules_.formats;
    const Format format = subject_.image.format;
    const std::string accepted = format_list(rule.accepted);
    if (format == Format::unknown) {
      if (probe_failed()) return;  // the probe never saw the magic bytes
      add("format.unknown", rule_severity(rule.source, subject_.strict),
          "the file is not a recognized image format; " + rules_.name + " accepts " + accepted +
              source_suffix(rule.source),
          accepted, "unknown");
      return;
    }
    if (std::find(rule.accepted.begin(), rule.accepted.end(), format) != rule.accepted.end()) {
      return;
    }
    add("format.not_accepted", rule_severity(rule.source, subject_.strict),
        std::string(format_name(format)) + " is not accepted; " + rules_.name + " accepts " +
            accepted + source_suffix(rule.source),
        accepted, std::string(format_name(format)));
  }

  // A missing fact makes the decision unknown only when the rule that needs it could reject:
  // an inferred rule, which can only warn, does not hold back a pass.
  void note_missing_fact(RuleSource source) {
    if (rule_severity(source, subject_.strict) == Severity::reject) missing_fact_ = true;
  }

  void check_dimensions() {
    if (!rules_.pixels && !rules_.aspect) return;
    if (probe_failed()) return;  // partial dimensions are not facts
    if (!subject_.image.has_dimensions()) {
      if (rules_.pixels) note_missing_fact(rules_.pixels->source);
      if (rules_.aspect) note_missing_fact(rules_.aspect->source);
      add("size.unknown", Severity::info,
          "the image dimensions are unknown; " + rules_.name + " has pixel rules");
      return;
    }
    if (rules_.pixels) check_pixels(*rules_.pixels);
    if (rules_.aspect) check_aspect(*rules_.aspect);
  }

  void check_minimum(std::string_view what, std::string_view code, std::uint32_t actual,
                     const std::optional<std::uint32_t>& minimum, RuleSource source) {
    if (!minimum || actual >= *minimum) return;
    add(std::string(code), rule_severity(source, subject_.strict),
        std::string(what) + " " + std::to_string(actual) + " px is below the minimum of " +
            std::to_string(*minimum) + " px" + source_suffix(source),
        std::to_string(*minimum), std::to_string(actual));
  }

  void check_maximum(std::string_view what, std::string_view code, std::uint32_t actual,
                     const std::optional<std::uint32_t>& maximum, RuleSource source) {
    if (!maximum || actual <= *maximum) return;
    add(std::string(code), rule_severity(source, subject_.strict),
        std::string(what) + " " + std::to_string(actual) + " px is above the maximum of " +
            std::to_string(*maximum) + " px" + source_suffix(source),
        std::to_string(*maximum), std::to_string(actual));
  }

  void check_pixels(const PixelRule& rule) {
    const std::uint32_t width = subject_.image.width;
    const std::uint32_t height = subject_.image.height;
    const std::uint32_t short_side = std::min(width, height);
    const std::uint32_t long_side = std::max(width, height);
    check_minimum("width", "size.width_below_min", width, rule.min_width, rule.source);
    check_maximum("width", "size.width_above_max", width, rule.max_width, rule.source);
    check_minimum("height", "size.height_below_min", height, rule.min_height, rule.source);
    check_maximum("height", "size.height_above_max", height, rule.max_height, rule.source);
    check_minimum("short side", "size.short_side_below_min", short_side, rule.min_short_side,
                  rule.source);
    check_maximum("long side", "size.long_side_above_max", long_side, rule.max_long_side,
                  rule.source);
  }

  // long/short <= long_part/short_part, as long * short_part <= short * long_part: each
  // product of two uint32 values fits in uint64 (docs/service.md#input-rules: never floats).
  void check_aspect(const AspectRule& rule) {
    const std::uint64_t short_side = std::min(subject_.image.width, subject_.image.height);
    const std::uint64_t long_side = std::max(subject_.image.width, subject_.image.height);
    if (long_side * rule.short_part <= short_side * rule.long_part) return;
    const std::uint64_t divisor = std::gcd(long_side, short_side);
    const std::string actual =
        std::to_string(long_side / divisor) + ":" + std::to_string(short_side / divisor);
    const std::string limit =
        std::to_string(rule.long_part) + ":" + std::to_string(rule.short_part);
    add("aspect.above_max", rule_severity(rule.source, subject_.strict),
        "aspect ratio " + actual + " (long side : short side) is above the maximum of " + limit +
            source_suffix(rule.source),
        limit, actual);
  }

  void check_file_size() {
    if (!rules_.file_size) return;
    const FileSizeRule& rule = *rules_.file_size;
    const std::string limit = std::string(size_bound_name(rule.bound)) + " " +
                              std::to_string(rule.max_bytes);
    if (!subject_.file_size) {
      note_missing_fact(rule.source);
      add("file_size.unknown", Severity::info,
          "the file size is unknown; " + rules_.name + " requires " + limit + " bytes", limit);
      return;
    }
    const std::uint64_t size = *subject_.file_size;
    const bool within = rule.bound == SizeBound::below ? size < rule.max_bytes
                                                       : size <= rule.max_bytes;
    if (!within) {
      add("file_size.above_max", rule_severity(rule.source, subject_.strict),
          "file size " + std::to_string(size) + " bytes is over the limit of " + limit +
              " bytes" + source_suffix(rule.source),
          limit, std::to_string(size));
      return;
    }
    if (rule.ambiguous_from_bytes && size >= *rule.ambiguous_from_bytes) {
      // The smaller reading of the limit, as the same comparison: "< 10000000" or "<= 10000000".
      const std::uint64_t strict_max = rule.bound == SizeBound::below
                                           ? *rule.ambiguous_from_bytes
                                           : *rule.ambiguous_from_bytes - 1;
      const std::string strict_limit =
          std::string(size_bound_name(rule.bound)) + " " + std::to_string(strict_max);
      add("file_size.ambiguous", subject_.strict ? Severity::reject : Severity::warn,
          "file size " + std::to_string(size) + " bytes is within " + limit +
              " bytes but not within the limit's smaller reading, " + strict_limit +
              " bytes; the service may refuse it",
          strict_limit, std::to_string(size));
    }
  }

  void check_parameters() {
    for (const auto& given : subject_.parameters) {
      if (parameter_rule(rules_, given.name) != nullptr) continue;
      add("param." + given.name + ".unknown", Severity::warn,
          "parameter " + given.name + " is not defined for " + rules_.name +
              " and will not be sent",
          {}, given.value);
    }
    for (const auto& rule : rules_.parameters) {
      const Parameter* given = given_parameter(subject_.parameters, rule.name);
      const Severity severity = rule_severity(rule.source, subject_.strict);
      const std::string allowed = quoted_list(rule.values);
      if (given == nullptr) {
        if (!rule.required || rule.default_value) continue;
        add("param." + rule.name + ".missing", severity,
            "parameter " + rule.name + " is required by " + rules_.name + "; valid values: " +
                allowed + source_suffix(rule.source),
            allowed);
        continue;
      }
      if (std::find(rule.values.begin(), rule.values.end(), given->value) != rule.values.end()) {
        continue;
      }
      add("param." + rule.name + ".invalid", severity,
          "parameter " + rule.name + " \"" + given->value + "\" is not valid for " + rules_.name +
              "; valid values: " + allowed + source_suffix(rule.source),
          allowed, given->value);
    }
  }

  // Keys are region-bound: a model not offered in the caller's region cannot be called there.
  void note_region() {
    if (auto finding = detail::region_finding(rules_, subject_.region, subject_.strict)) {
      verdict_.findings.push_back(std::move(*finding));
    }
  }

  // A warning, never a rejection, even when strict: the service may still answer a retired
  // model, and when it refuses the model as a whole the detector stops sending to it.
  void note_retirement() {
    if (!rules_.lifecycle) return;
    const LifecycleRule& rule = *rules_.lifecycle;
    add("model.retired", Severity::warn,
        rules_.name + " is retired as of " + rule.retired + " (" + rule.reference +
            "): the service may refuse it" + source_suffix(rule.source),
        {}, rule.retired);
  }

  Decision decide() const {
    auto any = [&](Severity severity) {
      return std::any_of(verdict_.findings.begin(), verdict_.findings.end(),
                         [&](const Finding& finding) { return finding.severity == severity; });
    };
    if (any(Severity::error)) return Decision::error;
    if (any(Severity::reject)) return Decision::reject;
    if (missing_fact_) return Decision::unknown;
    return Decision::pass;
  }

  const ModelRules& rules_;
  const Subject& subject_;
  Verdict verdict_;
  bool missing_fact_ = false;
  bool header_read_ = true;  // false for a URL only the service resolves (oss://)
};

}  // namespace

std::optional<Finding> detail::region_finding(const ModelRules& model, std::string_view region,
                                              bool strict) {
  if (region.empty() || !model.regions) return std::nullopt;
  const RegionRule& rule = *model.regions;
  if (std::find(rule.offered.begin(), rule.offered.end(), region) != rule.offered.end()) {
    return std::nullopt;
  }
  const DashScopeRegion* known = find_region(region);
  const std::string where =
      std::string(region) + (known ? " (" + std::string(known->label) + ")" : std::string());
  return Finding{"model.region", rule_severity(rule.source, strict),
                 model.name + " is offered only in " + joined(rule.offered) + ", not in " + where +
                     ": API keys are region-bound" + source_suffix(rule.source),
                 joined(rule.offered), std::string(region)};
}

Verdict evaluate(const ModelRules& rules, const Subject& subject) {
  return Evaluation(rules, subject).run();
}

std::vector<Parameter> effective_parameters(const ModelRules& rules,
                                            std::span<const Parameter> given) {
  std::vector<Parameter> out;
  for (const auto& rule : rules.parameters) {
    if (const Parameter* parameter = given_parameter(given, rule.name)) {
      out.push_back(*parameter);
    } else if (rule.default_value) {
      out.push_back(Parameter{rule.name, *rule.default_value});
    }
  }
  return out;
}

}  // namespace facegate
