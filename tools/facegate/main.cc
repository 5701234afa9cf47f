// facegate: the command-line tool, a thin layer over the library (facegate::Checker).
//
// Exit codes (README): 0 every input probed / passed, 1 some input failed / did not pass,
// 2 usage error, 3 the records could not be written, 130 interrupted.
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "ledger_command.hpp"
#include "facegate/version.h"
#include "serve_command.hpp"

namespace {

namespace cli = facegate::cli;

const char* const kInputsHelp =
    "Paths, directories (walked), URLs, '-' (inputs on stdin, one a line) or @FILE (a list "
    "file, one input a line)";

// Options shared by probe and check: inputs, output, how URL inputs are fetched.
void add_run_options(CLI::App& command, cli::RunOptions& options) {
  facegate::CheckerOptions& checker = options.checker;
  command.add_flag("--json", options.json, "One JSON record per input per line");
  // The enums are uint8_t: CLI11's own description would print their values as characters.
  command.add_option("--order", options.order, "Record order: input (default) or completion")
      ->transform(CLI::CheckedTransformer(
                      std::map<std::string, cli::RecordOrder>{
                          {"input", cli::RecordOrder::input},
                          {"completion", cli::RecordOrder::completion}})
                      .description(""))
      ->type_name("input|completion");
  command.add_option("--input-format", options.input_format,
                     "How lists and stdin are read: lines (default) or jsonl")
      ->transform(CLI::CheckedTransformer(
                      std::map<std::string, cli::InputFormat>{{"lines", cli::InputFormat::lines},
                                                              {"jsonl", cli::InputFormat::jsonl}})
                      .description(""))
      ->type_name("lines|jsonl");
  command.add_flag("--progress,!--no-progress", options.progress,
                   "Progress on stderr (default: when stderr is a terminal)");
  command.add_option("--jobs", checker.loop.max_transfers, "URLs fetched at once")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  command.add_option("--per-host", checker.loop.max_transfers_per_host,
                     "URLs fetched at once from one host")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  command.add_option("--threads", checker.local_threads,
                     "Threads probing local files (0: one per core)")
      ->check(CLI::Range(0u, 256u));
  command.add_option("--read-timeout", options.read_timeout_seconds,
                     "Seconds a pipe or FIFO input may take to deliver its header")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_flag("--allow-private-network", checker.fetch.allow_private_network,
                   "Fetch URLs on loopback, private and link-local addresses (tests, intranets)");
  command.add_flag("--use-proxy-env", checker.fetch.use_environment_proxy,
                   "Honour http_proxy/https_proxy/no_proxy (ignored otherwise)");
  command.add_option("--ca-file", checker.fetch.ca_file, "PEM file of CA certificates to trust");
  command.add_flag("--follow-symlinks", options.walk.follow_symlinks,
                   "In directory inputs, follow symbolic links (loops are detected)");
  command.add_flag("--only-images", checker.only_images,
                   "No record for inputs that are not images; the summary counts them");
  command.add_option("inputs", options.inputs, kInputsHelp)->required();
}

// "--region"'s help: each region's name, label and base URL, the default first.
std::string region_help() {
  std::string help = "The key's DashScope region, which gives the base URL unless --base-url or "
                     "$DASHSCOPE_HTTP_BASE_URL does:";
  for (const facegate::DashScopeRegion& region : facegate::dashscope_regions()) {
    help += "\n  " + std::string(region.name) + " (" + std::string(region.label) +
            (region.name == facegate::kDefaultRegion ? ", the default" : "") + ") " +
            std::string(region.base_url);
  }
  return help;
}

std::vector<std::string> region_names() {
  std::vector<std::string> names;
  for (const facegate::DashScopeRegion& region : facegate::dashscope_regions()) {
    names.emplace_back(region.name);
  }
  return names;
}

void add_check_options(CLI::App& check, cli::RunOptions& options) {
  facegate::CheckerOptions& checker = options.checker;
  check.add_option("--model", checker.model, "Model name (see `facegate rules`)")->required();
  check.add_option("--ratio", options.ratio, "The model's ratio parameter, e.g. 1:1");
  check.add_option("--rules", options.rules_file, "Rules file instead of the built-in");
  check.add_flag("--strict", checker.strict, "Inferred and ambiguous rules reject, and so does image.corrupt");
  check.add_flag("--deep", checker.deep,
                 "Decode local images whose header passes: corrupt data is image.corrupt");
  auto* deep_urls = check.add_flag(
      "--deep-urls", checker.deep_urls,
      "--deep, and URLs too: one whose header passes is downloaded whole (at most 128 MiB, or "
      "the model's file-size limit) and decoded");
  auto* max_pixels = check.add_option("--max-pixels", checker.deep_limits.max_pixels,
                                      "--deep: largest width x height decoded")
                         ->check(CLI::PositiveNumber)
                         ->capture_default_str();
  auto* deep_jobs = check.add_option("--deep-jobs", checker.deep_decodes_in_flight,
                                     "--deep: decodes (and --deep-urls downloads) at once, at most")
                        ->check(CLI::Range(1u, 256u))
                        ->capture_default_str();
  // --deep-urls implies --deep; the deep options need one of them.
  check.parse_complete_callback([&checker, deep_urls, max_pixels, deep_jobs] {
    if (deep_urls->count() > 0) checker.deep = true;
    if (!checker.deep && (max_pixels->count() > 0 || deep_jobs->count() > 0)) {
      throw CLI::ValidationError("--max-pixels and --deep-jobs need --deep or --deep-urls");
    }
  });
  auto* offline = check.add_flag("--offline", options.offline, "Never call the remote detector");
  check.add_flag("--dry-run", options.dry_run,
                 "Print the detector requests that would be sent (key redacted); send none")
      ->excludes(offline);
  check.add_flag("!--no-upload", checker.upload,
                 "Keep local files local: a local pass is not uploaded and not called");
  check.add_option("--base-url", checker.detect.base_url,
                   "Detector base URL (default: $DASHSCOPE_HTTP_BASE_URL or the vendor's)");
  check.add_option("--region", checker.detect.region, region_help())
      ->check(CLI::IsMember(region_names()));
  check.add_option("--rps", checker.detect.requests_per_second,
                   "Detector requests per second instead of the model's documented rate")
      ->check(CLI::Range(1u, 1000u));
  check.add_flag("--retry-ambiguous", checker.detect.retry_ambiguous,
                 "Resend requests that failed after they were sent (may be billed twice)");
  auto* ledger = check.add_option("--ledger", options.ledger_file,
                                  "Ledger of remote calls (default: $XDG_STATE_HOME/facegate/ledger.sqlite3)");
  check.add_flag("--no-ledger", options.no_ledger, "Keep no ledger: answers are not remembered")
      ->excludes(ledger);
  check.add_option("--max-age", options.max_age,
                   "Reuse ledger answers at most this old (e.g. 90s, 15m, 12h, 7d)");
  check.add_flag("--refresh", checker.reuse.refresh, "Never reuse a ledger answer (still record)");
  check.add_option("--budget", options.budget,
                   "Most to spend in this run, in the model's price currency (USD where published)");
  check.add_option("--max-calls", checker.max_calls, "Most detector calls to send in this run");
  check.add_option("--grace", options.grace_seconds,
                   "On SIGINT/SIGTERM, seconds for calls in flight to finish")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"facegate: check images against face-detect model rules from their headers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "facegate " FACEGATE_VERSION);

  cli::RunOptions probe_options;
  probe_options.probe_only = true;
  auto* probe = app.add_subcommand("probe", "Read image headers: format, size, orientation");
  add_run_options(*probe, probe_options);

  cli::RunOptions check_options;
  auto* check = app.add_subcommand(
      "check", "Judge images against a model's rules; call the detector for those that pass");
  add_check_options(*check, check_options);
  add_run_options(*check, check_options);

  cli::RulesOptions rules_options;
  auto* rules = app.add_subcommand("rules", "Show the model rules, documented vs inferred");
  rules->add_flag("--json", rules_options.json, "The rules as JSON (the rules-file schema)");
  rules->add_option("--rules", rules_options.rules_file, "Rules file instead of the built-in");
  rules->add_option("model", rules_options.model, "Only this model");

  int ledger_exit = cli::kExitUsage;
  auto* ledger = cli::add_ledger_command(app, ledger_exit);

  int serve_exit = cli::kExitUsage;
  auto* serve = cli::add_serve_command(app, serve_exit);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cli::kExitUsage;
  }
  if (probe->parsed()) return cli::run_inputs(std::move(probe_options));
  if (check->parsed()) return cli::run_inputs(std::move(check_options));
  if (rules->parsed()) return cli::run_rules(rules_options, std::cout, std::cerr);
  if (ledger->parsed()) return ledger_exit;
  if (serve->parsed()) return serve_exit;
  return cli::kExitUsage;
}
