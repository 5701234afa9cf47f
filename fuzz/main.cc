// Replays inputs through a fuzz target without libFuzzer, so that every target builds with any
// compiler and its corpus runs as a test: `<target>_fuzzer FILE|DIR...` runs
// LLVMFuzzerTestOneInput once per file (directories: every regular file in them, recursively,
// in name order). A failed invariant aborts; an argument that cannot be read exits with 1.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

/// The files that an argument names, sorted; false when it names nothing readable.
bool collect_inputs(const fs::path& argument, std::vector<fs::path>& inputs) {
  std::error_code error;
  if (fs::is_regular_file(argument, error)) {
    inputs.push_back(argument);
    return true;
  }
  if (!fs::is_directory(argument, error)) return false;
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(argument, error)) {
    if (entry.is_regular_file()) found.push_back(entry.path());
  }
  if (error) return false;
  std::sort(found.begin(), found.end());
  inputs.insert(inputs.end(), found.begin(), found.end());
  return true;
}

/// Runs the target over one file; false when the file cannot be read.
bool replay(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) return false;
  // An exact-size heap block, like libFuzzer's, so that AddressSanitizer sees over-reads.
  std::vector<std::uint8_t> input(static_cast<std::size_t>(size));
  std::ifstream file(path, std::ios::binary);
  if (!file.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(size))) {
    return false;
  }
  std::fprintf(stderr, "Running: %s (%zu bytes)\n", path.c_str(), input.size());
  LLVMFuzzerTestOneInput(input.data(), input.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!collect_inputs(argv[i], inputs)) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
      return 1;
    }
  }
  for (const auto& path : inputs) {
    if (!replay(path)) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], path.c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "%s: %zu inputs passed\n", argv[0], inputs.size());
  return 0;
}
