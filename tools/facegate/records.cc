#include "records.hpp"

namespace facegate::cli {
namespace {

SourceProbe probe_one(const Input& input) {
  SourceProbe probe{input, {}, {}, {}};
  switch (input.kind) {
    case Input::Kind::list_error:
      probe.error_code = "io";
      probe.error_message = input.problem;
      return probe;
    case Input::Kind::url:
      probe.error_code = "scheme";
      probe.error_message = "remote inputs are not supported yet";
      return probe;
    case Input::Kind::path:
      probe.result = probe_file(input.source);
      if (probe.result.error) {
        probe.error_code = std::string(error_code_name(probe.result.error.code));
        probe.error_message = probe.result.error.message;
      }
      return probe;
  }
  return probe;
}

std::string dimension_text(std::uint32_t value) { return value ? std::to_string(value) : "-"; }

}  // namespace

std::vector<SourceProbe> probe_inputs(const std::vector<Input>& inputs) {
  std::vector<SourceProbe> probes;
  probes.reserve(inputs.size());
  for (const auto& input : inputs) probes.push_back(probe_one(input));
  return probes;
}

void write_image_fields(detail::JsonWriter& json, const SourceProbe& probe) {
  const ImageInfo& info = probe.result.info;
  json.key("format");
  if (info.format == Format::unknown) {
    json.null();
  } else {
    json.string(format_name(info.format));
  }
  json.key("subtype").optional_string(info.subtype.empty() ? std::nullopt
                                                           : std::optional(info.subtype));
  json.key("width").optional_number(info.width ? std::optional<std::uint64_t>(info.width)
                                               : std::nullopt);
  json.key("height").optional_number(info.height ? std::optional<std::uint64_t>(info.height)
                                                 : std::nullopt);
  json.key("orientation")
      .optional_number(info.orientation ? std::optional<std::uint64_t>(info.orientation)
                                        : std::nullopt);
  json.key("animated").boolean(info.animated);
  json.key("file_size").optional_number(probe.result.file_size);
  json.key("bytes_read").number(probe.result.bytes_read);
}

void write_probe_fields(detail::JsonWriter& json, const SourceProbe& probe) {
  json.key("source").string(probe.input.source);
  write_image_fields(json, probe);
  json.key("error");
  if (probe.ok()) {
    json.null();
  } else {
    json.begin_object();
    json.key("code").string(probe.error_code);
    json.key("message").string(probe.error_message);
    json.end_object();
  }
}

std::vector<std::string> probe_table_cells(const SourceProbe& probe) {
  const ImageInfo& info = probe.result.info;
  return {probe.input.source,
          info.format == Format::unknown ? "-" : std::string(format_name(info.format)),
          dimension_text(info.width),
          dimension_text(info.height),
          dimension_text(info.orientation),
          info.animated ? "yes" : "no",
          probe.result.file_size ? std::to_string(*probe.result.file_size) : "-",
          std::to_string(probe.result.bytes_read),
          probe.ok() ? "" : probe.error_code + ": " + probe.error_message};
}

}  // namespace facegate::cli
