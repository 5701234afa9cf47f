#include "net/http_headers.hpp"

#include <limits>

namespace facegate::detail {
namespace {

// RFC 9110 5.6.3: optional whitespace is spaces and horizontal tabs.
std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

// 1*DIGIT as an unsigned 64-bit number; nullopt when empty, not digits, or too large.
std::optional<std::uint64_t> parse_digits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace

std::optional<ContentRange> parse_content_range(std::string_view value) {
  value = trim(value);
  constexpr std::string_view kUnit = "bytes ";
  if (!starts_with_ignoring_case(value, kUnit)) return std::nullopt;
  value.remove_prefix(kUnit.size());
  const std::size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view range = value.substr(0, slash);
  const std::string_view total = value.substr(slash + 1);
  ContentRange result;
  if (total != "*") {
    result.total = parse_digits(total);
    if (!result.total) return std::nullopt;
  }
  if (range == "*") {
    // "bytes */total" (unsatisfied-range) needs the total.
    if (!result.total) return std::nullopt;
    return result;
  }
  const std::size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  result.first = parse_digits(range.substr(0, dash));
  result.last = parse_digits(range.substr(dash + 1));
  if (!result.first || !result.last || *result.first > *result.last) return std::nullopt;
  if (result.total && *result.last >= *result.total) return std::nullopt;
  return result;
}

std::optional<std::uint64_t> parse_content_length(std::string_view value) {
  return parse_digits(trim(value));
}

void ResponseFields::read_line(std::string_view line) {
  if (starts_with_ignoring_case(line, "HTTP/")) {
    *this = ResponseFields{};
    return;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  if (equals_ignoring_case(name, "content-range")) {
    has_content_range = true;
    content_range = parse_content_range(value);
  } else if (equals_ignoring_case(name, "content-length")) {
    content_length = parse_content_length(value);
  } else if (equals_ignoring_case(name, "content-encoding")) {
    if (!content_encoding.empty()) content_encoding += ',';
    for (char c : value) content_encoding += lower(c);
  } else if (equals_ignoring_case(name, "etag")) {
    etag = std::string(value);
  } else if (equals_ignoring_case(name, "location")) {
    location = std::string(value);
  } else if (equals_ignoring_case(name, "last-modified")) {
    last_modified = std::string(value);
  } else if (equals_ignoring_case(name, "content-type")) {
    multipart = starts_with_ignoring_case(value, "multipart/byteranges");
  }
}

}  // namespace facegate::detail
