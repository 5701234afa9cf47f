#include "inputs.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "facegate/fetch.hpp"

namespace facegate::cli {
namespace {

Input classify(std::string text) {
  Input input;
  input.kind = looks_like_url(text) ? Input::Kind::url : Input::Kind::path;
  input.source = std::move(text);
  return input;
}

void read_lines(std::istream& in, std::vector<Input>& out) {
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(classify(std::move(line)));
  }
}

}  // namespace

std::vector<Input> expand_inputs(const std::vector<std::string>& arguments,
                                 std::istream& standard_input) {
  std::vector<Input> inputs;
  for (const auto& argument : arguments) {
    if (argument == "-") {
      read_lines(standard_input, inputs);
    } else if (argument.size() > 1 && argument[0] == '@') {
      std::ifstream list(argument.substr(1), std::ios::binary);
      if (!list) {
        inputs.push_back(Input{Input::Kind::list_error, argument,
                               "cannot open list file " + argument.substr(1) + ": " +
                                   std::strerror(errno)});
        continue;
      }
      read_lines(list, inputs);
    } else {
      inputs.push_back(classify(argument));
    }
  }
  return inputs;
}

}  // namespace facegate::cli
