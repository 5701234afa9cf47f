// One URL's header fetch: the range/stream state machine that drives a Probe over HTTP; and
// the download of a whole body through the same machine.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "facegate/fetch.hpp"
#include "net/loop.hpp"
#include "net/range_plan.hpp"

namespace facegate::detail {

/// Starts probing `url` on `loop` with the given range policy; `on_done` runs exactly once,
/// from the loop. probe_url_async is this with kDefaultRangePolicy.
void start_header_fetch(TransferLoop& loop, std::string url, const FetchOptions& options,
                        const RangePolicy& policy, FetchCallback on_done);

/// Called once with a whole-body download's facts (ProbeResult::network, file_size, error;
/// no image info) and its body (empty on error).
using BodyCallback = std::function<void(ProbeResult facts, std::vector<std::byte> body)>;

/// Downloads the whole body of `url` (no Range) with the header fetch's safety: the address
/// checks, redirects followed by the fetch, the deadline, and options.byte_cap on everything
/// received; a body that would pass the cap ends in ErrorCode::byte_cap. For the deep check.
void start_body_fetch(TransferLoop& loop, std::string url, const FetchOptions& options,
                      BodyCallback on_done);

}  // namespace facegate::detail
