// The subcommands of the facegate tool.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace facegate::cli {

inline constexpr int kExitOk = 0;       ///< every input probed / passed
inline constexpr int kExitFailed = 1;   ///< some input failed / did not pass
inline constexpr int kExitUsage = 2;    ///< bad command line or unusable option value

/// Options of `facegate probe`.
struct ProbeOptions {
  bool json = false;
  std::vector<std::string> inputs;
};

/// `facegate probe`: one record per input, in input order.
int run_probe(const ProbeOptions& options, std::ostream& out, std::ostream& err);

}  // namespace facegate::cli
