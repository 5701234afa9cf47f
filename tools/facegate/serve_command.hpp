// `facegate serve`: the gateway (facegate::Gateway) behind a libmicrohttpd HTTP server.
#pragma once

#include <CLI/CLI.hpp>

namespace facegate::cli {

/// Adds `facegate serve [--listen ADDR:PORT] [--upstream URL] [--key-from-env] [--queue N]
/// [--queue-wait MS] ...` to `app` and returns it. When the command line names it, app.parse()
/// runs the server until SIGINT or SIGTERM and sets `exit_code`: kExitOk after a clean stop,
/// kExitUsage when it cannot start (bad address, port taken, no key for --key-from-env).
CLI::App* add_serve_command(CLI::App& app, int& exit_code);

}  // namespace facegate::cli
