#include "serve/metrics.hpp"

#include <array>

namespace facegate::detail {
namespace {

struct FamilyHelp {
  std::string_view name;
  std::string_view type;
  std::string_view help;
};

// Every family, in the order of the exposition.
constexpr std::array<FamilyHelp, 10> kFamilies{{
    {"facegate_requests_total", "counter", "Detect requests answered, by model and decision."},
    {"facegate_local_rejects_total", "counter",
     "Requests answered locally with a vendor 400, by model and code: nothing sent, nothing billed."},
    {"facegate_forwarded_total", "counter", "Requests forwarded upstream, by model."},
    {"facegate_cache_hits_total", "counter",
     "Requests answered from the ledger with an earlier upstream answer, by model: nothing sent."},
    {"facegate_upstream_responses_total", "counter", "Upstream answers, by model and HTTP status."},
    {"facegate_queue_depth", "gauge", "Requests waiting for a rate slot, by model."},
    {"facegate_billed_total", "counter", "Upstream requests billed (usage.image_count), by model."},
    {"facegate_possibly_billed_total", "counter",
     "Upstream requests whose billing is unknown (lost after sending, unreadable answer), by model."},
    {"facegate_cost_micros_total", "counter", "Billed x published price, in millionths, by currency."},
    {"facegate_money_saved_up_to_micros_total", "counter",
     "(Local rejects + cache hits) x published price, in millionths, by currency: an upper bound "
     "(docs/service.md#billing)."},
}};

void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
}

}  // namespace

void GatewayMetrics::add(std::string_view family, Labels labels, std::uint64_t amount) {
  std::lock_guard lock(mutex_);
  auto found = families_.find(family);
  if (found == families_.end()) found = families_.emplace(std::string(family), Family{}).first;
  found->second[std::move(labels)] += amount;
}

void GatewayMetrics::add_price(std::string_view family, const ModelRules& model,
                               std::uint64_t count) {
  if (!model.price || count == 0) return;
  for (const Money& money : model.price->per_image) {
    add(family, {{"currency", money.currency}},
        count * static_cast<std::uint64_t>(money.amount_micros));
  }
}

void GatewayMetrics::count_request(std::string_view model, std::string_view decision) {
  add("facegate_requests_total", {{"model", std::string(model)}, {"decision", std::string(decision)}},
      1);
}

void GatewayMetrics::count_local_reject(const ModelRules& model, std::string_view vendor_code) {
  add("facegate_local_rejects_total", {{"model", model.name}, {"code", std::string(vendor_code)}}, 1);
  add_price("facegate_money_saved_up_to_micros_total", model, 1);
}

void GatewayMetrics::count_cache_hit(const ModelRules& model) {
  add("facegate_cache_hits_total", {{"model", model.name}}, 1);
  add_price("facegate_money_saved_up_to_micros_total", model, 1);
}

void GatewayMetrics::count_forwarded(std::string_view model) {
  add("facegate_forwarded_total", {{"model", std::string(model)}}, 1);
}

void GatewayMetrics::count_upstream(const ModelRules& model, int status, std::uint32_t billed,
                                    bool possibly_billed) {
  add("facegate_upstream_responses_total",
      {{"model", model.name}, {"status", status == 0 ? "none" : std::to_string(status)}}, 1);
  add("facegate_billed_total", {{"model", model.name}}, billed);
  add("facegate_possibly_billed_total", {{"model", model.name}}, possibly_billed ? 1 : 0);
  add_price("facegate_cost_micros_total", model, billed);
}

void GatewayMetrics::set_queue_depth(std::string_view model, std::size_t depth) {
  std::lock_guard lock(mutex_);
  auto found = families_.find("facegate_queue_depth");
  if (found == families_.end()) {
    found = families_.emplace("facegate_queue_depth", Family{}).first;
  }
  found->second[{{"model", std::string(model)}}] = depth;
}

std::string GatewayMetrics::text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const FamilyHelp& family : kFamilies) {
    out += "# HELP " + std::string(family.name) + " " + std::string(family.help) + "\n";
    out += "# TYPE " + std::string(family.name) + " " + std::string(family.type) + "\n";
    const auto found = families_.find(family.name);
    if (found == families_.end()) continue;
    for (const auto& [labels, value] : found->second) {
      out += family.name;
      out += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out += ',';
        out += labels[i].first + "=\"";
        append_escaped(out, labels[i].second);
        out += '"';
      }
      out += "} " + std::to_string(value) + "\n";
    }
  }
  return out;
}

}  // namespace facegate::detail
