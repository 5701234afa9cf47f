// The vendor's vocabulary for the gateway's own answers (docs/service.md#request-failures).
#pragma once

#include <string>
#include <string_view>

#include "facegate/rules.hpp"

namespace facegate::detail {

/// The first finding that decides a reject or error verdict (severity reject or error, in rule
/// order); nullptr when there is none.
const Finding* deciding_finding(const Verdict& verdict) noexcept;

/// The vendor's request-failure code that matches a finding
/// (docs/service.md#local-rejects-in-the-vendors-words): size.* InvalidFile.Resolution,
/// aspect.* InvalidFile.AspectRatio, file_size.* InvalidFile.Size, format.* InvalidParameter.UnsupportedFileFormat, param.*
/// InvalidParameter, url.* InvalidURL, fetch.timeout InvalidURL.Timeout, fetch.connect
/// InvalidURL.ConnectionRefused, other fetch.* InvalidURL, probe.* InvalidFile.Format.
std::string_view vendor_code_for(std::string_view finding_code) noexcept;

/// A fresh request id in the vendor's form (a random UUID, version 4).
std::string new_request_id();

}  // namespace facegate::detail
