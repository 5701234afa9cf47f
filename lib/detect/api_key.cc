// The API key and the base URL, found the way the DashScope SDK finds them
// (docs/service.md#credentials-and-base-url: $DASHSCOPE_API_KEY, else
// $DASHSCOPE_API_KEY_FILE_PATH, default ~/.dashscope/api_key; base URL $DASHSCOPE_HTTP_BASE_URL).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "facegate/detect.hpp"

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

ApiKeyResult key_from_file(const std::string& path) {
  ApiKeyResult result;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    result.error = "no API key: DASHSCOPE_API_KEY is not set and " + path + " cannot be read (" +
                   std::strerror(errno) + ")";
    return result;
  }
  std::string content(kMaxKeyFileBytes + 1, '\0');
  file.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(file.gcount()));
  if (content.size() > kMaxKeyFileBytes) {
    result.error = "the API key file " + path + " is larger than 4096 bytes";
    return result;
  }
  if (trim(content).empty()) {
    result.error = "the API key file " + path + " is empty";
    return result;
  }
  return key_result(content, path);
}

}  // namespace

ApiKey::ApiKey(std::string_view value) : value_(trim(value)) {}

std::string ApiKey::scrub(std::string_view text) const {
  std::string out(text);
  if (value_.empty()) return out;
  for (auto at = out.find(value_); at != std::string::npos; at = out.find(value_, at)) {
    out.replace(at, value_.size(), kRedacted);
    at += kRedacted.size();
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

std::string dashscope_base_url(std::string_view explicit_url) {
  std::string_view url = explicit_url;
  if (url.empty()) url = trim(environment_value("DASHSCOPE_HTTP_BASE_URL"));
  if (url.empty()) url = kDefaultDashScopeBaseUrl;
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

}  // namespace facegate
