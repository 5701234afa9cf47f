// The libcurl options of a request to the service, shared by the detector client, the upload
// client (lib/upload/uploader.cc) and the gateway's forwarder (lib/serve/forwarder.cc).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <span>
#include <string>

#include "facegate/detect.hpp"
#include "facegate/fetch.hpp"

namespace facegate::detail {

/// One request's libcurl handle, its header list, its multipart form and its error text,
/// freed together.
struct RequestHandle {
  CURL* easy = nullptr;                   ///< null until open_service_request
  curl_slist* headers = nullptr;          ///< the request's header lines
  curl_mime* form = nullptr;              ///< a multipart body, when the request has one
  char error_text[CURL_ERROR_SIZE] = {};  ///< libcurl's CURLOPT_ERRORBUFFER
  RequestHandle() = default;
  RequestHandle(const RequestHandle&) = delete;
  RequestHandle& operator=(const RequestHandle&) = delete;
  ~RequestHandle();
};

/// What one request to the service carries beyond the fetcher's settings: a POST of `body`,
/// a POST of the handle's multipart `form` (set before the call), or else a GET.
struct ServiceRequest {
  const std::string* url = nullptr;           ///< outlives the transfer
  std::span<const std::string> header_lines;  ///< "Name: value" lines (only read here)
  const std::string* body = nullptr;          ///< outlives the transfer (not copied); null: no body
  std::chrono::milliseconds timeout{60000};   ///< whole-request deadline
  curl_write_callback write = nullptr;        ///< receives the answer's body
  void* write_data = nullptr;                 ///< its user pointer
  curl_prereq_callback before_request = nullptr;  ///< PREREQFUNCTION: the request is written
  void* before_request_data = nullptr;        ///< its user pointer
};

/// Makes `handle`'s easy handle and header list (request.header_lines, then "Expect:": no
/// 100-continue round trip) and sets the fetcher's settings (TLS verification, CA file, connect
/// timeout, no proxy unless asked: `transfer`), then what differs for the service: no
/// redirects, no low-speed limit (the service may think for a while before it answers), the
/// overall timeout, the method and body. Returns why the handle could not be set up, or "".
std::string open_service_request(RequestHandle& handle, const FetchOptions& transfer,
                                 const ServiceRequest& request);

/// The fetcher's settings a request to the service takes from DetectOptions: connect timeout,
/// proxy, CA file and User-Agent.
FetchOptions service_transfer_options(const DetectOptions& options);

/// The Authorization header as dry runs show it: "Bearer sk-***", or a note that no key is set.
std::string redacted_authorization(bool has_api_key);

}  // namespace facegate::detail
