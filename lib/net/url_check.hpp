// Judging a URL before any connection: scheme, and a host that is a literal address.
#pragma once

#include <string_view>

#include "facegate/fetch.hpp"
#include "net/address.hpp"

namespace facegate::detail {

/// The absolute URL a redirect's `location` (absolute or relative, RFC 3986 5.2) names from
/// `base`; "" when libcurl cannot resolve it.
std::string resolve_location(const std::string& base, std::string_view location);

/// none when normalize_url(url) parses, its scheme is http or https, and its host is not a literal address
/// (or "localhost", RFC 6761 6.3) outside `policy`; otherwise the failure with a message.
/// libcurl's URL parser normalizes IPv4 spellings first ("2130706433", "0x7f.1" -> 127.0.0.1).
Error check_url(std::string_view url, const AddressPolicy& policy);

}  // namespace facegate::detail
