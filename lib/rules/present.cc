// The rules for people (`facegate rules`: a table) and for programs (JSON in the file schema).
#include <algorithm>
#include <string>
#include <vector>

#include "facegate/rules.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

// ---------------------------------------------------------------------------------------------
// Table

struct Row {
  std::string label;
  std::string value;
  std::string source;  // "[doc] note", "[inferred] note"; empty for facts that are not rules
};

std::string source_text(RuleSource source, const std::string& note) {
  std::string text = source == RuleSource::documented ? "[doc]" : "[inferred]";
  if (!note.empty()) text += " " + note;
  return text;
}

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string text;
  for (const auto& item : items) {
    if (!text.empty()) text += separator;
    text += item;
  }
  return text;
}

// "400 <= width <= 7000", "width >= 400", "long side <= 4096".
std::string bound_text(std::string_view what, const std::optional<std::uint32_t>& min,
                       const std::optional<std::uint32_t>& max) {
  std::string text;
  if (min) text += std::to_string(*min) + " <= ";
  text += what;
  if (max) text += " <= " + std::to_string(*max);
  return text;
}

std::string pixels_text(const PixelRule& rule) {
  std::vector<std::string> parts;
  if (rule.min_width || rule.max_width) {
    parts.push_back(bound_text("width", rule.min_width, rule.max_width));
  }
  if (rule.min_height || rule.max_height) {
    parts.push_back(bound_text("height", rule.min_height, rule.max_height));
  }
  if (rule.min_short_side) {
    parts.push_back("short side >= " + std::to_string(*rule.min_short_side));
  }
  if (rule.max_long_side) parts.push_back("long side <= " + std::to_string(*rule.max_long_side));
  return joined(parts, ", ") + " px";
}

std::string file_size_text(const FileSizeRule& rule) {
  std::string text =
      std::string(size_bound_name(rule.bound)) + " " + std::to_string(rule.max_bytes) + " bytes";
  if (rule.ambiguous_from_bytes) {
    text += " (warns from " + std::to_string(*rule.ambiguous_from_bytes) + ")";
  }
  return text;
}

std::string parameter_text(const ParameterRule& rule) {
  std::vector<std::string> values;
  for (const auto& value : rule.values) {
    values.push_back("\"" + value + "\"" + (rule.default_value == value ? " (default)" : ""));
  }
  return rule.name + (rule.required ? " (required): " : ": ") + joined(values, ", ");
}

std::string price_text(const PriceRule& rule) {
  std::vector<std::string> amounts;
  for (const auto& money : rule.per_image) amounts.push_back(format_money(money));
  return joined(amounts, ", ") + " per image";
}

