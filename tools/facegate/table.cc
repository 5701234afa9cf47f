#include "table.hpp"

#include <algorithm>

#include "facegate/check.hpp"

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
  const std::string quoted = json_quote(text);
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

Table::Table(std::vector<std::string> headings, std::size_t buffered_rows)
    : buffered_rows_(std::max<std::size_t>(buffered_rows, 1)), columns_(headings.size()) {
  rows_.push_back(std::move(headings));
}

std::string Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_);
  for (auto& cell : cells) cell = terminal_safe(cell);
  rows_.push_back(std::move(cells));
  if (widths_.empty() && rows_.size() <= buffered_rows_) return {};
  return flush();
}

std::string Table::flush() {
  if (widths_.empty()) {
    widths_.assign(columns_, 0);
    for (const auto& row : rows_) {
      for (std::size_t c = 0; c < row.size(); ++c) {
        widths_[c] = std::max(widths_[c], display_width(row[c]));
      }
    }
  }
  std::string text;
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      const std::size_t width = display_width(row[c]);
      if (c + 1 < row.size()) line.append(widths_[c] > width ? widths_[c] - width + 2 : 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + '\n';
  }
  rows_.clear();
  return text;
}

}  // namespace facegate::cli
