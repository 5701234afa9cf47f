// facegate: the face-detect models' input rules and the local verdict
// (docs/service.md#input-rules).
//
// The rules live in lib/rules/models.json (schema 1), compiled into the library; another file
// of the same schema can be loaded instead. evaluate() judges the probe's facts against one
// model's rules: documented rules reject, inferred rules warn (docs/design.md#principles,
// principle 1).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/export.h"
#include "facegate/probe.hpp"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

// ---------------------------------------------------------------------------------------------
// The rules

/// Where a rule comes from. Documented rules reject; inferred rules warn unless strict.
enum class RuleSource : std::uint8_t {
  documented,  ///< stated by the vendor's documentation ("[doc]")
  inferred,    ///< our reading where the documentation is silent or contradicts itself
};

/// "documented" or "inferred", as in the rules file.
std::string_view rule_source_name(RuleSource source) noexcept;

/// Which URLs the service fetches (all models: public http/https; some also oss://).
struct UrlRule {
  std::vector<std::string> schemes;            ///< lower-case URL schemes, e.g. "https", "oss"
  RuleSource source = RuleSource::documented;  ///< where the rule comes from
  std::string note;                            ///< free text for `facegate rules`; may be empty
  /// Schemes the service is believed to take though its pages do not say so (the rules file's
  /// "inferred_schemes"; e.g. "oss" for a model whose page predates the temporary upload):
  /// such a URL passes the URL rule with a warning, url.<scheme>_inferred. None is in schemes.
  std::vector<std::string> inferred_schemes;
  /// Why they are inferred (the rules file's "inferred_note"); may be empty.
  std::string inferred_note;
  /// Memberwise equality.
  bool operator==(const UrlRule&) const = default;
};

/// The image formats the service accepts, judged by content (the probe's sniffed format).
struct FormatRule {
  std::vector<Format> accepted;                ///< never Format::unknown
  RuleSource source = RuleSource::documented;  ///< where the rule comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const FormatRule&) const = default;
};

/// Pixel bounds, all inclusive. An absent bound is no rule.
struct PixelRule {
  std::optional<std::uint32_t> min_width;       ///< width >= this
  std::optional<std::uint32_t> max_width;       ///< width <= this
  std::optional<std::uint32_t> min_height;      ///< height >= this
  std::optional<std::uint32_t> max_height;      ///< height <= this
  std::optional<std::uint32_t> min_short_side;  ///< min(width, height) >= this
  std::optional<std::uint32_t> max_long_side;   ///< max(width, height) <= this
  RuleSource source = RuleSource::documented;   ///< where the rule comes from
  std::string note;                             ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const PixelRule&) const = default;
};

/// Maximum aspect ratio long side : short side, compared exactly in integers:
/// an image passes when long_side * short <= short_side * long.
struct AspectRule {
  std::uint32_t long_part = 1;                 ///< numerator, >= short_part
  std::uint32_t short_part = 1;                ///< denominator, >= 1
  RuleSource source = RuleSource::documented;  ///< where the rule comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const AspectRule&) const = default;
};

/// How a file-size limit compares.
enum class SizeBound : std::uint8_t {
  below,        ///< "<": size must be below max_bytes
  at_or_below,  ///< "<=": size may equal max_bytes
};

/// "<" or "<=", as in the rules file.
std::string_view size_bound_name(SizeBound bound) noexcept;

/// A file-size limit. An ambiguous limit ("10M": 10,000,000 or 10,485,760 bytes) is stored
/// with its larger reading in max_bytes, which rejects, and the first size that fails the
/// smaller reading in ambiguous_from_bytes, which warns (docs/service.md#input-rules, "10M is
/// ambiguous").
struct FileSizeRule {
  std::uint64_t max_bytes = 0;                        ///< the limit, compared with bound
  SizeBound bound = SizeBound::below;                 ///< "<" or "<="
  std::optional<std::uint64_t> ambiguous_from_bytes;  ///< sizes from here up to the limit warn
  RuleSource source = RuleSource::documented;         ///< where the rule comes from
  std::string note;                                   ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const FileSizeRule&) const = default;
};

/// One request parameter (sent in the request body's "parameters" object).
struct ParameterRule {
  std::string name;                            ///< e.g. "ratio"
  std::vector<std::string> values;             ///< the allowed values, never empty
  std::optional<std::string> default_value;    ///< sent when the request gives none
  bool required = false;                       ///< a request without it (and no default) fails
  RuleSource source = RuleSource::documented;  ///< where the rule comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const ParameterRule&) const = default;
};

/// The service's rate limit for one model.
struct RateRule {
  std::uint32_t requests_per_second = 1;       ///< >= 1
  RuleSource source = RuleSource::documented;  ///< where the rule comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const RateRule&) const = default;
};

