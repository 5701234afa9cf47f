// The public side of include/facegate/fetch.hpp.
#include "facegate/fetch.hpp"

#include "net/header_fetch.hpp"
#include "net/loop.hpp"
#include "net/url_check.hpp"

namespace facegate {

std::string_view fetch_error_name(FetchError error) noexcept {
  switch (error) {
    case FetchError::none: return "none";
    case FetchError::bad_url: return "bad_url";
    case FetchError::scheme: return "scheme";
    case FetchError::private_address: return "private_address";
    case FetchError::dns: return "dns";
    case FetchError::connect: return "connect";
    case FetchError::tls: return "tls";
    case FetchError::timeout: return "timeout";
    case FetchError::network: return "network";
    case FetchError::too_many_redirects: return "too_many_redirects";
    case FetchError::http_status: return "http_status";
    case FetchError::bad_range: return "bad_range";
    case FetchError::protocol: return "protocol";
    case FetchError::byte_cap: return "byte_cap";
    case FetchError::truncated: return "truncated";
    case FetchError::malformed: return "malformed";
    case FetchError::unsupported_format: return "unsupported_format";
    case FetchError::internal: return "internal";
  }
  return "internal";
}

FetchError fetch_error_from_probe(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::none: return FetchError::none;
    case ErrorCode::truncated: return FetchError::truncated;
    case ErrorCode::malformed: return FetchError::malformed;
    case ErrorCode::unsupported_format: return FetchError::unsupported_format;
    case ErrorCode::invalid_call:
    case ErrorCode::io: return FetchError::internal;
  }
  return FetchError::internal;
}

NetworkLoop::NetworkLoop(NetworkLoopOptions options)
    : transfers_(std::make_unique<detail::TransferLoop>(options)) {}

NetworkLoop::~NetworkLoop() = default;

void NetworkLoop::run() { transfers_->run(); }

bool NetworkLoop::run_for(std::chrono::milliseconds max_wait) {
  return transfers_->run_for(max_wait);
}

void probe_url_async(NetworkLoop& loop, std::string url, const FetchOptions& options,
                     FetchCallback on_done) {
  detail::start_header_fetch(loop.transfers(), std::move(url), options,
                             detail::kDefaultRangePolicy, std::move(on_done));
}

FetchResult probe_url(std::string_view url, const FetchOptions& options) {
  NetworkLoop loop;
  FetchResult result;
  probe_url_async(loop, std::string(url), options,
                  [&result](FetchResult done) { result = std::move(done); });
  loop.run();
  return result;
}

std::vector<FetchResult> probe_urls(std::span<const std::string> urls,
                                    const FetchOptions& options,
                                    const NetworkLoopOptions& loop_options) {
  NetworkLoop loop(loop_options);
  std::vector<FetchResult> results(urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    probe_url_async(loop, urls[i], options,
                    [&results, i](FetchResult done) { results[i] = std::move(done); });
  }
  loop.run();
  return results;
}

FetchError check_public_url(std::string_view url) {
  return detail::check_url(url, detail::AddressPolicy{}).code;
}

bool url_is_public(std::string_view url) { return check_public_url(url) == FetchError::none; }

// RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" here.
bool looks_like_url(std::string_view input) noexcept {
  const std::size_t separator = input.find("://");
  if (separator == std::string_view::npos || separator == 0) return false;
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!is_alpha(input[0])) return false;
  for (char c : input.substr(1, separator - 1)) {
    if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

}  // namespace facegate
