// Aligned text tables for the human-readable output.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace facegate::cli {

/// Collects rows, then prints them with each column padded to its widest cell.
/// Cells are made safe for a terminal: control characters and bytes that are not UTF-8 are
/// shown as escapes, so a hostile file name cannot move the cursor or hide a row.
class Table {
 public:
  /// Starts a table with these column headings.
  explicit Table(std::vector<std::string> headings);
  /// Adds a row; missing cells are blank, extra cells are dropped.
  void add_row(std::vector<std::string> cells);
  /// Prints the headings and the rows.
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] holds the headings
};

/// `text` with control characters and invalid UTF-8 escaped (as in JSON, without quotes).
std::string terminal_safe(std::string_view text);

}  // namespace facegate::cli
