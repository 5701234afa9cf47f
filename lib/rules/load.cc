// Loading rules files (schema 1, see lib/rules/models.json) with simdjson's DOM, error codes only.
// Every failure names the field as a path ("models[2].pixels.max_long_side") and says why.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "detect/region.hpp"
#include "facegate/detect.hpp"
#include "facegate/rules.hpp"
#include "rules/builtin.hpp"

namespace facegate {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr int kSchemaVersion = 1;
constexpr std::uint64_t kMaxFileBytes = 1 << 20;
constexpr std::uint64_t kMaxPixels = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kMaxBytes = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t kMaxRequestsPerSecond = 1'000'000;

std::string_view type_phrase(element_type type) {
  switch (type) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::INT64:
    case element_type::UINT64: return "an integer";
    case element_type::DOUBLE: return "a number with a fraction or exponent";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "an unknown type";
}

std::string member_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index_path(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

bool is_scheme(std::string_view text) {
  if (text.empty() || text.front() < 'a' || text.front() > 'z') return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
                    c == '.';
    if (!ok) return false;
  }
  return true;
}

// Names go into request bodies and paths: printable ASCII without spaces or quotes.
bool is_plain_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c <= ' ' || c > '~' || c == '"' || c == '\\') return false;
  }
  return true;
}

