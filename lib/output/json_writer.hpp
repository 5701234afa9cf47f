// A small streaming JSON writer for output records (simdjson 3.0 only parses).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace facegate::detail {

/// Writes one JSON value into a string, inserting commas and colons itself.
/// Strings are escaped: quotes, backslashes, control characters, and bytes that are not
/// well-formed UTF-8 (replaced by U+FFFD, so the output is always valid UTF-8 JSON).
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view text);
  JsonWriter& number(std::uint64_t value);
  JsonWriter& number(std::int64_t value);
  /// A decimal with a fixed count of digits after the point (money: no float drift in output).
  JsonWriter& decimal(std::int64_t scaled, unsigned digits);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  /// A string, or null when absent.
  JsonWriter& optional_string(std::optional<std::string_view> text);
  /// A number, or null when absent.
  JsonWriter& optional_number(std::optional<std::uint64_t> value);
  /// Inserts an already-serialized JSON value verbatim.
  JsonWriter& raw(std::string_view json);

  /// The text written so far.
  const std::string& text() const noexcept { return out_; }
  /// Moves the text out and resets the writer.
  std::string take();

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_in_scope_;  // one entry per open object or array
  bool after_key_ = false;
};

/// Appends `text` to `out` as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view text);

}  // namespace facegate::detail
