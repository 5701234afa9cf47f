// Reading the ledger: spend per model and day, and every row as JSON.
#include <cstdio>
#include <algorithm>

#include "ledger/internal.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

using detail::ResetOnExit;
using detail::Statement;

// One line per call and one per reuse, each on its own day, summed per (day, model, currency).
// A pending call counts as one possibly billed request: it may be in flight or lost.
constexpr std::string_view kReportSql = R"sql(
WITH events (day, model, currency, calls, billed, possibly_billed, reused, cost,
             possibly_billed_cost, billed_without_price) AS (
  SELECT substr(requested_at, 1, 10), model, price_currency, 1, billed,
         CASE WHEN state = 'pending' THEN 1 ELSE possibly_billed END, 0,
         billed * price_micros,
         (CASE WHEN state = 'pending' THEN 1 ELSE possibly_billed END) * price_micros,
         CASE WHEN price_micros IS NULL THEN billed ELSE 0 END
  FROM calls
  UNION ALL
  SELECT substr(reuses.reused_at, 1, 10), calls.model, calls.price_currency, 0, 0, 0, 1, 0, 0, 0
  FROM reuses JOIN calls ON calls.id = reuses.call_id
)
SELECT day, model, currency, sum(calls), sum(billed), sum(possibly_billed), sum(reused),
       sum(cost), sum(possibly_billed_cost), sum(billed_without_price)
FROM events
WHERE day >= ?1 AND (?2 IS NULL OR model = ?2)
GROUP BY day, model, currency
ORDER BY day, model, currency
)sql";

enum ReportColumn {
  kDay, kModel, kCurrency, kCalls, kBilled, kPossiblyBilled, kReused, kCost,
  kPossiblyBilledCost, kBilledWithoutPrice,
};

constexpr std::string_view kExportSql =
    "SELECT calls.*, (SELECT count(*) FROM reuses WHERE reuses.call_id = calls.id) AS reuses "
    "FROM calls ORDER BY id";

constexpr std::string_view kExportUploadsSql = "SELECT * FROM uploads ORDER BY id";

// Uploads on the days and of the model of kReportSql's filter; of those, the ones valid at ?3.
constexpr std::string_view kUploadCountSql =
    "SELECT count(*), coalesce(sum(expires_at > ?3), 0) FROM uploads "
    "WHERE substr(uploaded_at, 1, 10) >= ?1 AND (?2 IS NULL OR model = ?2)";

// ?1 the first day ("" for all), ?2 the model (NULL for all).
void bind_filter(Statement& query, const ReportFilter& filter) {
  query.bind(1, filter.since ? detail::format_utc_time(*filter.since).substr(0, 10) : "");
  if (filter.model) query.bind(2, *filter.model);
}

// Adds `micros` of `currency` to `amounts`, kept in currency order.
void add_money(std::vector<Money>& amounts, const std::string& currency, std::int64_t micros) {
  auto at = std::lower_bound(amounts.begin(), amounts.end(), currency,
                             [](const Money& m, const std::string& c) { return m.currency < c; });
  if (at == amounts.end() || at->currency != currency) at = amounts.insert(at, Money{currency, 0});
  at->amount_micros += micros;
}

std::uint64_t count(const Statement& row, int column) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(row.integer(column), 0));
}

void add_counts(LedgerReportRow& into, const LedgerReportRow& from) {
  into.calls += from.calls;
  into.billed += from.billed;
  into.possibly_billed += from.possibly_billed;
  into.reused += from.reused;
  into.billed_without_price += from.billed_without_price;
  for (const Money& m : from.cost) add_money(into.cost, m.currency, m.amount_micros);
  for (const Money& m : from.possibly_billed_cost) {
    add_money(into.possibly_billed_cost, m.currency, m.amount_micros);
  }
}

// One (day, model, currency) group into its (day, model) row.
void add_group(LedgerReportRow& row, const Statement& group) {
  LedgerReportRow counts;
  counts.calls = count(group, kCalls);
  counts.billed = count(group, kBilled);
  counts.possibly_billed = count(group, kPossiblyBilled);
  counts.reused = count(group, kReused);
  counts.billed_without_price = count(group, kBilledWithoutPrice);
  if (!group.is_null(kCurrency)) {
    const std::string currency = group.text(kCurrency);
    counts.cost.push_back(Money{currency, group.integer(kCost)});
    counts.possibly_billed_cost.push_back(Money{currency, group.integer(kPossiblyBilledCost)});
  }
  add_counts(row, counts);
}