bool is_currency_code(std::string_view text) {
  if (text.size() != 3) return false;
  for (char c : text) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

// "YYYY-MM-DD" naming a day of the Gregorian calendar.
bool is_calendar_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  auto number = [&](std::size_t at, std::size_t length) {
    int value = 0;
    for (char c : text.substr(at, length)) {
      if (c < '0' || c > '9') return -1;
      value = value * 10 + (c - '0');
    }
    return value;
  };
  const int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

std::optional<Format> format_by_name(std::string_view name) {
  for (auto format : {Format::jpeg, Format::png, Format::bmp, Format::webp, Format::gif,
                      Format::tiff, Format::heif, Format::avif, Format::jxl, Format::ico,
                      Format::psd, Format::svg}) {
    if (format_name(format) == name) return format;
  }
  return std::nullopt;
}

std::optional<ResponseShape> response_shape_by_name(std::string_view name) {
  for (auto shape : {ResponseShape::check_pass_humanoid, ResponseShape::check_pass_bbox,
                     ResponseShape::pass_message, ResponseShape::bbox_face,
                     ResponseShape::check_pass_bodystyle}) {
    if (response_shape_name(shape) == name) return shape;
  }
  return std::nullopt;
}

class RulesParser;

// One JSON object whose keys were checked against the schema: no unknown or repeated key.
class Fields {
 public:
  Fields(RulesParser& parser, object value, std::string path)
      : parser_(parser), object_(value), path_(std::move(path)) {}

  // The value of an optional key; absent and null both mean "not given".
  std::optional<element> optional(std::string_view key) const;
  // The value of a required key; records missing_field when absent.
  std::optional<element> required(std::string_view key) const;
  std::string path(std::string_view key) const { return member_path(path_, key); }

 private:
  RulesParser& parser_;
  object object_;
  std::string path_;
};

// Walks a rules document; the first failure is kept and every later step gives up.
class RulesParser {
 public:
  RulesResult parse(element root);

  bool fail(RulesErrorKind kind, std::string path, std::string detail) {
    if (!error_) error_ = RulesError{kind, std::move(path), std::move(detail)};
    return false;
  }

 private:
  std::optional<Fields> open_object(element value, const std::string& path,
                                    std::initializer_list<std::string_view> keys);
  bool read_array(element value, const std::string& path, array& out);
  bool read_string(element value, const std::string& path, std::string& out);
  bool read_token(element value, const std::string& path, std::string& out);
  bool read_bool(element value, const std::string& path, bool& out);
  bool read_integer(element value, const std::string& path, std::uint64_t min,
                    std::uint64_t max, std::uint64_t& out);
  bool read_source(const Fields& fields, RuleSource& source, std::string& note);

  bool read_rule_set(element root, RuleSet& rules);
  bool read_model(element value, const std::string& path, ModelRules& model);
  bool read_urls(element value, const std::string& path, UrlRule& rule);
  bool read_distinct_strings(element value, const std::string& path, std::string_view what,
                             const std::function<std::string(const std::string&)>& problem,
                             std::vector<std::string>& out);
  bool read_formats(element value, const std::string& path, FormatRule& rule);
  bool read_pixels(element value, const std::string& path, PixelRule& rule);
  bool read_pixel_bound(const Fields& fields, std::string_view key,
                        std::optional<std::uint32_t>& bound);
  bool read_aspect(element value, const std::string& path, AspectRule& rule);
  bool read_file_size(element value, const std::string& path, FileSizeRule& rule);
  bool read_parameter(element value, const std::string& path, ParameterRule& rule);
  bool read_rate(element value, const std::string& path, RateRule& rule);
  bool read_price(element value, const std::string& path, PriceRule& rule);
  bool read_money(element value, const std::string& path, Money& money);
  bool read_lifecycle(element value, const std::string& path, LifecycleRule& rule);
  bool read_regions(element value, const std::string& path, RegionRule& rule);

  std::optional<RulesError> error_;
};

std::optional<element> Fields::optional(std::string_view key) const {
  element value;
  if (object_.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  if (value.type() == element_type::NULL_VALUE) return std::nullopt;
  return value;
}

std::optional<element> Fields::required(std::string_view key) const {
  element value;
  if (object_.at_key(key).get(value) != simdjson::SUCCESS) {
    parser_.fail(RulesErrorKind::missing_field, path(key), "missing field");
    return std::nullopt;
  }
  return value;
}

std::optional<Fields> RulesParser::open_object(element value, const std::string& path,
                                               std::initializer_list<std::string_view> keys) {
  object members;
  if (value.get_object().get(members) != simdjson::SUCCESS) {
    fail(RulesErrorKind::wrong_type, path,
         "expected an object, found " + std::string(type_phrase(value.type())));
    return std::nullopt;
  }
  std::set<std::string_view> seen;
  for (auto member : members) {
    const std::string key_path = member_path(path, member.key);
    bool known = false;
    for (auto key : keys) known = known || key == member.key;
    if (!known) {
      std::string expected;
      for (auto key : keys) expected += (expected.empty() ? "" : ", ") + std::string(key);
      fail(RulesErrorKind::unknown_key, key_path,
           "unknown key (expected one of: " + expected + ")");
      return std::nullopt;
    }
    if (!seen.insert(member.key).second) {
      fail(RulesErrorKind::unknown_key, key_path, "key given twice");
      return std::nullopt;
    }
  }
  return Fields(*this, members, path);
}

bool RulesParser::read_array(element value, const std::string& path, array& out) {
  if (value.get_array().get(out) == simdjson::SUCCESS) return true;
  return fail(RulesErrorKind::wrong_type, path,
              "expected an array, found " + std::string(type_phrase(value.type())));
}

bool RulesParser::read_string(element value, const std::string& path, std::string& out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return fail(RulesErrorKind::wrong_type, path,
                "expected a string, found " + std::string(type_phrase(value.type())));
  }
  out.assign(text);
  return true;
}

bool RulesParser::read_token(element value, const std::string& path, std::string& out) {
  if (!read_string(value, path, out)) return false;
  if (is_plain_token(out)) return true;
  return fail(RulesErrorKind::bad_value, path,
              "\"" + out + "\": must be non-empty printable ASCII without spaces or quotes");
}

bool RulesParser::read_bool(element value, const std::string& path, bool& out) {
  if (value.get_bool().get(out) == simdjson::SUCCESS) return true;
  return fail(RulesErrorKind::wrong_type, path,
              "expected a boolean, found " + std::string(type_phrase(value.type())));
}

bool RulesParser::read_integer(element value, const std::string& path, std::uint64_t min,
                               std::uint64_t max, std::uint64_t& out) {
  const std::string range = " (must be an integer from " + std::to_string(min) + " to " +
                            std::to_string(max) + ")";
  std::int64_t signed_value = 0;
  if (value.get_int64().get(signed_value) == simdjson::SUCCESS) {
    if (signed_value < 0) {
      return fail(RulesErrorKind::negative, path,
                  "negative value " + std::to_string(signed_value) + range);
    }
    out = static_cast<std::uint64_t>(signed_value);
  } else if (value.get_uint64().get(out) != simdjson::SUCCESS) {  // above INT64_MAX
    return fail(RulesErrorKind::wrong_type, path,
                "expected an integer, found " + std::string(type_phrase(value.type())));
  }
  if (out < min || out > max) {
    return fail(RulesErrorKind::bad_value, path, std::to_string(out) + " is out of range" + range);
  }
  return true;
}

// Every rule group carries "source" (required) and "note" (optional).
bool RulesParser::read_source(const Fields& fields, RuleSource& source, std::string& note) {
  auto value = fields.required("source");
  std::string name;
  if (!value || !read_string(*value, fields.path("source"), name)) return false;
  if (name == "documented") {
    source = RuleSource::documented;
  } else if (name == "inferred") {
    source = RuleSource::inferred;
  } else {
    return fail(RulesErrorKind::bad_value, fields.path("source"),
                "\"" + name + "\": must be \"documented\" or \"inferred\"");
  }
  if (auto text = fields.optional("note")) return read_string(*text, fields.path("note"), note);
  return true;
}

RulesResult RulesParser::parse(element root) {
  RuleSet rules;
  if (!read_rule_set(root, rules)) return RulesResult{RuleSet{}, std::move(error_)};
  return RulesResult{std::move(rules), std::nullopt};
}

bool RulesParser::read_rule_set(element root, RuleSet& rules) {
  auto fields = open_object(root, "", {"schema", "comment", "models"});
  if (!fields) return false;
  auto schema = fields->required("schema");
  std::uint64_t version = 0;
  if (!schema || !read_integer(*schema, "schema", 0, kMaxBytes, version)) return false;
  if (version != kSchemaVersion) {
    return fail(RulesErrorKind::unsupported_schema, "schema",
                "schema " + std::to_string(version) + " is not supported (this build reads " +
                    std::to_string(kSchemaVersion) + ")");
  }
  if (auto comment = fields->optional("comment")) {
    std::string ignored;
    if (!read_string(*comment, "comment", ignored)) return false;
  }
  auto list = fields->required("models");
  array models;
  if (!list || !read_array(*list, "models", models)) return false;
  if (models.size() == 0) {
    return fail(RulesErrorKind::bad_value, "models", "at least one model is needed");
  }
  rules.schema = kSchemaVersion;
  std::size_t index = 0;
  for (element value : models) {
    const std::string path = index_path("models", index++);
    ModelRules model;
    if (!read_model(value, path, model)) return false;
    if (rules.find(model.name) != nullptr) {
      return fail(RulesErrorKind::bad_value, member_path(path, "name"),
                  "model \"" + model.name + "\" is defined twice");
    }
    rules.models.push_back(std::move(model));
  }
  return true;
}

bool RulesParser::read_model(element value, const std::string& path, ModelRules& model) {
  auto fields = open_object(value, path,
                            {"name", "endpoint", "response", "urls", "formats", "pixels",
                             "aspect", "file_size", "parameters", "rate", "price",
                             "lifecycle", "regions"});
  if (!fields) return false;
  auto name = fields->required("name");
  if (!name || !read_token(*name, fields->path("name"), model.name)) return false;
  auto endpoint = fields->required("endpoint");
  if (!endpoint || !read_token(*endpoint, fields->path("endpoint"), model.endpoint)) return false;
  if (model.endpoint.front() != '/') {
    return fail(RulesErrorKind::bad_value, fields->path("endpoint"), "must start with '/'");
  }
  auto response = fields->required("response");
  std::string shape;
  if (!response || !read_string(*response, fields->path("response"), shape)) return false;
  if (auto known = response_shape_by_name(shape)) {
    model.response = *known;
  } else {
    return fail(RulesErrorKind::bad_value, fields->path("response"),
                "\"" + shape + "\" is not a known response shape");
  }
  auto urls = fields->required("urls");
  if (!urls || !read_urls(*urls, fields->path("urls"), model.urls)) return false;
  auto formats = fields->required("formats");
  if (!formats || !read_formats(*formats, fields->path("formats"), model.formats)) return false;
  if (auto pixels = fields->optional("pixels")) {
    if (!read_pixels(*pixels, fields->path("pixels"), model.pixels.emplace())) return false;
  }
  if (auto aspect = fields->optional("aspect")) {
    if (!read_aspect(*aspect, fields->path("aspect"), model.aspect.emplace())) return false;
  }
  if (auto size = fields->optional("file_size")) {
    if (!read_file_size(*size, fields->path("file_size"), model.file_size.emplace())) return false;
  }
  if (auto parameters = fields->optional("parameters")) {
    array list;
    if (!read_array(*parameters, fields->path("parameters"), list)) return false;
    std::size_t index = 0;
    for (element item : list) {
      const std::string item_path = index_path(fields->path("parameters"), index++);
      ParameterRule rule;
      if (!read_parameter(item, item_path, rule)) return false;
      for (const auto& earlier : model.parameters) {
        if (earlier.name == rule.name) {
          return fail(RulesErrorKind::bad_value, member_path(item_path, "name"),
                      "parameter \"" + rule.name + "\" is defined twice");
        }
      }
      model.parameters.push_back(std::move(rule));
    }
  }
  auto rate = fields->required("rate");
  if (!rate || !read_rate(*rate, fields->path("rate"), model.rate)) return false;
  if (auto price = fields->optional("price")) {
    if (!read_price(*price, fields->path("price"), model.price.emplace())) return false;
  }
  if (auto lifecycle = fields->optional("lifecycle")) {
    if (!read_lifecycle(*lifecycle, fields->path("lifecycle"), model.lifecycle.emplace())) {
      return false;
    }
  }
  if (auto regions = fields->optional("regions")) {
    if (!read_regions(*regions, fields->path("regions"), model.regions.emplace())) return false;
  }
  return true;
}

// A non-empty array of distinct strings; `problem` says why one is not allowed ("" = it is).
bool RulesParser::read_distinct_strings(
    element value, const std::string& path, std::string_view what,
    const std::function<std::string(const std::string&)>& problem, std::vector<std::string>& out) {
  array list;
  if (!read_array(value, path, list)) return false;
  std::size_t index = 0;
  for (element item : list) {
    const std::string item_path = index_path(path, index++);
    std::string text;
    if (!read_string(item, item_path, text)) return false;
    if (std::string why = problem(text); !why.empty()) {
      return fail(RulesErrorKind::bad_value, item_path, "\"" + text + "\" " + why);
    }
    if (std::find(out.begin(), out.end(), text) != out.end()) {
      return fail(RulesErrorKind::bad_value, item_path, "\"" + text + "\" is listed twice");
    }
    out.push_back(std::move(text));
  }
  if (out.empty()) {
    return fail(RulesErrorKind::bad_value, path, "at least one " + std::string(what) + " is needed");
  }
  return true;
}

bool RulesParser::read_urls(element value, const std::string& path, UrlRule& rule) {
  auto fields =
      open_object(value, path, {"schemes", "source", "note", "inferred_schemes", "inferred_note"});
  if (!fields) return false;
  const auto not_scheme = [](const std::string& scheme) -> std::string {
    return is_scheme(scheme) ? "" : "is not a lower-case URL scheme";
  };
  // Each scheme in one list only: the inferred ones are those the documented list lacks.
  const auto not_inferred = [&](const std::string& scheme) -> std::string {
    if (std::string why = not_scheme(scheme); !why.empty()) return why;
    const bool documented =
        std::find(rule.schemes.begin(), rule.schemes.end(), scheme) != rule.schemes.end();
    return documented ? "is in schemes too" : "";
  };
  auto schemes = fields->required("schemes");
  if (!schemes || !read_distinct_strings(*schemes, fields->path("schemes"), "scheme", not_scheme,
                                         rule.schemes)) {
    return false;
  }
  if (auto inferred = fields->optional("inferred_schemes")) {
    if (!read_distinct_strings(*inferred, fields->path("inferred_schemes"), "scheme",
                               not_inferred, rule.inferred_schemes)) {
      return false;
    }
  }
  if (auto note = fields->optional("inferred_note")) {
    if (!read_string(*note, fields->path("inferred_note"), rule.inferred_note)) return false;
    if (rule.inferred_schemes.empty()) {
      return fail(RulesErrorKind::bad_value, fields->path("inferred_note"),
                  "a note without inferred_schemes");
    }
  }
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_formats(element value, const std::string& path, FormatRule& rule) {
  auto fields = open_object(value, path, {"accepted", "source", "note"});
  if (!fields) return false;
  auto accepted = fields->required("accepted");
  array list;
  if (!accepted || !read_array(*accepted, fields->path("accepted"), list)) return false;
  std::size_t index = 0;
  for (element item : list) {
    const std::string item_path = index_path(fields->path("accepted"), index++);
    std::string name;
    if (!read_string(item, item_path, name)) return false;
    auto format = format_by_name(name);
    if (!format) {
      return fail(RulesErrorKind::bad_value, item_path,
                  "\"" + name + "\" is not a format facegate recognizes");
    }
    for (Format earlier : rule.accepted) {
      if (earlier == *format) {
        return fail(RulesErrorKind::bad_value, item_path, "\"" + name + "\" is listed twice");
      }
    }
    rule.accepted.push_back(*format);
  }
  if (rule.accepted.empty()) {
    return fail(RulesErrorKind::bad_value, fields->path("accepted"),
                "at least one format is needed");
  }
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_pixel_bound(const Fields& fields, std::string_view key,
                                   std::optional<std::uint32_t>& bound) {
  auto value = fields.optional(key);
  if (!value) return true;
  std::uint64_t pixels = 0;
  if (!read_integer(*value, fields.path(key), 1, kMaxPixels, pixels)) return false;
  bound = static_cast<std::uint32_t>(pixels);
  return true;
}

bool RulesParser::read_pixels(element value, const std::string& path, PixelRule& rule) {
  auto fields = open_object(value, path,
                            {"min_width", "max_width", "min_height", "max_height",
                             "min_short_side", "max_long_side", "source", "note"});
  if (!fields) return false;
  const bool read = read_pixel_bound(*fields, "min_width", rule.min_width) &&
                    read_pixel_bound(*fields, "max_width", rule.max_width) &&
                    read_pixel_bound(*fields, "min_height", rule.min_height) &&
                    read_pixel_bound(*fields, "max_height", rule.max_height) &&
                    read_pixel_bound(*fields, "min_short_side", rule.min_short_side) &&
                    read_pixel_bound(*fields, "max_long_side", rule.max_long_side);
  if (!read) return false;
  auto ordered = [&](const std::optional<std::uint32_t>& min, std::string_view min_key,
                     const std::optional<std::uint32_t>& max, std::string_view max_key) {
    if (!min || !max || *min <= *max) return true;
    return fail(RulesErrorKind::bad_value, fields->path(min_key),
                std::string(min_key) + " " + std::to_string(*min) + " exceeds " +
                    std::string(max_key) + " " + std::to_string(*max));
  };
  if (!ordered(rule.min_width, "min_width", rule.max_width, "max_width") ||
      !ordered(rule.min_height, "min_height", rule.max_height, "max_height") ||
      !ordered(rule.min_short_side, "min_short_side", rule.max_long_side, "max_long_side")) {
    return false;
  }
  if (!rule.min_width && !rule.max_width && !rule.min_height && !rule.max_height &&
      !rule.min_short_side && !rule.max_long_side) {
    return fail(RulesErrorKind::bad_value, path, "no bound given (omit the group instead)");
  }
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_aspect(element value, const std::string& path, AspectRule& rule) {
  auto fields = open_object(value, path, {"long", "short", "source", "note"});
  if (!fields) return false;
  std::uint64_t long_part = 0, short_part = 0;
  auto long_value = fields->required("long");
  if (!long_value || !read_integer(*long_value, fields->path("long"), 1, kMaxPixels, long_part)) {
    return false;
  }
  auto short_value = fields->required("short");
  if (!short_value ||
      !read_integer(*short_value, fields->path("short"), 1, kMaxPixels, short_part)) {
    return false;
  }
  if (long_part < short_part) {
    return fail(RulesErrorKind::bad_value, fields->path("long"),
                "long " + std::to_string(long_part) + " is less than short " +
                    std::to_string(short_part));
  }
  rule.long_part = static_cast<std::uint32_t>(long_part);
  rule.short_part = static_cast<std::uint32_t>(short_part);
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_file_size(element value, const std::string& path, FileSizeRule& rule) {
  auto fields = open_object(value, path,
                            {"max_bytes", "bound", "ambiguous_from_bytes", "source", "note"});
  if (!fields) return false;
  auto max_bytes = fields->required("max_bytes");
  if (!max_bytes ||
      !read_integer(*max_bytes, fields->path("max_bytes"), 1, kMaxBytes, rule.max_bytes)) {
    return false;
  }
  auto bound = fields->required("bound");
  std::string bound_name;
  if (!bound || !read_string(*bound, fields->path("bound"), bound_name)) return false;
  if (bound_name == "<") {
    rule.bound = SizeBound::below;
  } else if (bound_name == "<=") {
    rule.bound = SizeBound::at_or_below;
  } else {
    return fail(RulesErrorKind::bad_value, fields->path("bound"),
                "\"" + bound_name + "\": must be \"<\" or \"<=\"");
  }
  if (auto from = fields->optional("ambiguous_from_bytes")) {
    std::uint64_t bytes = 0;
    if (!read_integer(*from, fields->path("ambiguous_from_bytes"), 1, rule.max_bytes, bytes)) {
      return false;
    }
    rule.ambiguous_from_bytes = bytes;
  }
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_parameter(element value, const std::string& path, ParameterRule& rule) {
  auto fields = open_object(value, path,
                            {"name", "values", "default", "required", "source", "note"});
  if (!fields) return false;
  auto name = fields->required("name");
  if (!name || !read_token(*name, fields->path("name"), rule.name)) return false;
  auto values = fields->required("values");
  const auto any = [](const std::string&) { return std::string(); };
  if (!values ||
      !read_distinct_strings(*values, fields->path("values"), "value", any, rule.values)) {
    return false;
  }
  if (auto fallback = fields->optional("default")) {
    if (!read_string(*fallback, fields->path("default"), rule.default_value.emplace())) {
      return false;
    }
    bool allowed = false;
    for (const auto& text : rule.values) allowed = allowed || text == *rule.default_value;
    if (!allowed) {
      return fail(RulesErrorKind::bad_value, fields->path("default"),
                  "\"" + *rule.default_value + "\" is not one of the values");
    }
  }
  auto required = fields->required("required");
  if (!required || !read_bool(*required, fields->path("required"), rule.required)) return false;
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_rate(element value, const std::string& path, RateRule& rule) {
  auto fields = open_object(value, path, {"requests_per_second", "source", "note"});
  if (!fields) return false;
  auto rps = fields->required("requests_per_second");
  std::uint64_t count = 0;
  if (!rps ||
      !read_integer(*rps, fields->path("requests_per_second"), 1, kMaxRequestsPerSecond, count)) {
    return false;
  }
  rule.requests_per_second = static_cast<std::uint32_t>(count);
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_money(element value, const std::string& path, Money& money) {
  auto fields = open_object(value, path, {"currency", "amount_micros"});
  if (!fields) return false;
  auto currency = fields->required("currency");
  if (!currency || !read_string(*currency, fields->path("currency"), money.currency)) return false;
  if (!is_currency_code(money.currency)) {
    return fail(RulesErrorKind::bad_value, fields->path("currency"),
                "\"" + money.currency + "\" is not a three-letter upper-case currency code");
  }
  auto amount = fields->required("amount_micros");
  std::uint64_t micros = 0;
  if (!amount || !read_integer(*amount, fields->path("amount_micros"), 0, kMaxBytes, micros)) {
    return false;
  }
  money.amount_micros = static_cast<std::int64_t>(micros);
  return true;
}

bool RulesParser::read_price(element value, const std::string& path, PriceRule& rule) {
  auto fields = open_object(value, path, {"per_image", "source", "note"});
  if (!fields) return false;
  auto per_image = fields->required("per_image");
  array list;
  if (!per_image || !read_array(*per_image, fields->path("per_image"), list)) return false;
  std::size_t index = 0;
  for (element item : list) {
    const std::string item_path = index_path(fields->path("per_image"), index++);
    Money money;
    if (!read_money(item, item_path, money)) return false;
    for (const auto& earlier : rule.per_image) {
      if (earlier.currency == money.currency) {
        return fail(RulesErrorKind::bad_value, member_path(item_path, "currency"),
                    money.currency + " is listed twice");
      }
    }
    rule.per_image.push_back(std::move(money));
  }
  if (rule.per_image.empty()) {
    return fail(RulesErrorKind::bad_value, fields->path("per_image"),
                "at least one amount is needed (use \"price\": null when unpublished)");
  }
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_lifecycle(element value, const std::string& path, LifecycleRule& rule) {
  auto fields = open_object(value, path, {"retired", "reference", "source", "note"});
  if (!fields) return false;
  auto retired = fields->required("retired");
  if (!retired || !read_string(*retired, fields->path("retired"), rule.retired)) return false;
  if (!is_calendar_date(rule.retired)) {
    return fail(RulesErrorKind::bad_value, fields->path("retired"),
                "\"" + rule.retired + "\" is not a calendar date written YYYY-MM-DD");
  }
  auto reference = fields->required("reference");
  if (!reference || !read_string(*reference, fields->path("reference"), rule.reference)) {
    return false;
  }
  if (rule.reference.empty()) {
    return fail(RulesErrorKind::bad_value, fields->path("reference"),
                "must say where the vendor announced it");
  }
  return read_source(*fields, rule.source, rule.note);
}

bool RulesParser::read_regions(element value, const std::string& path, RegionRule& rule) {
  auto fields = open_object(value, path, {"offered", "source", "note"});
  if (!fields) return false;
  auto offered = fields->required("offered");
  const auto unknown = [](const std::string& name) -> std::string {
    if (find_region(name) != nullptr) return {};
    return "is not a DashScope region (known: " + detail::region_names() + ")";
  };
  if (!offered ||
      !read_distinct_strings(*offered, fields->path("offered"), "region", unknown, rule.offered)) {
    return false;
  }
  return read_source(*fields, rule.source, rule.note);
}

RulesResult failure(RulesErrorKind kind, std::string detail) {
  return RulesResult{RuleSet{}, RulesError{kind, "", std::move(detail)}};
}

bool is_blank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

}  // namespace

RulesResult parse_rules(std::string_view json_text) {
  if (is_blank(json_text)) return failure(RulesErrorKind::empty, "empty input: no JSON text");
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(json_text);
  element root;
  if (auto code = parser.parse(padded).get(root); code != simdjson::SUCCESS) {
    return failure(RulesErrorKind::not_json,
                   "not valid JSON: " + std::string(simdjson::error_message(code)));
  }
  return RulesParser().parse(root);
}

RulesResult load_rules_file(const std::filesystem::path& path) {
  std::error_code code;
  const auto size = std::filesystem::file_size(path, code);
  if (code) {
    return failure(RulesErrorKind::io, "cannot read " + path.string() + ": " + code.message());
  }
  if (size > kMaxFileBytes) {
    return failure(RulesErrorKind::io, path.string() + " is larger than 1 MiB (" +
                                           std::to_string(size) + " bytes)");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in || !in.read(text.data(), static_cast<std::streamsize>(text.size()))) {
    return failure(RulesErrorKind::io, "cannot read " + path.string());
  }
  return parse_rules(text);
}

const RulesResult& builtin_rules() {
  static const RulesResult rules = parse_rules(detail::kBuiltinRulesJson);
  return rules;
}

}  // namespace facegate
