// facegate: the command-line tool, a thin layer over the library.
//
// Exit codes (README): 0 every input probed / passed, 1 some input failed / did not pass,
// 2 usage error.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"facegate: check images against face-detect model rules from their headers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "facegate 0.1.0");

  facegate::cli::ProbeOptions probe_options;
  auto* probe = app.add_subcommand("probe", "Read image headers: format, size, orientation");
  probe->add_flag("--json", probe_options.json, "One JSON object per input per line");
  probe->add_option("inputs", probe_options.inputs,
                    "Paths, URLs, '-' (inputs on stdin, one a line) or @FILE (a list file)")
      ->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return facegate::cli::kExitUsage;
  }
  if (probe->parsed()) return facegate::cli::run_probe(probe_options, std::cout, std::cerr);
  return facegate::cli::kExitUsage;
}
