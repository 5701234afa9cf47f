#include "net/url_check.hpp"

#include <curl/curl.h>

#include <memory>
#include <string>

namespace facegate::detail {
namespace {

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString url_part(CURLU* url, CURLUPart part) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, 0) != CURLUE_OK) return nullptr;
  return CurlString(text);
}

std::string lower_case(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// RFC 6761 6.3: "localhost" and names below it resolve to loopback. A trailing dot is the
// same name.
bool is_localhost_name(std::string_view host) {
  std::string name = lower_case(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  constexpr std::string_view kLocalhost = "localhost";
  constexpr std::string_view kBelowLocalhost = ".localhost";
  return name == kLocalhost ||
         (name.size() > kBelowLocalhost.size() &&
          name.compare(name.size() - kBelowLocalhost.size(), kBelowLocalhost.size(),
                       kBelowLocalhost) == 0);
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 2.2 and 2.3: reserved and unreserved characters, which may appear as they are.
bool is_url_character(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  constexpr std::string_view kOthers = "-._~:/?#[]@!$&'()*+,;=";
  return kOthers.find(c) != std::string_view::npos;
}

// Where the path starts: after "scheme://authority", or 0 for text without "://".
std::size_t path_start(std::string_view url) {
  const std::size_t separator = url.find("://");
  if (separator == std::string_view::npos) return 0;
  const std::size_t end = url.find_first_of("/?#", separator + 3);
  return end == std::string_view::npos ? url.size() : end;
}

}  // namespace

std::string resolve_location(const std::string& base, std::string_view location) {
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  const std::string reference = normalize_url(location);
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(parsed.get(), CURLUPART_URL, reference.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
          CURLUE_OK) {
    return {};
  }
  const CurlString resolved = url_part(parsed.get(), CURLUPART_URL);
  return resolved ? std::string(resolved.get()) : std::string();
}

Error check_url(std::string_view url, const AddressPolicy& policy) {
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  if (!parsed) return {ErrorCode::internal, "out of memory parsing a URL"};
  const std::string text = normalize_url(url);
  // CURLU_NON_SUPPORT_SCHEME: any scheme parses, so that "ftp://" says scheme, not bad_url.
  const CURLUcode set = curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(),
                                     CURLU_NON_SUPPORT_SCHEME);
  if (set != CURLUE_OK) {
    return {ErrorCode::bad_url, std::string("not a URL: ") + curl_url_strerror(set)};
  }
  const CurlString scheme = url_part(parsed.get(), CURLUPART_SCHEME);
  const std::string scheme_name = scheme ? lower_case(scheme.get()) : "";
  if (scheme_name != "http" && scheme_name != "https") {
    return {ErrorCode::scheme, "scheme '" + scheme_name + "' is not http or https"};
  }
  const CurlString host = url_part(parsed.get(), CURLUPART_HOST);
  if (!host) return {ErrorCode::bad_url, "URL has no host"};
  const std::string_view host_name = host.get();
  std::optional<AddressScope> scope = literal_address_scope(host_name);
  if (!scope && is_localhost_name(host_name)) scope = AddressScope::loopback;
  if (scope && !policy.allows(*scope)) {
    return {ErrorCode::private_address, "host " + std::string(host_name) + " is a " +
                                             std::string(address_scope_name(*scope)) +
                                             " address"};
  }
  return {};
}

}  // namespace facegate::detail

namespace facegate {

std::string normalize_url(std::string_view url) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  const std::size_t start = detail::path_start(url);
  std::string out(url.substr(0, start));
  for (std::size_t i = start; i < url.size(); ++i) {
    const char c = url[i];
    const bool escape = c == '%' && i + 2 < url.size() && detail::is_hex_digit(url[i + 1]) &&
                        detail::is_hex_digit(url[i + 2]);
    if (detail::is_url_character(c) || escape) {
      out += c;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[byte >> 4];
    out += kHex[byte & 0x0f];
  }
  return out;
}

}  // namespace facegate
