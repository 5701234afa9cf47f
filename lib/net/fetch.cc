// The public side of include/facegate/fetch.hpp.
#include "facegate/fetch.hpp"

#include "net/header_fetch.hpp"
#include "net/loop.hpp"
#include "net/url_check.hpp"

namespace facegate {

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

ProbeResult probe_url(std::string_view url, const FetchOptions& options) {
  NetworkLoop loop;
  ProbeResult result;
  probe_url_async(loop, std::string(url), options,
                  [&result](ProbeResult done) { result = std::move(done); });
  loop.run();
  return result;
}

std::vector<ProbeResult> probe_urls(std::span<const std::string> urls,
                                    const FetchOptions& options,
                                    const NetworkLoopOptions& loop_options) {
  NetworkLoop loop(loop_options);
  std::vector<ProbeResult> results(urls.size());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    probe_url_async(loop, urls[i], options,
                    [&results, i](ProbeResult done) { results[i] = std::move(done); });
  }
  loop.run();
  return results;
}

ErrorCode check_public_url(std::string_view url) {
  return detail::check_url(url, detail::AddressPolicy{}).code;
}

bool url_is_public(std::string_view url) { return check_public_url(url) == ErrorCode::none; }

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
