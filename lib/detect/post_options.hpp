// The libcurl options of a POST to the detector, shared by the detector client and the
// gateway's forwarder (lib/serve/forwarder.cc).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <span>
#include <string>

#include "facegate/fetch.hpp"

namespace facegate::detail {

/// One POST's libcurl handle, its header list and its error text, freed together.
struct PostHandle {
  CURL* easy = nullptr;                   ///< null until open_detect_post
  curl_slist* headers = nullptr;          ///< the request's header lines
  char error_text[CURL_ERROR_SIZE] = {};  ///< libcurl's CURLOPT_ERRORBUFFER
  PostHandle() = default;
  PostHandle(const PostHandle&) = delete;
  PostHandle& operator=(const PostHandle&) = delete;
  ~PostHandle();
};

/// What one POST to the detector carries beyond the fetcher's settings.
struct DetectPost {
  const std::string* url = nullptr;           ///< outlives the transfer
  std::span<const std::string> header_lines;  ///< "Name: value" lines (only read here)
  const std::string* body = nullptr;          ///< outlives the transfer (not copied)
  std::chrono::milliseconds timeout{60000};   ///< whole-request deadline
  curl_write_callback write = nullptr;        ///< receives the answer's body
  void* write_data = nullptr;                 ///< its user pointer
  curl_prereq_callback before_request = nullptr;  ///< PREREQFUNCTION: the request is written
  void* before_request_data = nullptr;        ///< its user pointer
};

/// Makes `handle`'s easy handle and header list (post.header_lines, then "Expect:": no
/// 100-continue round trip) and sets the fetcher's settings (TLS verification, CA file, connect
/// timeout, no proxy unless asked: `transfer`), then what differs for the detector: no
/// redirects, no low-speed limit (the service may think for a while before it answers), the
/// overall timeout, the POST itself. Returns why the handle could not be set up, or "".
std::string open_detect_post(PostHandle& handle, const FetchOptions& transfer,
                             const DetectPost& post);

}  // namespace facegate::detail