std::vector<Row> model_rows(const ModelRules& model) {
  std::vector<Row> rows;
  rows.push_back({"endpoint", "POST {base}" + model.endpoint, ""});
  rows.push_back({"response", std::string(response_shape_name(model.response)), ""});
  rows.push_back({"urls", joined(model.urls.schemes, ", "),
                  source_text(model.urls.source, model.urls.note)});
  if (!model.urls.inferred_schemes.empty()) {
    rows.push_back({"urls", joined(model.urls.inferred_schemes, ", "),
                    source_text(RuleSource::inferred, model.urls.inferred_note)});
  }
  std::vector<std::string> formats;
  for (Format format : model.formats.accepted) formats.emplace_back(format_name(format));
  rows.push_back({"formats", joined(formats, ", "),
                  source_text(model.formats.source, model.formats.note)});
  if (model.pixels) {
    rows.push_back({"pixels", pixels_text(*model.pixels),
                    source_text(model.pixels->source, model.pixels->note)});
  } else {
    rows.push_back({"pixels", "no rule", ""});
  }
  if (model.aspect) {
    rows.push_back({"aspect",
                    "long:short <= " + std::to_string(model.aspect->long_part) + ":" +
                        std::to_string(model.aspect->short_part),
                    source_text(model.aspect->source, model.aspect->note)});
  } else {
    rows.push_back({"aspect", "no rule", ""});
  }
  if (model.file_size) {
    rows.push_back({"file size", file_size_text(*model.file_size),
                    source_text(model.file_size->source, model.file_size->note)});
  } else {
    rows.push_back({"file size", "no rule", ""});
  }
  if (model.parameters.empty()) rows.push_back({"parameters", "none", ""});
  for (const auto& parameter : model.parameters) {
    rows.push_back({"parameters", parameter_text(parameter),
                    source_text(parameter.source, parameter.note)});
  }
  rows.push_back({"rate", std::to_string(model.rate.requests_per_second) + " per second",
                  source_text(model.rate.source, model.rate.note)});
  if (model.price) {
    rows.push_back({"price", price_text(*model.price),
                    source_text(model.price->source, model.price->note)});
  } else {
    rows.push_back({"price", "not published", ""});
  }
  if (model.lifecycle) {
    // The reference in the source column, which has room for it.
    const LifecycleRule& rule = *model.lifecycle;
    rows.push_back({"lifecycle", "retired " + rule.retired,
                    source_text(rule.source, rule.reference +
                                                 (rule.note.empty() ? "" : "; " + rule.note))});
  } else {
    rows.push_back({"lifecycle", "no retirement announced", ""});
  }
  if (model.regions) {
    rows.push_back({"regions", "offered only in " + joined(model.regions->offered, ", "),
                    source_text(model.regions->source, model.regions->note)});
  } else {
    rows.push_back({"regions", "no rule", ""});
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// JSON

void write_source(detail::JsonWriter& json, RuleSource source, const std::string& note) {
  json.key("source").string(rule_source_name(source));
  if (!note.empty()) json.key("note").string(note);
}

void write_strings(detail::JsonWriter& json, const std::vector<std::string>& items) {
  json.begin_array();
  for (const auto& item : items) json.string(item);
  json.end_array();
}

void write_pixel_bound(detail::JsonWriter& json, std::string_view key,
                       const std::optional<std::uint32_t>& bound) {
  if (bound) json.key(key).number(std::uint64_t{*bound});
}

void write_pixels(detail::JsonWriter& json, const PixelRule& rule) {
  json.begin_object();
  write_pixel_bound(json, "min_width", rule.min_width);
  write_pixel_bound(json, "max_width", rule.max_width);
  write_pixel_bound(json, "min_height", rule.min_height);
  write_pixel_bound(json, "max_height", rule.max_height);
  write_pixel_bound(json, "min_short_side", rule.min_short_side);
  write_pixel_bound(json, "max_long_side", rule.max_long_side);
  write_source(json, rule.source, rule.note);
  json.end_object();
}

void write_file_size(detail::JsonWriter& json, const FileSizeRule& rule) {
  json.begin_object();
  json.key("max_bytes").number(rule.max_bytes);
  json.key("bound").string(size_bound_name(rule.bound));
  if (rule.ambiguous_from_bytes) {
    json.key("ambiguous_from_bytes").number(*rule.ambiguous_from_bytes);
  }
  write_source(json, rule.source, rule.note);
  json.end_object();
}

void write_parameter(detail::JsonWriter& json, const ParameterRule& rule) {
  json.begin_object();
  json.key("name").string(rule.name);
  write_strings(json.key("values"), rule.values);
  if (rule.default_value) json.key("default").string(*rule.default_value);
  json.key("required").boolean(rule.required);
  write_source(json, rule.source, rule.note);
  json.end_object();
}

void write_price(detail::JsonWriter& json, const PriceRule& rule) {
  json.begin_object();
  json.key("per_image").begin_array();
  for (const auto& money : rule.per_image) {
    json.begin_object();
    json.key("currency").string(money.currency);
    json.key("amount_micros").number(money.amount_micros);
    json.end_object();
  }
  json.end_array();
  write_source(json, rule.source, rule.note);
  json.end_object();
}

void write_lifecycle(detail::JsonWriter& json, const LifecycleRule& rule) {
  json.begin_object();
  json.key("retired").string(rule.retired);
  json.key("reference").string(rule.reference);
  write_source(json, rule.source, rule.note);
  json.end_object();
}

void write_urls(detail::JsonWriter& json, const UrlRule& rule) {
  json.begin_object();
  write_strings(json.key("schemes"), rule.schemes);
  write_source(json, rule.source, rule.note);
  if (!rule.inferred_schemes.empty()) {
    write_strings(json.key("inferred_schemes"), rule.inferred_schemes);
  }
  if (!rule.inferred_note.empty()) json.key("inferred_note").string(rule.inferred_note);
  json.end_object();
}

void write_regions(detail::JsonWriter& json, const RegionRule& rule) {
  json.begin_object();
  write_strings(json.key("offered"), rule.offered);
  write_source(json, rule.source, rule.note);
  json.end_object();
}

void write_model(detail::JsonWriter& json, const ModelRules& model) {
  json.begin_object();
  json.key("name").string(model.name);
  json.key("endpoint").string(model.endpoint);
  json.key("response").string(response_shape_name(model.response));
  write_urls(json.key("urls"), model.urls);
  json.key("formats").begin_object().key("accepted").begin_array();
  for (Format format : model.formats.accepted) json.string(format_name(format));
  json.end_array();
  write_source(json, model.formats.source, model.formats.note);
  json.end_object();
  if (model.pixels) write_pixels(json.key("pixels"), *model.pixels);
  if (model.aspect) {
    json.key("aspect").begin_object();
    json.key("long").number(std::uint64_t{model.aspect->long_part});
    json.key("short").number(std::uint64_t{model.aspect->short_part});
    write_source(json, model.aspect->source, model.aspect->note);
    json.end_object();
  }
  if (model.file_size) write_file_size(json.key("file_size"), *model.file_size);
  json.key("parameters").begin_array();
  for (const auto& parameter : model.parameters) write_parameter(json, parameter);
  json.end_array();
  json.key("rate").begin_object();
  json.key("requests_per_second").number(std::uint64_t{model.rate.requests_per_second});
  write_source(json, model.rate.source, model.rate.note);
  json.end_object();
  if (model.price) {
    write_price(json.key("price"), *model.price);
  } else {
    json.key("price").null();
  }
  if (model.lifecycle) write_lifecycle(json.key("lifecycle"), *model.lifecycle);
  if (model.regions) write_regions(json.key("regions"), *model.regions);
  json.end_object();
}

}  // namespace

std::string render_rules_table(const RuleSet& rules) {
  std::vector<std::vector<Row>> blocks;
  std::size_t label_width = 0, value_width = 0;
  for (const auto& model : rules.models) {
    blocks.push_back(model_rows(model));
    for (const auto& row : blocks.back()) {
      label_width = std::max(label_width, row.label.size());
      if (!row.source.empty()) value_width = std::max(value_width, row.value.size());
    }
  }
  std::string out;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i != 0) out += '\n';
    out += rules.models[i].name + '\n';
    for (const auto& row : blocks[i]) {
      out += "  " + row.label + std::string(label_width - row.label.size() + 2, ' ') + row.value;
      if (!row.source.empty()) {
        out += std::string(value_width - row.value.size() + 2, ' ') + row.source;
      }
      out += '\n';
    }
  }
  return out;
}

std::string rules_to_json(const RuleSet& rules) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("schema").number(std::int64_t{rules.schema});
  json.key("models").begin_array();
  for (const auto& model : rules.models) write_model(json, model);
  json.end_array();
  json.end_object();
  return json.take();
}

}  // namespace facegate
