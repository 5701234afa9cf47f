// getPolicy: the request and its answer (docs/service.md#temporary-upload).
#include "upload/policy.hpp"

#include <openssl/evp.h>
#include <simdjson.h>

#include <algorithm>

namespace facegate::detail {
namespace {

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (is_unreserved(c)) {
      out += c;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
  }
  return out;
}

// The service's error shape {"code","message"}, as far as it is there.
std::string error_text(int status, simdjson::dom::element document) {
  std::string text = "HTTP " + std::to_string(status);
  std::string_view field;
  if (document["code"].get_string().get(field) == simdjson::SUCCESS) text.append(" ").append(field);
  if (document["message"].get_string().get(field) == simdjson::SUCCESS)
    text.append(": ").append(field);
  return text;
}

bool transient_status(int status) { return status == 429 || status >= 500; }

// Reads data.<name> as a non-empty string into `out`; false when it is not one.
bool read_text(simdjson::dom::element data, std::string_view name, std::string& out) {
  std::string_view value;
  if (data[name].get_string().get(value) != simdjson::SUCCESS || value.empty()) return false;
  out = value;
  return true;
}

// A number that the service may send as an integer or a decimal.
std::optional<double> read_number(simdjson::dom::element data, std::string_view name) {
  double value = 0;
  if (data[name].get_double().get(value) == simdjson::SUCCESS) return value;
  std::int64_t integer = 0;
  if (data[name].get_int64().get(integer) == simdjson::SUCCESS) return static_cast<double>(integer);
  return std::nullopt;
}

PolicyAnswer failure(std::string why, bool transient) {
  PolicyAnswer answer;
  answer.error = std::move(why);
  answer.transient = transient;
  return answer;
}

}  // namespace

PolicyAnswer parse_policy_answer(int status, std::string_view body,
                                 std::chrono::steady_clock::time_point fetched_at) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::dom::element document;
  if (parser.parse(padded).get(document) != simdjson::SUCCESS) {
    return failure("HTTP " + std::to_string(status) + ", an answer that is not JSON",
                   transient_status(status) || status == 200);
  }
  if (status != 200) return failure(error_text(status, document), transient_status(status));
  simdjson::dom::element data;
  if (document["data"].get(data) != simdjson::SUCCESS || !data.is_object()) {
    return failure("HTTP 200 without a data object", false);
  }
  UploadPolicy policy;
  const std::pair<std::string_view, std::string*> fields[] = {
      {"policy", &policy.policy},
      {"signature", &policy.signature},
      {"oss_access_key_id", &policy.access_key_id},
      {"upload_dir", &policy.upload_dir},
      {"upload_host", &policy.upload_host},
      {"x_oss_object_acl", &policy.object_acl},
      {"x_oss_forbid_overwrite", &policy.forbid_overwrite},
  };
  for (const auto& [name, out] : fields) {
    if (!read_text(data, name, *out)) {
      return failure("the policy lacks data." + std::string(name), false);
    }
  }
  if (!policy.upload_host.starts_with("https://") && !policy.upload_host.starts_with("http://")) {
    return failure("the policy's upload_host is not an http(s) URL", false);
  }
  const std::optional<double> lifetime = read_number(data, "expire_in_seconds");
  if (!lifetime || *lifetime <= 0) return failure("the policy lacks data.expire_in_seconds", false);
  policy.expires =
      fetched_at + std::chrono::milliseconds(static_cast<std::int64_t>(*lifetime * 1000));
  if (const std::optional<double> megabytes = read_number(data, "max_file_size_mb");
      megabytes && *megabytes > 0) {
    policy.max_file_bytes = static_cast<std::uint64_t>(*megabytes * 1024 * 1024);
  }
  PolicyAnswer answer;
  answer.policy = std::move(policy);
  return answer;
}

std::string policy_url(std::string_view base_url, std::string_view model) {
  return std::string(base_url) + "/uploads?action=getPolicy&model=" + percent_encode(model);
}

std::string upload_object_name(std::string_view path, std::string_view sha256_hex) {
  constexpr std::size_t kLongestName = 100;
  const std::size_t slash = path.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  base = base.substr(0, kLongestName);
  std::string name(sha256_hex.substr(0, 16));
  name += '-';
  for (const char c : base) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    name += plain ? c : '_';
  }
  return name;
}

std::string lower_hex(const unsigned char* bytes, std::size_t length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < length; ++i) {
    text += kDigits[bytes[i] >> 4];
    text += kDigits[bytes[i] & 0xF];
  }
  return text;
}

std::string upload_scope(const ApiKey& key, std::string_view base_url) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  std::string account;
  if (EVP_Digest(key.reveal().data(), key.reveal().size(), digest, &length, EVP_sha256(),
                 nullptr) == 1) {
    account = lower_hex(digest, std::min(length, 8u));
  }
  return "account:" + account + " base:" + std::string(base_url);
}

}  // namespace facegate::detail
