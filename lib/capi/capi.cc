// The C API's errors, probes and rules (include/facegate/facegate.h), over probe.hpp,
// fetch.hpp and rules.hpp.
#include "capi/capi.hpp"

#include <cstdlib>
#include <mutex>
#include <set>
#include <span>
#include <string>

#include "facegate/fetch.hpp"
#include "facegate/rules.hpp"

namespace facegate::detail {
namespace {

thread_local std::string last_error_message;

// The C numbers are ErrorCode's, one to one: a code added there must be added here.
static_assert(FACEGATE_ERR_INTERNAL == static_cast<int>(ErrorCode::internal));
static_assert(FACEGATE_ERR_TRUNCATED == static_cast<int>(ErrorCode::truncated));
static_assert(FACEGATE_ERR_BYTE_CAP == static_cast<int>(ErrorCode::byte_cap));
static_assert(FACEGATE_ERR_INVALID_CALL == static_cast<int>(ErrorCode::invalid_call));
static_assert(FACEGATE_FORMAT_SVG == static_cast<int>(Format::svg));
static_assert(FACEGATE_FORMAT_WEBP == static_cast<int>(Format::webp));

// Copies `text` into `buffer` (cut to fit, always NUL-terminated).
template <std::size_t N>
void copy_cut(char (&buffer)[N], std::string_view text) noexcept {
  const std::size_t length = std::min(text.size(), N - 1);
  std::memcpy(buffer, text.data(), length);
  buffer[length] = '\0';
}

void fill_result(const ProbeResult& result, facegate_probe_result& out) {
  out = facegate_probe_result{};
  out.info = capi_image_info(result.info);
  out.error = static_cast<int>(result.error.code);
  copy_cut(out.error_message, result.error.message);
  out.has_file_size = result.file_size.has_value();
  out.file_size = result.file_size.value_or(0);
  out.bytes_read = result.bytes_read;
  if (result.network) {
    out.http_status = result.network->http_status;
    out.bytes_transferred = result.network->bytes_transferred;
    out.requests = result.network->requests;
  }
}

int finish_probe(const ProbeResult& result, facegate_probe_result& out) {
  fill_result(result, out);
  return out.error == FACEGATE_OK ? capi_ok() : capi_fail(out.error, result.error.message);
}

FetchOptions fetch_options(const facegate_url_options* given) {
  FetchOptions options;
  if (given == nullptr) return options;
  options.allow_loopback = given->allow_loopback != 0;
  options.allow_private_network = given->allow_private_network != 0;
  if (given->connect_timeout_ms != 0) {
    options.connect_timeout = std::chrono::milliseconds(given->connect_timeout_ms);
  }
  if (given->deadline_ms != 0) options.deadline = std::chrono::milliseconds(given->deadline_ms);
  if (given->byte_cap != 0) options.byte_cap = given->byte_cap;
  if (given->ca_file != nullptr) options.ca_file = given->ca_file;
  return options;
}

}  // namespace

int capi_fail(int code, std::string_view message, std::string_view more) noexcept {
  try {
    last_error_message.assign(message);
    last_error_message.append(more);
  } catch (...) {
    last_error_message.clear();  // out of memory: the code alone must do
  }
  return code;
}

int capi_ok() noexcept {
  last_error_message.clear();
  return FACEGATE_OK;
}

const char* capi_static_text(std::string_view text) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> interned;  // nodes never move: c_str() stays valid
  std::lock_guard lock(mutex);
  auto found = interned.find(text);
  if (found == interned.end()) found = interned.emplace(text).first;
  return found->c_str();
}

facegate_image_info capi_image_info(const ImageInfo& info) {
  facegate_image_info out{};
  out.format = static_cast<int>(info.format);
  out.format_name = capi_static_text(format_name(info.format));
  out.width = info.width;
  out.height = info.height;
  out.orientation = info.orientation;
  out.animated = info.animated;
  out.subtype = capi_static_text(info.subtype);
  out.leniency = capi_static_text(info.leniency);
  return out;
}

char* capi_copy(std::string_view text) noexcept {
  auto* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (copy == nullptr) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

}  // namespace facegate::detail

using namespace facegate;
using namespace facegate::detail;

extern "C" {

const char* facegate_strerror(int code) {
  if (code < 0 || code > FACEGATE_ERR_INTERNAL) return "unknown";
  if (code == FACEGATE_OK) return "none";
  // error_code_name's names are string literals: NUL-terminated.
  return error_code_name(static_cast<ErrorCode>(code)).data();
}

const char* facegate_last_error_message(void) { return last_error_message.c_str(); }

void facegate_free(void* pointer) { std::free(pointer); }

int facegate_probe_file(const char* path, facegate_probe_result* out) {
  if (out == nullptr) return capi_null_argument("out");
  if (path == nullptr) return capi_null_argument("path");
  return capi_guard([&] { return finish_probe(probe_file(path), *out); });
}

int facegate_probe_memory(const void* bytes, size_t size, facegate_probe_result* out) {
  if (out == nullptr) return capi_null_argument("out");
  if (bytes == nullptr && size != 0) return capi_null_argument("bytes");
  return capi_guard([&] {
    const std::span<const std::byte> view(static_cast<const std::byte*>(bytes), size);
    return finish_probe(probe_memory(view), *out);
  });
}

int facegate_probe_url(const char* url, const facegate_url_options* options,
                       facegate_probe_result* out) {
  if (out == nullptr) return capi_null_argument("out");
  if (url == nullptr) return capi_null_argument("url");
  return capi_guard([&] { return finish_probe(probe_url(url, fetch_options(options)), *out); });
}

size_t facegate_model_count(void) { return builtin_rules().rules.models.size(); }

const char* facegate_model_name(size_t index) {
  const auto& models = builtin_rules().rules.models;
  return index < models.size() ? models[index].name.c_str() : nullptr;
}

char* facegate_rules_json(void) {
  char* json = nullptr;
  capi_guard([&] {
    json = capi_copy(rules_to_json(builtin_rules().rules));
    return FACEGATE_OK;
  });
  return json;
}

}  // extern "C"
