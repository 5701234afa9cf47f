#include "check/summary.hpp"

#include <algorithm>
#include <cstdio>

namespace facegate::detail {
namespace {

void add_price(std::vector<Money>& sums, const ModelRules& model, std::uint64_t count) {
  if (!model.price || count == 0) return;
  for (const Money& unit : model.price->per_image) {
    add_money(sums, Money{unit.currency, unit.amount_micros * static_cast<std::int64_t>(count)});
  }
}

// "USD 0.002296" for the first currency (USD when present), "price not published" for none.
std::string money_text(const std::vector<Money>& sums) {
  if (sums.empty()) return "price not published";
  auto usd = std::find_if(sums.begin(), sums.end(), [](const Money& m) { return m.currency == "USD"; });
  return format_money(usd != sums.end() ? *usd : sums.front());
}

std::string seconds_text(std::chrono::milliseconds time) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(time.count()) / 1000.0);
  return text;
}

}  // namespace

void add_money(std::vector<Money>& sums, const Money& amount) {
  for (Money& sum : sums) {
    if (sum.currency == amount.currency) {
      sum.amount_micros += amount.amount_micros;
      return;
    }
  }
  sums.push_back(amount);
}

void SummaryTally::add(const CheckRecord& record, const RuleSet& rules) {
  CheckSummary& t = totals_;
  ++t.records;
  if (!record.checked()) {
    ++t.cancelled;
    return;
  }
  t.bytes_read += record.probe.bytes_read;
  if (record.probe.network) t.bytes_transferred += record.probe.network->bytes_transferred;
  if (record.not_an_image) {
    ++t.not_images;
    return;
  }
  if (record.deep) {
    ++t.deep_checked;
    t.deep_corrupt += record.deep->outcome == DeepOutcome::corrupt ? 1 : 0;
  }
  if (!record.verdict) {  // probe-only
    ++(record.probe.ok() ? t.pass : t.error);
    return;
  }
  const ModelRules* model = rules.find(record.model);
  switch (record.verdict->decision) {
    case Decision::pass: ++t.pass; break;
    case Decision::unknown: ++t.unknown; break;
    case Decision::error: ++t.error; break;
    case Decision::reject:
      ++t.reject;
      ++t.calls_avoided;
      if (model != nullptr) {
        rate_time_avoided_ += std::chrono::microseconds(1'000'000 / model->rate.requests_per_second);
        add_price(t.money_saved_up_to, *model, 1);
        if (!model->price) ++t.calls_avoided_unpriced;
      }
      break;
  }
  if (record.upload) add_upload(*record.upload);
  if (!record.remote) return;
  const DetectResult& remote = *record.remote;
  if (remote.cached) {
    ++t.reused;
    return;
  }
  if (remote.outcome == DetectOutcome::budget_exhausted) ++t.budget_exhausted;
  if (remote.outcome == DetectOutcome::not_sent || remote.outcome == DetectOutcome::budget_exhausted) return;
  t.remote_calls += remote.attempts;
  t.remote_passed += remote.passed ? 1 : 0;
  t.billed += remote.billed;
  t.possibly_billed += remote.billing_uncertain() ? 1 : 0;
  if (model != nullptr) add_price(t.cost, *model, remote.billed);
}

void SummaryTally::add_upload(const UploadFacts& upload) {
  CheckSummary& t = totals_;
  t.upload_bytes += upload.bytes;
  switch (upload.outcome) {
    case UploadOutcome::uploaded: ++t.uploads; break;
    case UploadOutcome::reused: ++t.uploads_reused; break;
    case UploadOutcome::failed: ++t.upload_failures; break;
  }
}

CheckSummary SummaryTally::summary(bool online) const {
  CheckSummary result = totals_;
  result.rate_time_avoided = std::chrono::duration_cast<std::chrono::milliseconds>(rate_time_avoided_);
  result.online = online;
  return result;
}

}  // namespace facegate::detail

namespace facegate {

std::string summary_text(const CheckSummary& s, bool probe_only) {
  std::string text;
  const std::uint64_t checked = s.records - s.cancelled - s.not_images;
  if (!probe_only) {
    text += "checked " + std::to_string(checked) + ": " + std::to_string(s.pass) + " pass, " +
            std::to_string(s.reject) + " reject, " + std::to_string(s.unknown) + " unknown, " +
            std::to_string(s.error) + " error\n";
    text += "remote calls avoided: " + std::to_string(s.calls_avoided);
    if (s.calls_avoided > 0) {
      text += " (" + detail::seconds_text(s.rate_time_avoided) + " at the models' rates), money saved: ";
      text += s.money_saved_up_to.empty() ? "price not published"
                                          : "up to " + detail::money_text(s.money_saved_up_to);
      if (!s.money_saved_up_to.empty() && s.calls_avoided_unpriced > 0) {
        text += " (and " + std::to_string(s.calls_avoided_unpriced) + " calls without a published price)";
      }
    }
    text += '\n';
    if (s.online) {
      text += "remote calls: " + std::to_string(s.remote_calls) + ", passed: " +
              std::to_string(s.remote_passed) + ", billed: " + std::to_string(s.billed) +
              ", cost: " + (s.billed == 0 ? std::string("0") : detail::money_text(s.cost)) +
              ", possibly billed: " + std::to_string(s.possibly_billed) +
              ", reused from the ledger: " + std::to_string(s.reused) + '\n';
      if (s.uploads + s.uploads_reused + s.upload_failures > 0) {
        text += "uploads: " + std::to_string(s.uploads) + " (" + std::to_string(s.upload_bytes) +
                " bytes), reused from the ledger: " + std::to_string(s.uploads_reused) +
                ", failed: " + std::to_string(s.upload_failures) + '\n';
      }
      if (s.budget_exhausted > 0) {
        text += "budget reached: " + std::to_string(s.budget_exhausted) +
                " passing images were not sent (--budget, --max-calls)\n";
      }
    }
  }
  if (s.deep_checked > 0) {
    text += "deep check: " + std::to_string(s.deep_checked) + " images, " +
            std::to_string(s.deep_corrupt) + " corrupt (image.corrupt)\n";
  }
  if (s.not_images > 0) {
    text += "not images: " + std::to_string(s.not_images) + " skipped (--only-images)\n";
  }
  if (s.cancelled > 0) {
    text += "interrupted: " + std::to_string(s.cancelled) + " inputs not checked\n";
  }
  return text;
}

}  // namespace facegate
