// facegate: the command-line tool, a thin layer over the library.
//
// Exit codes (README): 0 every input probed / passed, 1 some input failed / did not pass,
// 2 usage error.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"
#include "ledger_command.hpp"

namespace {

using facegate::cli::ProbeSettings;

const char* const kInputsHelp =
    "Paths, URLs, '-' (inputs on stdin, one a line) or @FILE (a list file, one input a line)";

// Options shared by probe and check: how URL inputs are fetched.
void add_network_options(CLI::App& command, ProbeSettings& settings) {
  command.add_option("--jobs", settings.loop.max_transfers, "URLs fetched at once")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  command.add_option("--per-host", settings.loop.max_transfers_per_host,
                     "URLs fetched at once from one host")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  command.add_flag("--allow-private-network", settings.fetch.allow_private_network,
                   "Fetch URLs on loopback, private and link-local addresses (tests, intranets)");
  command.add_flag("--use-proxy-env", settings.fetch.use_environment_proxy,
                   "Honour http_proxy/https_proxy/no_proxy (ignored otherwise)");
  command.add_option("--ca-file", settings.fetch.ca_file, "PEM file of CA certificates to trust");
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = facegate::cli;
  CLI::App app{"facegate: check images against face-detect model rules from their headers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "facegate 0.1.0");

  cli::ProbeOptions probe_options;
  auto* probe = app.add_subcommand("probe", "Read image headers: format, size, orientation");
  probe->add_flag("--json", probe_options.json, "One JSON object per input per line");
  add_network_options(*probe, probe_options.settings);
  probe->add_option("inputs", probe_options.inputs, kInputsHelp)->required();

  cli::CheckOptions check_options;
  auto* check = app.add_subcommand(
      "check", "Judge images against a model's rules; call the detector for those that pass");
  check->add_option("--model", check_options.model, "Model name (see `facegate rules`)")
      ->required();
  check->add_option("--ratio", check_options.ratio, "The model's ratio parameter, e.g. 1:1");
  check->add_option("--rules", check_options.rules_file, "Rules file instead of the built-in");
  check->add_flag("--json", check_options.json, "One JSON record per input per line");
  check->add_flag("--strict", check_options.strict, "Inferred and ambiguous rules reject");
  check->add_flag("--offline", check_options.offline, "Never call the remote detector");
  check->add_flag("--dry-run", check_options.dry_run,
                  "Print the detector requests that would be sent (key redacted); send none");
  check->add_option("--base-url", check_options.base_url,
                    "Detector base URL (default: $DASHSCOPE_HTTP_BASE_URL or the vendor's)");
  check->add_option("--rps", check_options.requests_per_second,
                    "Detector requests per second instead of the model's documented rate")
      ->check(CLI::Range(1u, 1000u));
  check->add_flag("--retry-ambiguous", check_options.retry_ambiguous,
                  "Resend requests that failed after they were sent (may be billed twice)");
  add_network_options(*check, check_options.settings);
  check->add_option("inputs", check_options.inputs, kInputsHelp)->required();

  cli::RulesOptions rules_options;
  auto* rules = app.add_subcommand("rules", "Show the model rules, documented vs inferred");
  rules->add_flag("--json", rules_options.json, "The rules as JSON (the rules-file schema)");
  rules->add_option("--rules", rules_options.rules_file, "Rules file instead of the built-in");
  rules->add_option("model", rules_options.model, "Only this model");

  int ledger_exit = cli::kExitUsage;
  auto* ledger = cli::add_ledger_command(app, ledger_exit);

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
  cli::Streams io{std::cin, std::cout, std::cerr};
  if (probe->parsed()) return cli::run_probe(probe_options, io);
  if (check->parsed()) return cli::run_check(check_options, io);
  if (rules->parsed()) return cli::run_rules(rules_options, io);
  if (ledger->parsed()) return ledger_exit;
  return cli::kExitUsage;
}
