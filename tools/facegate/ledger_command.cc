#include "ledger_command.hpp"

#include <iostream>
#include <memory>

#include "facegate/ledger.hpp"
#include "table.hpp"

namespace facegate::cli {
namespace {

// The ledger to read, or nullopt: a missing one (said on err; `missing` set) or an unusable
// one (said on err).
std::optional<Ledger> open_for_reading(const LedgerCommandOptions& options, Streams io,
                                       bool& missing) {
  LedgerOptions ledger_options;
  ledger_options.create_if_missing = false;
  LedgerOpenResult opened = Ledger::open(options.file, ledger_options);
  missing = opened.error.code == LedgerErrorCode::missing;
  if (!opened.ok()) io.err << "facegate: " << opened.error.message << '\n';
  return std::move(opened.ledger);
}

std::string money_text(const std::vector<Money>& amounts, std::uint64_t unpriced) {
  std::string text;
  for (const Money& money : amounts) text += (text.empty() ? "" : ", ") + format_money(money);
  if (unpriced > 0) {
    text += (text.empty() ? "" : " + ") + std::to_string(unpriced) + " billed without a price";
  }
  return text.empty() ? "-" : text;
}

void print_table(const LedgerReport& report, std::ostream& out) {
  Table table({"DAY", "MODEL", "CALLS", "BILLED", "POSSIBLY BILLED", "REUSED", "COST",
               "POSSIBLY BILLED COST"},
              report.rows.size() + 2);  // one block: every row sets the widths
  auto add = [&table](std::string day, std::string model, const LedgerReportRow& row) {
    table.add_row({std::move(day), std::move(model), std::to_string(row.calls),
                   std::to_string(row.billed), std::to_string(row.possibly_billed),
                   std::to_string(row.reused), money_text(row.cost, row.billed_without_price),
                   money_text(row.possibly_billed_cost, 0)});
  };
  for (const LedgerReportRow& row : report.rows) add(row.day, row.model, row);
  add("total", "", report.total);
  out << table.flush();
  if (report.uploads > 0) {
    out << "uploads: " << report.uploads << " remembered, " << report.valid_uploads
        << " still valid\n";
  }
}

ReportFilter filter_of(const LedgerCommandOptions& options) {
  ReportFilter filter;
  if (!options.since.empty()) filter.since = parse_utc_day(options.since);
  if (!options.model.empty()) filter.model = options.model;
  return filter;
}

}  // namespace

int run_ledger_report(const LedgerCommandOptions& options, Streams io) {
  bool missing = false;
  std::optional<Ledger> ledger = open_for_reading(options, io, missing);
  if (!ledger && !missing) return kExitUsage;
  LedgerReport report;
  if (ledger) report = ledger->report(filter_of(options));
  if (report.error) {
    io.err << "facegate: " << report.error.message << '\n';
    return kExitUsage;
  }
  if (options.json) {
    io.out << report_to_json(report, filter_of(options), options.file) << '\n';
  } else {
    print_table(report, io.out);
  }
  return kExitOk;
}

int run_ledger_export(const LedgerCommandOptions& options, Streams io) {
  bool missing = false;
  std::optional<Ledger> ledger = open_for_reading(options, io, missing);
  if (!ledger) return missing ? kExitOk : kExitUsage;
  const auto write = [&io](std::string_view line) { io.out << line << '\n'; };
  const LedgerError error = options.uploads ? ledger->export_uploads(write)
                                            : ledger->export_rows(write);
  if (error) {
    io.err << "facegate: " << error.message << '\n';
    return kExitUsage;
  }
  return kExitOk;
}

CLI::App* add_ledger_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<LedgerCommandOptions>();
  options->file = default_ledger_path().string();
  auto* ledger = app.add_subcommand(
      "ledger", "Spend recorded in the ledger of remote calls, per model and UTC day");
  ledger->add_option("--ledger", options->file, "The ledger file")
      ->type_name("FILE")
      ->capture_default_str();
  ledger->add_flag("--json", options->json, "The report as one JSON object");
  ledger->add_option("--since", options->since, "Only UTC days from this one on (YYYY-MM-DD)")
      ->type_name("DATE")
      ->check([](const std::string& text) {
        return parse_utc_day(text) ? std::string() : "not a date in the form YYYY-MM-DD";
      });
  ledger->add_option("--model", options->model, "Only this model")->type_name("MODEL");
  auto* exported = ledger->add_subcommand("export", "Every call row (or upload row) as JSON Lines");
  exported->fallthrough();  // `facegate ledger export --ledger FILE` works too
  exported->add_flag("--uploads", options->uploads,
                     "The temporary uploads remembered instead of the calls");
  ledger->callback([options, exported, &exit_code] {
    const Streams io{std::cin, std::cout, std::cerr};
    exit_code = exported->parsed() ? run_ledger_export(*options, io)
                                   : run_ledger_report(*options, io);
  });
  return ledger;
}

}  // namespace facegate::cli
