// Aligned text tables for the human-readable output.
#pragma once

#include <string>
#include <vector>

namespace facegate::cli {

/// Prints rows with each column padded to its widest cell. The first rows are held back until
/// `buffered_rows` have come (or flush()), and their widths hold for every later row, so a
/// long run streams; a later, wider cell just pushes its row's next columns right.
/// Cells are made safe for a terminal: control characters and bytes that are not UTF-8 are
/// shown as escapes, so a hostile file name cannot move the cursor or hide a row.
class Table {
 public:
  /// Starts a table with these column headings.
  explicit Table(std::vector<std::string> headings, std::size_t buffered_rows = 64);
  /// Adds a row (missing cells are blank, extra cells dropped); returns the text to print now.
  std::string add_row(std::vector<std::string> cells);
  /// The rows held back, as text (the headings first, if not printed yet).
  std::string flush();

 private:
  std::size_t buffered_rows_;
  std::size_t columns_ = 0;
  std::vector<std::vector<std::string>> rows_;  // rows not printed yet; the headings first
  std::vector<std::size_t> widths_;             // fixed at the first flush
};

/// `text` with control characters and invalid UTF-8 escaped (as in JSON, without quotes).
std::string terminal_safe(std::string_view text);

}  // namespace facegate::cli
