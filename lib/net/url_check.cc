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

}  // namespace

Error check_url(std::string_view url, const AddressPolicy& policy) {
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  if (!parsed) return {ErrorCode::internal, "out of memory parsing a URL"};
  const std::string text(url);
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
