// One URL's header fetch: the range/stream state machine that drives a Probe over HTTP.
#pragma once

#include <string>

#include "facegate/fetch.hpp"
#include "net/loop.hpp"
#include "net/range_plan.hpp"

namespace facegate::detail {

/// Starts probing `url` on `loop` with the given range policy; `on_done` runs exactly once,
/// from the loop. probe_url_async is this with kDefaultRangePolicy.
void start_header_fetch(TransferLoop& loop, std::string url, const FetchOptions& options,
                        const RangePolicy& policy, FetchCallback on_done);

}  // namespace facegate::detail