/// An amount of money in integer millionths of the currency unit (USD 0.000574 = 574).
struct Money {
  std::string currency;            ///< ISO 4217 code, e.g. "USD", "CNY"
  std::int64_t amount_micros = 0;  ///< >= 0
  /// Memberwise equality.
  bool operator==(const Money&) const = default;
};

/// "USD 0.000574": the currency code and the exact decimal amount (no trailing zeros).
std::string format_money(const Money& money);

/// The price of one billed request, in one or more currencies.
struct PriceRule {
  std::vector<Money> per_image;                ///< never empty; one entry per currency
  RuleSource source = RuleSource::documented;  ///< where the figure comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const PriceRule&) const = default;
};

/// The JSON shape of a completed request's answer (docs/service.md#responses).
enum class ResponseShape : std::uint8_t {
  check_pass_humanoid,   ///< output.check_pass, output.humanoid (wan2.2-s2v-detect)
  check_pass_bbox,       ///< output.check_pass, output.face_bbox, output.ext_bbox (emo-detect-v1)
  pass_message,          ///< output.pass, output.message (liveportrait-detect)
  bbox_face,             ///< output.bbox_face, output.ext_bbox_face or output.code (emoji)
  check_pass_bodystyle,  ///< output.check_pass, output.bodystyle or output.reason (aa-detect)
};

/// Stable name of a response shape, as in the rules file ("check_pass_humanoid", ...).
std::string_view response_shape_name(ResponseShape shape) noexcept;

/// A model's retirement, as the vendor announced it (docs/service.md#lifecycle). A retired
/// model may still be answered, or refused as a whole (ModelNotFound, Model.AccessDenied):
/// evaluate() warns about it in every verdict (model.retired) and never rejects for it.
struct LifecycleRule {
  std::string retired;    ///< the retirement date, "YYYY-MM-DD", a valid calendar date
  std::string reference;  ///< where the vendor says so, e.g. "model-retirement notice 118434"
  RuleSource source = RuleSource::documented;  ///< where the fact comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const LifecycleRule&) const = default;
};

/// The regions a model is offered in (docs/service.md#regions-and-prices). Keys are
/// region-bound: a call from a region that does not offer the model cannot succeed, so
/// evaluate() gives model.region for a Subject::region not listed (documented: reject).
struct RegionRule {
  std::vector<std::string> offered;            ///< region names of dashscope_regions(), never empty
  RuleSource source = RuleSource::documented;  ///< where the fact comes from
  std::string note;                            ///< free text; may be empty
  /// Memberwise equality.
  bool operator==(const RegionRule&) const = default;
};

/// Everything facegate knows about one model. Absent optional groups are no rule.
struct ModelRules {
  std::string name;                       ///< the "model" of the request body
  std::string endpoint;                   ///< path below the base URL, starts with '/'
  /// How to read the answer.
  ResponseShape response = ResponseShape::check_pass_humanoid;
  UrlRule urls;                           ///< accepted URL schemes
  FormatRule formats;                     ///< accepted formats
  std::optional<PixelRule> pixels;        ///< pixel bounds
  std::optional<AspectRule> aspect;       ///< maximum aspect ratio
  std::optional<FileSizeRule> file_size;  ///< file-size limit
  std::vector<ParameterRule> parameters;  ///< request parameters, in the file's order
  RateRule rate;                          ///< requests per second
  std::optional<PriceRule> price;         ///< absent where the vendor publishes none
  std::optional<LifecycleRule> lifecycle; ///< absent: no retirement announced
  /// The regions that offer it; absent: no region rule (every region is taken to offer it).
  std::optional<RegionRule> regions;
  /// Memberwise equality.
  bool operator==(const ModelRules&) const = default;
};

