// The running totals behind CheckSummary, kept by the Checker as records are delivered.
#pragma once

#include "facegate/check.hpp"

namespace facegate::detail {

/// Adds records up into a CheckSummary. Not thread-safe: the Checker holds a lock around it.
class SummaryTally {
 public:
  /// Counts one delivered record; `rules` gives its model's rate and price.
  void add(const CheckRecord& record, const RuleSet& rules);
  /// The totals so far.
  CheckSummary summary(bool online) const;

 private:
  void add_upload(const UploadFacts& upload);

  CheckSummary totals_;
  std::chrono::microseconds rate_time_avoided_{0};
};

/// Adds `amount` to the entry of its currency in `sums` (a new entry when there is none).
void add_money(std::vector<Money>& sums, const Money& amount);

}  // namespace facegate::detail
