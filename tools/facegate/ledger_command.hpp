// `facegate ledger`: what the ledger of remote calls says was spent, and its rows.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "commands.hpp"

namespace facegate::cli {

/// Options of `facegate ledger` and `facegate ledger export`.
struct LedgerCommandOptions {
  std::string file;      ///< the ledger; default_ledger_path() unless --ledger
  bool json = false;     ///< the report as one JSON object
  std::string since;     ///< "YYYY-MM-DD" or empty: only days from this one on
  std::string model;     ///< empty: every model
  bool uploads = false;  ///< export: the upload rows instead of the call rows
};

/// `facegate ledger`: calls, billed, possibly billed, reused answers and cost per model and
/// UTC day, then a total. A missing ledger is an empty report.
int run_ledger_report(const LedgerCommandOptions& options, Streams io);

/// `facegate ledger export [--uploads]`: every call row (or upload row) as one JSON object
/// per line.
int run_ledger_export(const LedgerCommandOptions& options, Streams io);

/// Adds `facegate ledger [--ledger FILE] [--json] [--since DATE] [--model M] [export [--uploads]]` to
/// `app` and returns it. When the command line names it, app.parse() runs it (records on
/// std::cout, messages on std::cerr) and sets `exit_code`: kExitOk, or kExitUsage when the
/// ledger file is unusable. A bad --since is a parse error of app.parse().
CLI::App* add_ledger_command(CLI::App& app, int& exit_code);

}  // namespace facegate::cli
