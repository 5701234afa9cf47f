#include "detect/post_options.hpp"

#include "net/safe_transfer.hpp"

namespace facegate::detail {

std::string set_detect_post_options(CURL* easy, const FetchOptions& transfer,
                                    const DetectPost& post) {
  CURLcode code = set_safe_transfer_options(easy, transfer, 0);
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_URL, post.url->c_str());
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_LOW_SPEED_LIMIT, 0L);
  set(CURLOPT_HTTPHEADER, post.headers);
  set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post.body->size()));
  set(CURLOPT_POSTFIELDS, post.body->data());
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(post.timeout.count()));
  set(CURLOPT_WRITEFUNCTION, post.write);
  set(CURLOPT_WRITEDATA, post.write_data);
  set(CURLOPT_ERRORBUFFER, post.error_text);
  set(CURLOPT_PREREQFUNCTION, post.before_request);
  set(CURLOPT_PREREQDATA, post.before_request_data);
  if (code == CURLE_OK) return {};
  return std::string("libcurl could not be set up: ") + curl_easy_strerror(code);
}

}  // namespace facegate::detail
