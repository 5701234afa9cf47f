// The libcurl options of a POST to the detector, shared by the detector client and the
// gateway's forwarder (lib/serve/forwarder.cc).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <string>

#include "facegate/fetch.hpp"

namespace facegate::detail {

/// What one POST to the detector carries beyond the fetcher's settings.
struct DetectPost {
  const std::string* url = nullptr;           ///< outlives the transfer
  curl_slist* headers = nullptr;              ///< every header line, Expect: included
  const std::string* body = nullptr;          ///< outlives the transfer (not copied)
  std::chrono::milliseconds timeout{60000};   ///< whole-request deadline
  curl_write_callback write = nullptr;        ///< receives the answer's body
  void* write_data = nullptr;                 ///< its user pointer
  char* error_text = nullptr;                 ///< CURL_ERROR_SIZE bytes
  curl_prereq_callback before_request = nullptr;  ///< PREREQFUNCTION: the request is written
  void* before_request_data = nullptr;        ///< its user pointer
};

/// The fetcher's settings (TLS verification, CA file, connect timeout, no proxy unless asked:
/// `transfer`), then what differs for the detector: no redirects, no low-speed limit (the
/// service may think for a while before it answers), the overall timeout, the POST itself.
/// Returns why the handle could not be set up, or "".
std::string set_detect_post_options(CURL* easy, const FetchOptions& transfer, const DetectPost& post);

}  // namespace facegate::detail