/// A whole rules file: the schema version and the models in the file's order.
struct RuleSet {
  int schema = 1;                  ///< the version of the file format; this build reads 1
  std::vector<ModelRules> models;  ///< names are unique
  /// The model with this exact name, or nullptr.
  const ModelRules* find(std::string_view name) const noexcept;
  /// The model names in the file's order.
  std::vector<std::string_view> names() const;
  /// Memberwise equality.
  bool operator==(const RuleSet&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Loading

/// What is wrong with a rules file.
enum class RulesErrorKind : std::uint8_t {
  io,                  ///< the file could not be read
  empty,               ///< no JSON text at all
  not_json,            ///< not well-formed JSON (or not UTF-8)
  missing_field,       ///< a required key is absent
  wrong_type,          ///< a value has the wrong JSON type (a string for a number, a float, ...)
  negative,            ///< a bound, count or amount is negative
  unknown_key,         ///< a key the schema does not define (or a key given twice)
  bad_value,           ///< the right type but not an allowed value (unknown format, min > max, ...)
  unsupported_schema,  ///< "schema" is not a version this build reads
};

/// Stable snake_case name of an error kind ("missing_field", ...).
std::string_view rules_error_kind_name(RulesErrorKind kind) noexcept;

/// Where and why a rules file is wrong.
struct RulesError {
  RulesErrorKind kind = RulesErrorKind::bad_value;  ///< the category
  std::string path;    ///< JSON-pointer-like path, e.g. "models[2].pixels.max_long_side"; "" = root
  std::string detail;  ///< why, in words
  /// "models[2].pixels.max_long_side: negative: -5 (a bound must be >= 1)".
  std::string message() const;
};

/// Rules or the error that prevented loading them. No exception ever escapes the loaders.
struct RulesResult {
  RuleSet rules;                    ///< empty when error is set
  std::optional<RulesError> error;  ///< set when loading failed
  /// True when the rules loaded.
  bool ok() const noexcept { return !error.has_value(); }
};

/// Parses rules JSON text (schema 1). Strict: unknown keys, wrong types, negative or
/// inconsistent bounds, duplicate keys or model names are errors that name the field.
RulesResult parse_rules(std::string_view json_text);

/// Reads and parses a rules file (at most 1 MiB).
RulesResult load_rules_file(const std::filesystem::path& path);

/// The built-in rules (lib/rules/models.json), parsed once on first use. The test suite pins
/// that they load; ok() is false only if the compiled-in file is broken.
const RulesResult& builtin_rules();

/// The price of one request in `currency` ("USD", "CNY"), or nullopt when not published in it.
std::optional<Money> price_per_image(const ModelRules& rules, std::string_view currency);

/// Whether the model takes oss:// URLs (the temporary upload, docs/service.md#temporary-upload):
/// the source of the URL rule when "oss" is in urls.schemes, inferred when it is in
/// urls.inferred_schemes, nullopt when it takes none (a local file cannot be sent to it).
std::optional<RuleSource> oss_url_source(const ModelRules& model) noexcept;

// ---------------------------------------------------------------------------------------------
// Evaluating

/// Where the image comes from.
enum class SourceKind : std::uint8_t {
  url,         ///< a URL: the service fetches it itself (Subject::url)
  local_file,  ///< a local path: must be uploaded first (url.not_public, info)
  memory,      ///< bytes in memory: must be uploaded first, like a local file
  none,        ///< no source could be read from the input (a bad list line): nothing to note
};

/// One request parameter, e.g. {"ratio", "3:4"}.
struct Parameter {
  std::string name;   ///< parameter name
  std::string value;  ///< its value as sent
  /// Memberwise equality.
  bool operator==(const Parameter&) const = default;
};

/// The facts evaluate() judges.
struct Subject {
  ImageInfo image;                         ///< the probe's answer (possibly partial on error)
  /// The source stage's error: an image fault (truncated ...), io, or a network error.
  Error probe_error;
  std::optional<std::uint64_t> file_size;  ///< bytes, when known
  SourceKind source = SourceKind::url;     ///< where the image comes from
  /// For SourceKind::url, the URL as it would be sent; empty = a URL known to be fetchable,
  /// whose header `image` holds. A URL the service cannot fetch (bad URL, a scheme the model
  /// does not take, a non-public address) is judged on that alone: no image rule applies.
  /// A scheme the model takes that facegate does not fetch (oss://) leaves the image unread:
  /// its parameters are judged and the decision is at best unknown.
  std::string url;
  /// The service can reach private addresses (a test double or an intranet deployment):
  /// url.not_public does not apply to them.
  bool private_network_reachable = false;
  std::vector<Parameter> parameters;       ///< request parameters given by the user
  bool strict = false;                     ///< inferred and ambiguous rules reject instead of warn
  /// A local file (SourceKind::local_file or memory) that facegate will upload and send as an
  /// oss:// URL: url.oss_inferred (warn) when the model's oss support is inferred, url.no_oss
  /// (reject) when it takes no oss:// URL (oss_url_source).
  bool uploaded = false;
  /// The region the call would come from (a DashScopeRegion name); "" = not checked. A model
  /// whose ModelRules::regions does not list it gets model.region.
  std::string region;
};

/// A Subject holding a probe's image, error and file size.
Subject subject_from_probe(const ProbeResult& probe, SourceKind source);

/// The outcome of a local check.
enum class Decision : std::uint8_t {
  pass,     ///< no rule fails: worth a remote call
  reject,   ///< a rule fails: the service would refuse it (or, strict, might)
  unknown,  ///< a rule needs a fact we lack (file size, dimensions); nothing fails
  error,    ///< the probe failed (truncated, malformed, unreadable): nothing to judge
};

/// "pass", "reject", "unknown" or "error".
std::string_view decision_name(Decision decision) noexcept;

/// How much a finding weighs.
enum class Severity : std::uint8_t {
  error,   ///< the probe failed; the decision is error
  reject,  ///< a documented rule fails (or any rule, when strict)
  warn,    ///< an inferred or ambiguous rule fails, or the image must be uploaded first
  info,    ///< a fact is missing or worth knowing
};

/// "error", "reject", "warn" or "info".
std::string_view severity_name(Severity severity) noexcept;

/// One observation about the subject. Codes are stable: format.not_accepted, format.unknown,
/// size.{width,height}_{below_min,above_max}, size.short_side_below_min,
/// size.long_side_above_max, size.unknown, aspect.above_max, file_size.above_max,
/// file_size.ambiguous, file_size.unknown, param.<name>.invalid, param.<name>.missing,
/// param.<name>.unknown, url.not_public, url.scheme, url.malformed, url.oss_inferred (an oss://
/// URL, given or from Subject::uploaded, for a model whose oss support is inferred: warn;
/// strict: reject; url.<scheme>_inferred for another scheme of UrlRule::inferred_schemes),
/// url.no_oss (Subject::uploaded for a model that takes no oss:// URL: reject), image.not_read,
/// probe.<error_code_name> (image faults and io), fetch.<error_code_name> (network errors),
/// probe.lenient (info: the header was read past a departure from its specification,
/// ImageInfo::leniency), model.region (Subject::region not among ModelRules::regions:
/// documented rejects, inferred warns), model.retired; added by the Checker's deep check
/// (CheckerOptions::deep), not by evaluate(): image.corrupt (warn; strict: reject) and
/// image.not_decoded (info).
struct Finding {
  std::string code;     ///< stable code, see above
  Severity severity = Severity::info;  ///< weight
  std::string message;  ///< one sentence for people
  std::string limit;    ///< the rule's bound as text ("400", "2:1", "< 10485760"); may be empty
  std::string actual;   ///< the subject's value as text ("399", "801:400"); may be empty
  /// Memberwise equality.
  bool operator==(const Finding&) const = default;
};

/// The decision and every finding behind it, in rule order.
struct Verdict {
  Decision decision = Decision::pass;  ///< the outcome
  std::vector<Finding> findings;       ///< may be non-empty on pass (warnings, info)
  /// The finding with this code, or nullptr.
  const Finding* find(std::string_view code) const noexcept;
};

/// Judges the subject against one model's rules, in integer arithmetic only.
///
/// Decision precedence: error (probe failed) > reject > unknown > pass. A documented rule that
/// fails rejects; an inferred rule warns, or rejects when subject.strict. A file size in the
/// ambiguous zone warns (strict: rejects). A missing fact (file size, dimensions) gives an info
/// finding, and makes the decision unknown only when the rule needing it could reject
/// (documented, or strict): liveportrait-detect without a file size is unknown,
/// wan2.2-s2v-detect (no size rule) passes. A probe error other than unsupported_format gives
/// probe.<error_code_name> and decision error; unsupported_format is judged as format.unknown.
/// A local file gets url.not_public as info (it can be uploaded, even when strict); one that
/// facegate uploads (Subject::uploaded) also gets url.oss_inferred or url.no_oss as
/// oss_url_source() says, and so does a given oss:// URL whose support is inferred. A URL the
/// service cannot fetch rejects with url.malformed, url.scheme or url.not_public and nothing
/// else but model.region and model.retired; a network failure gives fetch.<error_code_name>
/// and decision error. A region the model is not offered in (Subject::region,
/// ModelRules::regions) adds model.region after the other findings. A retired model
/// (ModelRules::lifecycle) adds model.retired, a warning, last in every verdict: it never
/// changes the decision, even when strict.
Verdict evaluate(const ModelRules& rules, const Subject& subject);

/// The parameters to send: for each of the model's parameters in rule order, the given value,
/// else its default; parameters the model does not define are dropped.
std::vector<Parameter> effective_parameters(const ModelRules& rules,
                                            std::span<const Parameter> given);

// ---------------------------------------------------------------------------------------------
// Presenting

/// The rules as a text table for `facegate rules`: one block per model, every rule marked
/// "[doc]" or "[inferred]". Ends with a newline.
std::string render_rules_table(const RuleSet& rules);

/// The rules as JSON in the rules-file schema (parse_rules(rules_to_json(r)) gives r back).
std::string rules_to_json(const RuleSet& rules);

}  // namespace facegate
FACEGATE_PUBLIC_END
