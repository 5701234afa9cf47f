// The gateway's counters and their Prometheus text exposition (GET /metrics).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/rules.hpp"

namespace facegate::detail {

/// Counters and gauges keyed by their label set; safe from any thread.
class GatewayMetrics {
 public:
  /// One answered detect request of `model` ("" when the body named none) and how it was
  /// decided: pass, unknown, reject, error, bad_request, throttled, unauthorized, upstream_error.
  void count_request(std::string_view model, std::string_view decision);
  /// A local reject (decision reject or error) of `model` answered with `vendor_code`; its
  /// price (when published) is money saved, up to.
  void count_local_reject(const ModelRules& model, std::string_view vendor_code);
  /// A request answered from the ledger: nothing sent; its price (when published) is money
  /// saved.
  void count_cache_hit(const ModelRules& model);
  /// A request handed upstream.
  void count_forwarded(std::string_view model);
  /// An upstream answer with its status (0: none came); `billed` and `possibly_billed` as
  /// parsed from it; the cost is billed x the model's published price.
  void count_upstream(const ModelRules& model, int status, std::uint32_t billed,
                      bool possibly_billed);
  /// Requests of `model` waiting for a rate slot now.
  void set_queue_depth(std::string_view model, std::size_t depth);
  /// The Prometheus text format, version 0.0.4: one # HELP and # TYPE per family.
  std::string text() const;

 private:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  using Family = std::map<Labels, std::uint64_t>;
  void add(std::string_view family, Labels labels, std::uint64_t amount);
  void add_price(std::string_view family, const ModelRules& model, std::uint64_t count);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace facegate::detail
