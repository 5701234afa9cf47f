// Command-line inputs, read lazily: paths, URLs, directories (walked), '-' (stdin) and '@FILE'
// (a list file), as plain lines or JSON Lines.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "facegate/check.hpp"
#include "facegate/walk.hpp"

namespace facegate::cli {

/// How list files and stdin are read.
enum class InputFormat : std::uint8_t {
  lines,  ///< one path or URL a line
  jsonl,  ///< one object a line: {"source", "id"?, "model"?, "ratio"?}
};

/// Yields the inputs of the command line one at a time, reading lists and stdin only as far as
/// needed. A list that cannot be read, a line with a NUL byte and a bad JSON line are one
/// failed input each (so each still yields one record). Empty lines are skipped; a trailing
/// CR is dropped. A path (an argument, or a plain line of a list or stdin) that names a
/// directory is walked lazily with DirectoryWalker, its records in the walk's order where the
/// directory was named. interrupt() (from another thread) makes next() stop at once.
class InputReader {
 public:
  /// Reads `arguments` in order, walking directories with `walk`; '-' is file descriptor
  /// `stdin_fd`.
  InputReader(std::vector<std::string> arguments, InputFormat format, WalkOptions walk = {},
              int stdin_fd = 0);
  ~InputReader();
  InputReader(const InputReader&) = delete;
  InputReader& operator=(const InputReader&) = delete;

  /// The next input, or nullopt at the end (or once interrupted).
  std::optional<CheckInput> next();
  /// Ends the reading: a next() blocked on a pipe returns nullopt. Safe from any thread.
  void interrupt() noexcept;
  /// The number of inputs when it can be known cheaply: every list a regular file (counted
  /// by their lines), no '-', every directory argument small enough to count
  /// (DirectoryWalker::total_if_cheap); nullopt otherwise, or once `stop` is requested. Safe
  /// on a thread of its own beside next().
  std::optional<std::uint64_t> count_total(std::stop_token stop = {}) const;
  /// False once a list line named a directory: count_total() counted it as one input.
  bool total_holds() const noexcept { return !walked_list_line_; }

 private:
  std::optional<std::string> read_line();
  bool fill_buffer();
  void close_list();
  CheckInput from_line(std::string line);
  CheckInput from_json_line(const std::string& line, std::string where);
  bool starts_walk(const CheckInput& input);

  std::vector<std::string> arguments_;
  InputFormat format_;
  WalkOptions walk_options_;
  int stdin_fd_;
  std::optional<DirectoryWalker> walk_;  // the directory being walked
  std::atomic<bool> walked_list_line_{false};
  std::size_t next_argument_ = 0;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> interrupted_{false};
  // The list being read.
  int fd_ = -1;
  bool owns_fd_ = false;
  std::string list_name_;
  std::uint64_t line_number_ = 0;
  std::string buffer_;
  std::size_t buffer_start_ = 0;
  bool at_end_ = false;
  bool skipping_long_line_ = false;
  std::optional<Error> pending_failure_;  // a read error or an over-long line, as a record
};

}  // namespace facegate::cli
