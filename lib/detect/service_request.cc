#include "detect/service_request.hpp"

#include "net/safe_transfer.hpp"

namespace facegate::detail {

RequestHandle::~RequestHandle() {
  if (easy != nullptr) curl_easy_cleanup(easy);
  curl_mime_free(form);
  curl_slist_free_all(headers);
}

FetchOptions service_transfer_options(const DetectOptions& options) {
  FetchOptions transfer;
  transfer.connect_timeout = options.connect_timeout;
  transfer.use_environment_proxy = options.use_environment_proxy;
  transfer.ca_file = options.ca_file;
  transfer.user_agent = options.user_agent;
  return transfer;
}

std::string open_service_request(RequestHandle& handle, const FetchOptions& transfer,
                                 const ServiceRequest& request) {
  if (handle.easy == nullptr) handle.easy = curl_easy_init();
  if (handle.easy == nullptr) return "libcurl could not be set up";
  for (const std::string& line : request.header_lines) {
    handle.headers = curl_slist_append(handle.headers, line.c_str());
  }
  handle.headers = curl_slist_append(handle.headers, "Expect:");
  CURL* easy = handle.easy;
  CURLcode code = set_safe_transfer_options(easy, transfer, 0);
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_URL, request.url->c_str());
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_LOW_SPEED_LIMIT, 0L);
  set(CURLOPT_HTTPHEADER, handle.headers);
  if (request.body != nullptr) {
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
    set(CURLOPT_POSTFIELDS, request.body->data());
  } else if (handle.form != nullptr) {
    set(CURLOPT_MIMEPOST, handle.form);
  }
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  set(CURLOPT_WRITEFUNCTION, request.write);
  set(CURLOPT_WRITEDATA, request.write_data);
  set(CURLOPT_ERRORBUFFER, handle.error_text);
  set(CURLOPT_PREREQFUNCTION, request.before_request);
  set(CURLOPT_PREREQDATA, request.before_request_data);
  if (code == CURLE_OK) return {};
  return std::string("libcurl could not be set up: ") + curl_easy_strerror(code);
}

}  // namespace facegate::detail
