// The few response header fields a header fetch reads, parsed strictly (RFC 9110).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace facegate::detail {

/// A Content-Range value (RFC 9110 14.4): "bytes first-last/total", "bytes first-last/*" or,
/// on 416, "bytes */total".
struct ContentRange {
  std::optional<std::uint64_t> first;  ///< absent for "*/total"
  std::optional<std::uint64_t> last;   ///< inclusive; set exactly when first is
  std::optional<std::uint64_t> total;  ///< absent for "/*"
};

/// Parses a Content-Range value; nullopt unless it is well-formed with first <= last < total.
std::optional<ContentRange> parse_content_range(std::string_view value);

/// Parses a Content-Length value (RFC 9110 8.6: 1*DIGIT); nullopt on anything else or
/// overflow.
std::optional<std::uint64_t> parse_content_length(std::string_view value);

/// What one response said in the fields a header fetch reads.
struct ResponseFields {
  bool has_content_range = false;            ///< a Content-Range field came, valid or not
  std::optional<ContentRange> content_range; ///< the field, when it was valid
  std::optional<std::uint64_t> content_length;
  std::string content_encoding;  ///< lower case, comma-joined when repeated; empty when absent
  bool multipart = false;        ///< Content-Type multipart/byteranges
  std::string etag;              ///< the ETag value as sent (validators: the ledger's identity)
  std::string last_modified;     ///< the Last-Modified value as sent
  std::string location;          ///< the Location value as sent (a redirect's target)

  /// True when the body is the representation itself (no encoding, or "identity").
  bool identity_encoded() const { return content_encoding.empty() || content_encoding == "identity"; }
  /// Reads one header line ("Name: value\r\n"); a status line ("HTTP/...") starts over, as
  /// libcurl passes the headers of redirects and 1xx responses too.
  void read_line(std::string_view line);
};

}  // namespace facegate::detail
