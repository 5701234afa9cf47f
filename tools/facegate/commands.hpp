// The subcommands of the facegate tool.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "facegate/rules.hpp"
#include "records.hpp"

namespace facegate::cli {

inline constexpr int kExitOk = 0;      ///< every input probed / passed
inline constexpr int kExitFailed = 1;  ///< some input failed / did not pass
inline constexpr int kExitUsage = 2;   ///< bad command line or unusable option value

/// Where a command writes.
struct Streams {
  std::istream& in;   ///< inputs for '-'
  std::ostream& out;  ///< records
  std::ostream& err;  ///< summary and notices
};

/// Options of `facegate probe`.
struct ProbeOptions {
  bool json = false;
  std::vector<std::string> inputs;
  ProbeSettings settings;
};

/// Options of `facegate check`.
struct CheckOptions {
  std::string model;
  std::optional<std::string> ratio;
  std::optional<std::string> rules_file;
  bool json = false;
  bool strict = false;
  bool offline = false;
  bool dry_run = false;
  std::string base_url;
  std::optional<std::uint32_t> requests_per_second;
  bool retry_ambiguous = false;
  std::vector<std::string> inputs;
  ProbeSettings settings;
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

/// `facegate probe`: one record per input, in input order.
int run_probe(const ProbeOptions& options, Streams io);

/// `facegate check`: one verdict per input, in input order, then a summary on stderr.
int run_check(const CheckOptions& options, Streams io);

/// `facegate rules`: the rules as a table or JSON.
int run_rules(const RulesOptions& options, Streams io);

}  // namespace facegate::cli
