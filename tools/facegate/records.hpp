// Probing inputs into records, and writing their fields (shared by probe and check).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "facegate/fetch.hpp"
#include "facegate/probe.hpp"
#include "inputs.hpp"
#include "output/json_writer.hpp"

namespace facegate::cli {

/// What the network did for a URL input.
struct RemoteFacts {
  long http_status = 0;                 ///< status of the last response; 0 when none came
  std::uint64_t bytes_transferred = 0;  ///< body bytes received
  std::uint32_t requests = 0;           ///< HTTP requests sent, redirects included
};

/// What probing one input found, local or remote.
struct SourceProbe {
  Input input;
  ImageInfo info;                          ///< fields found (partial on error)
  std::optional<std::uint64_t> file_size;  ///< when known
  std::uint64_t bytes_read = 0;            ///< bytes handed to the probe
  std::optional<RemoteFacts> remote;       ///< set for URL inputs
  std::string error_code;     ///< stable name (probe or fetch error); empty on success
  std::string error_message;  ///< empty on success
  /// The probe's own error, when the failure was the image's (truncated, malformed ...).
  Error probe_error;
  /// True when the header was read to its answer.
  bool ok() const { return error_code.empty(); }
};

/// How inputs are probed.
struct ProbeSettings {
  FetchOptions fetch;        ///< limits and permissions for URL inputs
  NetworkLoopOptions loop;   ///< concurrency for URL inputs
};

/// One record per input, in input order: the local inputs (paths, probed together with
/// probe_files, and lists that failed to open) probed; a URL input's record holds only its input.
std::vector<SourceProbe> probe_local_inputs(const std::vector<Input>& inputs);

/// The record of a URL input from its fetch result.
SourceProbe from_fetch(const Input& input, FetchResult result);

/// Probes every input, one SourceProbe each, in input order; URLs concurrently.
std::vector<SourceProbe> probe_inputs(const std::vector<Input>& inputs,
                                      const ProbeSettings& settings);

/// Writes "source" then the image fields and "error" into an open JSON object.
void write_probe_fields(detail::JsonWriter& json, const SourceProbe& probe);

/// Writes the image fields: format ... bytes_read, and for URLs http_status,
/// bytes_transferred and requests.
void write_image_fields(detail::JsonWriter& json, const SourceProbe& probe);

/// Writes the "error" key: null, or {"code", "message"}.
void write_error_field(detail::JsonWriter& json, const SourceProbe& probe);

/// The cells of a probe table row.
std::vector<std::string> probe_table_cells(const SourceProbe& probe);

}  // namespace facegate::cli
