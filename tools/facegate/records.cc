#include "records.hpp"

#include <filesystem>

namespace facegate::cli {
namespace {

void set_error(SourceProbe& probe, std::string_view code, std::string message) {
  probe.error_code = std::string(code);
  probe.error_message = std::move(message);
}

// The probe's own error codes, as opposed to the network's.
std::optional<ErrorCode> probe_error_of(FetchError error) {
  switch (error) {
    case FetchError::truncated: return ErrorCode::truncated;
    case FetchError::malformed: return ErrorCode::malformed;
    case FetchError::unsupported_format: return ErrorCode::unsupported_format;
    default: return std::nullopt;
  }
}

std::string count_text(std::uint64_t value) { return value ? std::to_string(value) : "-"; }

}  // namespace

std::vector<SourceProbe> probe_local_inputs(const std::vector<Input>& inputs) {
  std::vector<SourceProbe> probes(inputs.size());
  std::vector<std::filesystem::path> paths;
  std::vector<std::size_t> path_slots;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    probes[i].input = inputs[i];
    if (inputs[i].kind == Input::Kind::path) {
      paths.emplace_back(inputs[i].source);
      path_slots.push_back(i);
    } else if (inputs[i].kind == Input::Kind::list_error) {
      set_error(probes[i], "io", inputs[i].problem);
      probes[i].probe_error = Error{ErrorCode::io, inputs[i].problem};
    }
  }
  // One call for every path: many files are read with io_uring (probe_files).
  std::vector<ProbeResult> results = probe_files(paths);
  for (std::size_t k = 0; k < results.size(); ++k) {
    SourceProbe& probe = probes[path_slots[k]];
    ProbeResult& result = results[k];
    probe.info = result.info;
    probe.file_size = result.file_size;
    probe.bytes_read = result.bytes_read;
    if (result.error) {
      set_error(probe, error_code_name(result.error.code), result.error.message);
      probe.probe_error = std::move(result.error);
    }
  }
  return probes;
}

SourceProbe from_fetch(const Input& input, FetchResult result) {
  SourceProbe probe;
  probe.input = input;
  probe.info = result.info;
  probe.file_size = result.file_size;
  probe.bytes_read = result.bytes_read;
  probe.remote = RemoteFacts{result.http_status, result.bytes_transferred, result.requests};
  if (result.error) {
    if (auto code = probe_error_of(result.error.code)) {
      probe.probe_error = Error{*code, result.error.message};
    }
    set_error(probe, fetch_error_name(result.error.code), std::move(result.error.message));
  }
  return probe;
}

std::vector<SourceProbe> probe_inputs(const std::vector<Input>& inputs,
                                      const ProbeSettings& settings) {
  std::vector<SourceProbe> probes = probe_local_inputs(inputs);
  std::vector<std::string> urls;
  std::vector<std::size_t> url_slots;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].kind == Input::Kind::url) {
      urls.push_back(inputs[i].source);
      url_slots.push_back(i);
    }
  }
  if (!urls.empty()) {
    std::vector<FetchResult> results = probe_urls(urls, settings.fetch, settings.loop);
    for (std::size_t k = 0; k < results.size(); ++k) {
      probes[url_slots[k]] = from_fetch(inputs[url_slots[k]], std::move(results[k]));
    }
  }
  return probes;
}

void write_image_fields(detail::JsonWriter& json, const SourceProbe& probe) {
  const ImageInfo& info = probe.info;
  auto optional_count = [](std::uint64_t value) {
    return value ? std::optional<std::uint64_t>(value) : std::nullopt;
  };
  json.key("format");
  if (info.format == Format::unknown) {
    json.null();
  } else {
    json.string(format_name(info.format));
  }
  json.key("subtype").optional_string(info.subtype.empty() ? std::nullopt
                                                           : std::optional(info.subtype));
  json.key("width").optional_number(optional_count(info.width));
  json.key("height").optional_number(optional_count(info.height));
  json.key("orientation").optional_number(optional_count(info.orientation));
  json.key("animated").boolean(info.animated);
  json.key("file_size").optional_number(probe.file_size);
  json.key("bytes_read").number(probe.bytes_read);
  if (probe.remote) {
    json.key("http_status").optional_number(
        probe.remote->http_status > 0
            ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(probe.remote->http_status))
            : std::nullopt);
    json.key("bytes_transferred").number(probe.remote->bytes_transferred);
    json.key("requests").number(std::uint64_t{probe.remote->requests});
  }
}

void write_error_field(detail::JsonWriter& json, const SourceProbe& probe) {
  json.key("error");
  if (probe.ok()) {
    json.null();
    return;
  }
  json.begin_object();
  json.key("code").string(probe.error_code);
  json.key("message").string(probe.error_message);
  json.end_object();
}

void write_probe_fields(detail::JsonWriter& json, const SourceProbe& probe) {
  json.key("source").string(probe.input.source);
  write_image_fields(json, probe);
  write_error_field(json, probe);
}

std::vector<std::string> probe_table_cells(const SourceProbe& probe) {
  const ImageInfo& info = probe.info;
  return {probe.input.source,
          info.format == Format::unknown ? "-" : std::string(format_name(info.format)),
          count_text(info.width),
          count_text(info.height),
          count_text(info.orientation),
          info.animated ? "yes" : "no",
          probe.file_size ? std::to_string(*probe.file_size) : "-",
          std::to_string(probe.remote ? probe.remote->bytes_transferred : probe.bytes_read),
          probe.ok() ? "" : probe.error_code + ": " + probe.error_message};
}

}  // namespace facegate::cli