void write_column(detail::JsonWriter& json, const Statement& row, int column) {
  json.key(row.column_name(column));
  switch (row.type(column)) {
    case SQLITE_NULL: json.null(); break;
    case SQLITE_INTEGER: json.number(row.integer(column)); break;
    default: json.string(row.text(column)); break;  // TEXT, and raw_body's BLOB (the service's JSON)
  }
}

// Every row of `sql` as one JSON object per call of `line`, its columns as keys.
LedgerError export_query(detail::Database& db, std::string_view sql,
                         const std::function<void(std::string_view line)>& line) {
  Statement query;
  if (LedgerError e = db.prepare(sql, query)) return e;
  detail::JsonWriter json;
  for (int rc = query.step(); rc != SQLITE_DONE; rc = query.step()) {
    if (rc != SQLITE_ROW) return db.error(rc, "exporting rows");
    json.begin_object();
    for (int column = 0; column < query.column_count(); ++column) write_column(json, query, column);
    json.end_object();
    line(json.take());
  }
  return {};
}

// The uploads of report(): remembered, and of those still valid now.
LedgerError count_uploads(detail::LedgerState& d, const ReportFilter& filter,
                          LedgerReport& report) {
  Statement query;
  if (LedgerError e = d.db.prepare(kUploadCountSql, query)) return e;
  bind_filter(query, filter);
  query.bind(3, detail::format_utc_time(d.now()));
  const int rc = query.step();
  if (rc != SQLITE_ROW) return d.db.error(rc, "counting uploads");
  report.uploads = count(query, 0);
  report.valid_uploads = count(query, 1);
  return {};
}

}  // namespace

LedgerReport Ledger::report(const ReportFilter& filter) {
  LedgerReport report;
  Statement query;
  if ((report.error = state_->db.prepare(kReportSql, query))) return report;
  const ResetOnExit reset(query);
  bind_filter(query, filter);
  for (int rc = query.step(); rc != SQLITE_DONE; rc = query.step()) {
    if (rc != SQLITE_ROW) {
      report.error = state_->db.error(rc, "reading the report");
      return report;
    }
    const std::string day = query.text(kDay), model = query.text(kModel);
    if (report.rows.empty() || report.rows.back().day != day || report.rows.back().model != model) {
      LedgerReportRow row;
      row.day = day;
      row.model = model;
      report.rows.push_back(std::move(row));
    }
    add_group(report.rows.back(), query);
  }
  for (const LedgerReportRow& row : report.rows) add_counts(report.total, row);
  report.error = count_uploads(*state_, filter, report);
  return report;
}

LedgerError Ledger::export_rows(const std::function<void(std::string_view line)>& line) {
  return export_query(state_->db, kExportSql, line);
}

LedgerError Ledger::export_uploads(const std::function<void(std::string_view line)>& line) {
  return export_query(state_->db, kExportUploadsSql, line);
}


namespace {

void write_amounts(detail::JsonWriter& json, const std::vector<Money>& amounts) {
  json.begin_array();
  for (const Money& money : amounts) {
    json.begin_object();
    json.key("currency").string(money.currency);
    json.key("amount_micros").number(money.amount_micros);
    json.end_object();
  }
  json.end_array();
}

void write_counts(detail::JsonWriter& json, const LedgerReportRow& row) {
  json.key("calls").number(row.calls);
  json.key("billed").number(row.billed);
  json.key("possibly_billed").number(row.possibly_billed);
  json.key("reused").number(row.reused);
  json.key("billed_without_price").number(row.billed_without_price);
  json.key("cost");
  write_amounts(json, row.cost);
  json.key("possibly_billed_cost");
  write_amounts(json, row.possibly_billed_cost);
}

}  // namespace

std::string report_to_json(const LedgerReport& report, const ReportFilter& filter,
                           const std::filesystem::path& file) {
  detail::JsonWriter json;
  json.begin_object();
  json.key("ledger").string(file.string());
  json.key("since");
  if (filter.since) {
    const std::chrono::year_month_day day{*filter.since};
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(day.year()),
                  static_cast<unsigned>(day.month()), static_cast<unsigned>(day.day()));
    json.string(text);
  } else {
    json.null();
  }
  json.key("model").optional_string(filter.model ? std::optional<std::string_view>(*filter.model)
                                                 : std::nullopt);
  json.key("rows").begin_array();
  for (const LedgerReportRow& row : report.rows) {
    json.begin_object();
    json.key("day").string(row.day);
    json.key("model").string(row.model);
    write_counts(json, row);
    json.end_object();
  }
  json.end_array();
  json.key("total").begin_object();
  write_counts(json, report.total);
  json.end_object();
  json.key("uploads").begin_object();
  json.key("remembered").number(report.uploads);
  json.key("valid").number(report.valid_uploads);
  json.end_object();
  json.end_object();
  return json.take();
}


}  // namespace facegate
