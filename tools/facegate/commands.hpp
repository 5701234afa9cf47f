// The subcommands of the facegate tool.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "facegate/check.hpp"
#include "inputs.hpp"

namespace facegate::cli {

inline constexpr int kExitOk = 0;           ///< every input probed / passed
inline constexpr int kExitFailed = 1;       ///< some input failed / did not pass
inline constexpr int kExitUsage = 2;        ///< bad command line or unusable option value
inline constexpr int kExitWrite = 3;        ///< the records could not be written (stdout)
inline constexpr int kExitInterrupted = 130;  ///< stopped by SIGINT or SIGTERM (128 + 2)

/// Where a command writes.
struct Streams {
  std::istream& in;   ///< standard input
  std::ostream& out;  ///< records
  std::ostream& err;  ///< summary and notices
};

/// In which order records are printed.
enum class RecordOrder : std::uint8_t {
  input,       ///< input order: each record once it and every record before it are done
  completion,  ///< as each input completes
};

/// Options of `facegate probe` and `facegate check` (probe: no model).
struct RunOptions {
  bool probe_only = false;                  ///< `facegate probe`
  bool json = false;                        ///< JSON Lines instead of a table
  RecordOrder order = RecordOrder::input;   ///< record order
  std::size_t reorder_window = 4096;        ///< input order: records held at most
  InputFormat input_format = InputFormat::lines;  ///< how lists and stdin are read
  std::optional<bool> progress;             ///< nullopt: when stderr is a terminal
  std::optional<std::string> ratio;         ///< --ratio
  std::optional<std::string> rules_file;    ///< --rules
  bool offline = false;                     ///< --offline
  bool dry_run = false;                     ///< --dry-run
  double grace_seconds = 10;                ///< --grace
  double read_timeout_seconds = 10;         ///< --read-timeout (pipes, FIFOs)
  std::optional<std::string> ledger_file;   ///< --ledger; default_ledger_path() when online
  bool no_ledger = false;                   ///< --no-ledger
  std::optional<std::string> max_age;       ///< --max-age DURATION ("90s", "15m", "12h", "7d")
  std::optional<std::string> budget;        ///< --budget AMOUNT, in the model's price currency
  std::vector<std::string> inputs;          ///< the INPUT arguments
  WalkOptions walk;                         ///< how directory inputs are walked
  CheckerOptions checker;                   ///< model, strict, fetch and detect settings
};

/// Options of `facegate rules`.
struct RulesOptions {
  bool json = false;
  std::optional<std::string> model;
  std::optional<std::string> rules_file;
};

/// The built-in rules, or those of `file`; on error, says why on `err` and returns nullopt.
std::optional<RuleSet> load_rules_or_report(const std::optional<std::string>& file,
                                            std::ostream& err);

/// The model named `name`; if there is none, lists the known ones on `err` and returns null.
const ModelRules* find_model_or_report(const RuleSet& rules, std::string_view name,
                                       std::ostream& err);

/// `facegate probe` and `facegate check`: one record per input, streamed, then the summary.
int run_inputs(RunOptions options);

/// `facegate rules`: the rules as a table or JSON.
int run_rules(const RulesOptions& options, std::ostream& out, std::ostream& err);

}  // namespace facegate::cli
