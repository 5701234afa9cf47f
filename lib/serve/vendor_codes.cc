#include "serve/vendor_codes.hpp"

#include <array>
#include <cstdio>
#include <random>

#include "output/json_writer.hpp"
#include "facegate/gateway.hpp"

namespace facegate {

std::string vendor_error_body(std::string_view code, std::string_view message,
                              std::string_view request_id) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("code").string(code).key("message").string(message).key("request_id").string(request_id);
  json.end_object();
  return json.take();
}

}  // namespace facegate

namespace facegate::detail {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

const Finding* deciding_finding(const Verdict& verdict) noexcept {
  for (const Finding& finding : verdict.findings) {
    if (finding.severity == Severity::reject || finding.severity == Severity::error) return &finding;
  }
  return nullptr;
}

std::string_view vendor_code_for(std::string_view finding_code) noexcept {
  struct Prefix {
    std::string_view finding;
    std::string_view vendor;
  };
  // Most specific first: the first prefix that matches names the code.
  static constexpr std::array<Prefix, 9> kCodes{{
      {"size.", "InvalidFile.Resolution"},
      {"aspect.", "InvalidFile.AspectRatio"},
      {"file_size.", "InvalidFile.Size"},
      {"format.", "InvalidParameter.UnsupportedFileFormat"},
      {"param.", "InvalidParameter"},
      {"fetch.timeout", "InvalidURL.Timeout"},
      {"fetch.connect", "InvalidURL.ConnectionRefused"},
      {"fetch.", "InvalidURL"},
      {"url.", "InvalidURL"},
  }};
  for (const Prefix& prefix : kCodes) {
    if (starts_with(finding_code, prefix.finding)) return prefix.vendor;
  }
  return "InvalidFile.Format";  // probe.*: the image's own bytes are unusable
}

std::string new_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const std::uint64_t high = random();
  const std::uint64_t low = random();
  char text[37];
  std::snprintf(text, sizeof text, "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(high >> 32), static_cast<unsigned>((high >> 16) & 0xffff),
                static_cast<unsigned>(high & 0x0fff),
                static_cast<unsigned>(0x8000 | ((low >> 48) & 0x3fff)),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

}  // namespace facegate::detail
