// Command-line inputs: paths, URLs, '-' (one input a line on stdin) and '@FILE' (a list file).
#pragma once

#include <istream>
#include <string>
#include <vector>

namespace facegate::cli {

/// One input to probe or check, in command-line order.
struct Input {
  enum class Kind { path, url, list_error };
  Kind kind = Kind::path;
  std::string source;   ///< the text as given (path or URL), or the list argument that failed
  std::string problem;  ///< for list_error: why the list could not be read
};

/// Expands the arguments: '-' reads lines from `standard_input`, '@FILE' reads lines from FILE.
/// Lines are taken literally (no nested '@'); empty lines are skipped; a trailing CR is dropped.
/// A list that cannot be read becomes one list_error input, so it still yields one record.
std::vector<Input> expand_inputs(const std::vector<std::string>& arguments,
                                 std::istream& standard_input);

}  // namespace facegate::cli
