// Probing inputs into records, and writing their fields (shared by probe and check).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "facegate/probe.hpp"
#include "inputs.hpp"
#include "output/json_writer.hpp"

namespace facegate::cli {

/// What probing one input found, local or remote.
struct SourceProbe {
  Input input;
  ProbeResult result;
  std::string error_code;     ///< stable name; empty on success
  std::string error_message;  ///< empty on success
  /// True when the header was read to its answer.
  bool ok() const { return error_code.empty(); }
};

/// Probes every input, one SourceProbe each, in input order.
std::vector<SourceProbe> probe_inputs(const std::vector<Input>& inputs);

/// Writes "source", "format", "width", "height", "orientation", "animated", "file_size",
/// "bytes_read", "error" into an open JSON object.
void write_probe_fields(detail::JsonWriter& json, const SourceProbe& probe);

/// Writes the image fields without "source" and "error" (the "image" object of check records).
void write_image_fields(detail::JsonWriter& json, const SourceProbe& probe);

/// The cells of a probe table row.
std::vector<std::string> probe_table_cells(const SourceProbe& probe);

}  // namespace facegate::cli
