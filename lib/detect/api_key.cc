// The API key and the base URL, found the way the DashScope SDK finds them
// (docs/service.md#credentials-and-base-url: $DASHSCOPE_API_KEY, else
// $DASHSCOPE_API_KEY_FILE_PATH, default ~/.dashscope/api_key; base URL $DASHSCOPE_HTTP_BASE_URL,
// else the region's).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "facegate/detect.hpp"
#include "input/stream.hpp"

namespace facegate {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\f\v";
// A key file is one short line; anything longer is not a key file.
constexpr std::size_t kMaxKeyFileBytes = 4096;

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

std::string_view environment_value(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string_view{} : std::string_view{value};
}

// A key goes into an HTTP header: control characters or inner spaces would break the header
// (or inject another one), so such a key is refused.
bool fits_in_header(std::string_view key) {
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F) return false;
  }
  return true;
}

ApiKeyResult key_result(std::string_view value, std::string source) {
  ApiKeyResult result;
  if (!fits_in_header(trim(value))) {
    result.error = "the API key from " + source + " contains spaces or control characters";
    return result;
  }
  result.key = ApiKey(value);
  result.source = std::move(source);
  return result;
}

// The key file's bytes, at most kMaxKeyFileBytes + 1: read without blocking in open (a FIFO,
// `<(pass show key)`) and within a deadline (a FIFO nobody writes).
struct KeyFileRead {
  std::string content;
  std::string error;  ///< why the file cannot be read; empty on success
};

KeyFileRead read_key_file(const std::string& path) {
  KeyFileRead read;
  const int fd = detail::open_for_reading(path);
  if (fd < 0) {
    read.error = path + " cannot be read (" + std::strerror(errno) + ")";
    return read;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    read.error = path + " is a directory, not a key file";
    return read;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::array<std::byte, kMaxKeyFileBytes + 1> buffer;
  std::size_t length = 0;
  while (length < buffer.size()) {
    const detail::StreamRead got =
        detail::read_stream(fd, buffer.data() + length, buffer.size() - length, deadline);
    if (got.timed_out) {
      read.error = path + " gave no key within 5 s";
      break;
    }
    if (got.error != 0) {
      read.error = path + " cannot be read (" + std::strerror(got.error) + ")";
      break;
    }
    if (got.bytes == 0) break;
    length += got.bytes;
  }
  ::close(fd);
  read.content.assign(reinterpret_cast<const char*>(buffer.data()), length);
  return read;
}

ApiKeyResult key_from_file(const std::string& path) {
  ApiKeyResult result;
  KeyFileRead read = read_key_file(path);
  if (!read.error.empty()) {
    result.error = "no API key: DASHSCOPE_API_KEY is not set and " + read.error;
    return result;
  }
  if (read.content.size() > kMaxKeyFileBytes) {
    result.error = "the API key file " + path + " is larger than 4096 bytes";
    return result;
  }
  if (trim(read.content).empty()) {
    result.error = "the API key file " + path + " is empty";
    return result;
  }
  return key_result(read.content, path);
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// The length of the longest run of the key, in any letter case, that starts at text[at].
std::size_t key_run_at(std::string_view text, std::size_t at, std::string_view key) {
  std::size_t longest = 0;
  for (std::size_t from = 0; from < key.size(); ++from) {
    std::size_t n = 0;
    while (at + n < text.size() && from + n < key.size() &&
           lower(text[at + n]) == lower(key[from + n])) {
      ++n;
    }
    longest = std::max(longest, n);
  }
  return longest;
}

}  // namespace

ApiKey::ApiKey(std::string_view value) : value_(trim(value)) {}

std::string ApiKey::scrub(std::string_view text) const {
  if (value_.empty()) return std::string(text);
  // Any 8 characters of the key in a row, in any case: servers echo keys upper-cased, cut
  // short or inside other text (issue 10, item 4). A key shorter than 8 is hidden whole.
  const std::size_t shortest = std::min<std::size_t>(kShortestRedactedRun, value_.size());
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t run = key_run_at(text, at, value_);
    if (run >= shortest) {
      out += kRedacted;
      at += run;
    } else {
      out += text[at++];
    }
  }
  return out;
}

ApiKeyResult load_api_key() {
  if (const auto value = environment_value("DASHSCOPE_API_KEY"); !trim(value).empty()) {
    return key_result(value, "DASHSCOPE_API_KEY");
  }
  if (const auto path = environment_value("DASHSCOPE_API_KEY_FILE_PATH"); !path.empty()) {
    return key_from_file(std::string(path));
  }
  const auto home = environment_value("HOME");
  if (home.empty()) {
    ApiKeyResult result;
    result.error = "no API key: DASHSCOPE_API_KEY, DASHSCOPE_API_KEY_FILE_PATH and HOME are unset";
    return result;
  }
  return key_from_file(std::string(home) + "/.dashscope/api_key");
}

std::string dashscope_base_url(std::string_view explicit_url, std::string_view region) {
  std::string_view url = explicit_url;
  if (url.empty()) url = trim(environment_value("DASHSCOPE_HTTP_BASE_URL"));
  if (url.empty()) {
    const DashScopeRegion* named = find_region(region.empty() ? kDefaultRegion : region);
    if (named == nullptr) return {};
    url = named->base_url;
  }
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

std::string base_url_problem(std::string_view base_url) {
  if (base_url.starts_with("http://") || base_url.starts_with("https://")) return {};
  return "the base URL '" + std::string(base_url) + "' is not an http:// or https:// URL";
}

}  // namespace facegate
