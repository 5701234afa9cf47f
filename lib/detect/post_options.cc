#include "detect/post_options.hpp"

#include "net/safe_transfer.hpp"

namespace facegate::detail {

PostHandle::~PostHandle() {
  if (easy != nullptr) curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
}

std::string open_detect_post(PostHandle& handle, const FetchOptions& transfer,
                             const DetectPost& post) {
  handle.easy = curl_easy_init();
  if (handle.easy == nullptr) return "libcurl could not be set up";
  for (const std::string& line : post.header_lines) {
    handle.headers = curl_slist_append(handle.headers, line.c_str());
  }
  handle.headers = curl_slist_append(handle.headers, "Expect:");
  CURL* easy = handle.easy;
  CURLcode code = set_safe_transfer_options(easy, transfer, 0);
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_URL, post.url->c_str());
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_LOW_SPEED_LIMIT, 0L);
  set(CURLOPT_HTTPHEADER, handle.headers);
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post.body->size()));
  set(CURLOPT_POSTFIELDS, post.body->data());
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(post.timeout.count()));
  set(CURLOPT_WRITEFUNCTION, post.write);
  set(CURLOPT_WRITEDATA, post.write_data);
  set(CURLOPT_ERRORBUFFER, handle.error_text);
  set(CURLOPT_PREREQFUNCTION, post.before_request);
  set(CURLOPT_PREREQDATA, post.before_request_data);
  if (code == CURLE_OK) return {};
  return std::string("libcurl could not be set up: ") + curl_easy_strerror(code);
}

}  // namespace facegate::detail
