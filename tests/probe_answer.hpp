// Test helpers shared by the probe tests: everything a probe answers as one comparable value,
// the probe fed in chunks, the files those tests feed it and the crafted files' manifests.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/probe.hpp"

namespace facegate::test {

/// Everything a probe reports; two answers are the same answer when all of it is.
struct Answer {
  Status status = Status::need_more;  ///< need_more, done or error
  Format format = Format::unknown;    ///< ImageInfo::format
  std::uint32_t width = 0;            ///< ImageInfo::width
  std::uint32_t height = 0;           ///< ImageInfo::height
  unsigned orientation = 0;           ///< ImageInfo::orientation (unsigned: prints as a number)
  bool animated = false;              ///< ImageInfo::animated
  std::string subtype;                ///< ImageInfo::subtype
  std::string leniency;               ///< ImageInfo::leniency
  ErrorCode error = ErrorCode::none;  ///< Error::code; none unless status is error
  std::string message;                ///< Error::message; empty unless status is error
  /// Field by field.
  bool operator==(const Answer&) const = default;
};

/// Lower-case name of a status ("need_more", "done", "error").
inline std::string_view status_name(Status status) {
  switch (status) {
    case Status::need_more: return "need_more";
    case Status::done: return "done";
    case Status::error: return "error";
  }
  return "?";
}

/// One line with every field, for doctest's failure messages.
inline std::ostream& operator<<(std::ostream& out, const Answer& answer) {
  return out << "{" << status_name(answer.status) << " " << format_name(answer.format) << " "
             << answer.width << "x" << answer.height << ", orientation " << answer.orientation
             << ", animated " << answer.animated << ", subtype '" << answer.subtype
             << "', leniency '" << answer.leniency << "', " << error_code_name(answer.error)
             << " '" << answer.message << "'}";
}

/// The header fields of `info` alone, status and error left at their defaults: for comparing
/// the fields of results whose error is not the probe's (a ProbeResult's Error).
inline Answer fields_of(const ImageInfo& info) {
  Answer answer;
  answer.format = info.format;
  answer.width = info.width;
  answer.height = info.height;
  answer.orientation = info.orientation;
  answer.animated = info.animated;
  answer.subtype = std::string(info.subtype);
  answer.leniency = std::string(info.leniency);
  return answer;
}

/// The fields of `info` with `status` and `error`.
inline Answer answer_of(const ImageInfo& info, Status status, const Error& error) {
  Answer answer = fields_of(info);
  answer.status = status;
  answer.error = error.code;
  answer.message = error.message;
  return answer;
}

/// A probe's answer so far; its error only when its status is error (Probe::error()).
inline Answer answer_of(const Probe& probe) {
  return answer_of(probe.info(), probe.status(),
                   probe.status() == Status::error ? probe.error() : Error{});
}

/// The answer of a whole-source probe (probe_memory, probe_file): done or error.
inline Answer answer_of(const ProbeResult& result) {
  return answer_of(result.info, result.ok() ? Status::done : Status::error, result.error);
}

/// Feeds `data` in chunks of `chunk` bytes (the last one shorter), as a stream brings it, until
/// the probe stops needing more, then calls finish().
inline Answer probe_in_chunks(std::span<const std::byte> data, std::size_t chunk) {
  Probe probe;
  for (std::size_t at = 0; at < data.size() && probe.status() == Status::need_more; at += chunk) {
    probe.feed(at, data.subspan(at, std::min(chunk, data.size() - at)));
  }
  probe.finish();
  return answer_of(probe);
}

/// The whole content of a file; fails the test when it cannot be opened.
inline std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::transform(chars.begin(), chars.end(), bytes.begin(),
                 [](char c) { return static_cast<std::byte>(c); });
  return bytes;
}

/// tests/data/crafted, found through FACEGATE_TEST_DATA (set by tests/meson.build).
inline std::filesystem::path crafted_dir() {
  const char* data = std::getenv("FACEGATE_TEST_DATA");
  REQUIRE_MESSAGE(data != nullptr, "FACEGATE_TEST_DATA is not set (run through meson test)");
  return std::filesystem::path(data) / "crafted";
}

/// One row of a crafted-file manifest (tests/data/crafted/*.tsv, written by the make_*.py
/// scripts beside it).
struct CraftedFile {
  std::string file;  ///< file name in tests/data/crafted
  /// What probe_memory answers; subtype, leniency and message empty (no such columns).
  Answer expected;
  /// True when the probe reads the file with a leniency note (ImageInfo::leniency).
  bool lenient = false;
};

/// The fields a manifest row states: `answer` without its subtype, leniency and message.
inline Answer manifest_fields(Answer answer) {
  answer.subtype.clear();
  answer.leniency.clear();
  answer.message.clear();
  return answer;
}

/// The format whose format_name is `name`; fails the test for any other name.
inline Format format_named(std::string_view name) {
  for (int value = 0; value <= static_cast<int>(Format::svg); ++value) {
    const auto format = static_cast<Format>(value);
    if (format_name(format) == name) return format;
  }
  FAIL("unknown format name in a manifest: ", name);
  return Format::unknown;
}

/// The error code whose error_code_name is `name`, none for "-"; fails the test for any other.
inline ErrorCode error_code_named(std::string_view name) {
  if (name == "-") return ErrorCode::none;
  for (int value = 1; value <= static_cast<int>(ErrorCode::io); ++value) {
    const auto code = static_cast<ErrorCode>(value);
    if (error_code_name(code) == name) return code;
  }
  FAIL("unknown error code name in a manifest: ", name);
  return ErrorCode::none;
}

/// The rows of tests/data/crafted/<manifest>, whose columns are: file, format, width, height,
/// orientation, animated (0 or 1), error ("-" or an error code name), lenient (0 or 1). Lines
/// starting with '#' are comments. Fails the test on a malformed line or an empty manifest.
inline std::vector<CraftedFile> read_crafted_manifest(std::string_view manifest) {
  const std::filesystem::path path = crafted_dir() / manifest;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open the manifest " << path);
  std::vector<CraftedFile> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    CraftedFile row;
    std::string format, animated, error, lenient;
    fields >> row.file >> format >> row.expected.width >> row.expected.height >>
        row.expected.orientation >> animated >> error >> lenient;
    REQUIRE_MESSAGE(!fields.fail(), "bad manifest line: " << line);
    REQUIRE_MESSAGE((animated == "0" || animated == "1"), "bad animated field: " << line);
    REQUIRE_MESSAGE((lenient == "0" || lenient == "1"), "bad lenient field: " << line);
    row.lenient = lenient == "1";
    row.expected.format = format_named(format);
    row.expected.animated = animated == "1";
    row.expected.error = error_code_named(error);
    row.expected.status = row.expected.error == ErrorCode::none ? Status::done : Status::error;
    rows.push_back(std::move(row));
  }
  REQUIRE_MESSAGE(!rows.empty(), "no rows in the manifest " << path);
  return rows;
}

}  // namespace facegate::test
