// The facegate tool run as a child process by the CLI tests: its exit code, stdout and stderr,
// and a JSON record's fields.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "servers/test_servers.hpp"

namespace facegate::test::cli {

namespace fs = std::filesystem;

/// What a run of facegate gave.
struct Run {
  int exit_code = -1;    ///< the exit code, or 128 + the signal that ended it
  std::string out, err;  ///< what it wrote on stdout and stderr
  /// stdout's lines, without their newlines.
  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
  }
};

/// The tool under test (FACEGATE_EXE, set by tests/meson.build).
inline fs::path facegate_exe() {
  const char* exe = std::getenv("FACEGATE_EXE");
  REQUIRE(exe != nullptr);
  return exe;
}

/// True when `variable` ("NAME=value") sets one of the names of `env`'s entries.
inline bool named_in(std::string_view variable, const std::vector<std::string>& env) {
  const std::string_view name = variable.substr(0, variable.find('='));
  return std::any_of(env.begin(), env.end(), [name](const std::string& entry) {
    return std::string_view(entry).substr(0, entry.find('=')) == name;
  });
}

/// Runs `argv` (argv[0] a path; run() below: facegate) with `stdin_text` on its standard input
/// and `env` added to the environment (DASHSCOPE_* and XDG_STATE_HOME removed unless given;
/// HOME an empty directory unless given), capturing stdout, stderr and the exit code. An
/// inherited variable is dropped, not shadowed, when it is set again: getenv() finds the first
/// of two, so an inherited HOME would make the default ledger the user's own
/// (~/.local/state/facegate/ledger.sqlite3). `without_dac_override`: the child runs without
/// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped from its bounding set, so an exec as root
/// does not get them back), so that file modes bind it when the tests run as root.
inline Run run_program(std::vector<std::string> argv, const std::string& stdin_text = {},
                       const std::vector<std::string>& env = {}, bool without_dac_override = false) {
  facegate::test::TempDir dir("facegate-cli-");
  const fs::path in = dir.path() / "in", out = dir.path() / "out", err = dir.path() / "err";
  facegate::test::write_text(in, stdin_text);
  std::vector<char*> c_argv;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::vector<std::string> own{"HOME=" + dir.path().string()};  // no ~/.dashscope/api_key
  if (named_in(own.front(), env)) own.clear();
  own.insert(own.end(), env.begin(), env.end());
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view variable(*e);
    if (variable.rfind("DASHSCOPE_", 0) != 0 && variable.rfind("XDG_STATE_HOME=", 0) != 0 &&
        !named_in(variable, own)) {
      environment.emplace_back(*e);
    }
  }
  environment.insert(environment.end(), own.begin(), own.end());
  std::vector<char*> c_env;
  for (auto& e : environment) c_env.push_back(e.data());
  c_env.push_back(nullptr);

  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd_in = ::open(in.c_str(), O_RDONLY);
    const int fd_out = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int fd_err = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd_in, 0);
    ::dup2(fd_out, 1);
    ::dup2(fd_err, 2);
    if (without_dac_override) {
      // Fails (EPERM) without CAP_SETPCAP, where the modes bind the process anyway.
      ::prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0);
      ::prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0);
    }
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Run result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = facegate::test::read_text(out);
  result.err = facegate::test::read_text(err);
  return result;
}

/// Runs facegate with `args`, as run_program does.
inline Run run(const std::vector<std::string>& args, const std::string& stdin_text = {},
               const std::vector<std::string>& env = {}, bool without_dac_override = false) {
  std::vector<std::string> argv{facegate_exe().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(std::move(argv), stdin_text, env, without_dac_override);
}

/// Runs the bash `script` with facegate's path as $1 (for process substitution, pipes and
/// redirections), as run_program does.
inline Run run_bash(const std::string& script, const std::vector<std::string>& env = {}) {
  return run_program({"/bin/bash", "-c", script, "bash", facegate_exe().string()}, {}, env);
}

/// The bundled sample image `name` (examples/).
inline std::string example(std::string_view name) {
  return (facegate::test::source_root() / "examples" / name).string();
}

/// The value of key `key` in the JSON object `line` as text (strings unquoted), for checks.
inline std::string field(const std::string& line, std::string_view key) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
  simdjson::dom::element value;
  if (doc.at_key(key).get(value) != simdjson::SUCCESS) return "<missing>";
  if (value.is_string()) return std::string(value.get_string().value());
  return simdjson::minify(value);
}

}  // namespace facegate::test::cli
