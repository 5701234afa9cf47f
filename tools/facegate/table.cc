#include "table.hpp"

#include <algorithm>

#include "output/json_writer.hpp"

namespace facegate::cli {
namespace {

// Display width of UTF-8 text: one column per code point (no wide-character tables).
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

std::string terminal_safe(std::string_view text) {
  std::string quoted;
  detail::append_json_string(quoted, text);
  // The JSON escaping, without the quotes; plain text round-trips unchanged but for \" and \\.
  std::string_view inner(quoted.data() + 1, quoted.size() - 2);
  std::string out;
  out.reserve(inner.size());
  for (std::size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size() && (inner[i + 1] == '"' || inner[i + 1] == '\\')) {
      ++i;
    }
    out += inner[i];
  }
  return out;
}

Table::Table(std::vector<std::string> headings) { rows_.push_back(std::move(headings)); }

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(rows_.front().size());
  for (auto& cell : cells) cell = terminal_safe(cell);
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(rows_.front().size(), 0);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - display_width(row[c]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

}  // namespace facegate::cli
