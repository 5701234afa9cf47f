// The image corpus of the tests that run over every image (corpus_test.cc, deep_test.cc): every
// image of Debian's libjxl-testdata plus its WebP and BMP conversions (tests/corpus/
// build_corpus.py), built into the build directory on the first run and reused after.
// FACEGATE_CORPUS_DIR points the tests at an existing corpus instead.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace facegate::test {

/// One line of the corpus's MANIFEST.tsv.
struct CorpusFile {
  std::string name;    ///< path relative to the corpus directory, e.g. "bmp3/jxl__splines.png.bmp"
  std::string kind;    ///< "original" or the conversion's directory ("webp-lossy", "bmp3", ...)
  std::string source;  ///< the libjxl-testdata file it was made from
};

/// The value of an environment variable; empty when it is not set.
inline std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

/// `text` quoted for the shell.
inline std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

/// The corpus directory; builds it with tests/corpus/build_corpus.py when it is not there yet.
/// Tests that run at once wait for one another's build (an flock on tests/corpus.lock).
inline std::filesystem::path corpus_directory() {
  namespace fs = std::filesystem;
  if (std::string given = environment("FACEGATE_CORPUS_DIR"); !given.empty()) return given;
  const std::string build_root = environment("FACEGATE_BUILD_ROOT");
  const std::string source_root = environment("FACEGATE_SOURCE_ROOT");
  REQUIRE_MESSAGE(!build_root.empty(), "FACEGATE_BUILD_ROOT is not set (run through meson test)");
  REQUIRE_MESSAGE(!source_root.empty(), "FACEGATE_SOURCE_ROOT is not set (run through meson test)");
  const fs::path directory = fs::path(build_root) / "tests" / "corpus";
  const fs::path lock_path = fs::path(build_root) / "tests" / "corpus.lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE_MESSAGE(lock >= 0, "cannot open " << lock_path);
  REQUIRE(::flock(lock, LOCK_EX) == 0);
  if (!fs::exists(directory / "MANIFEST.tsv")) {
    const std::string command = "python3 " +
                                shell_quoted(source_root + "/tests/corpus/build_corpus.py") + " " +
                                shell_quoted(directory.string());
    std::printf("building the corpus: %s\n", command.c_str());
    std::fflush(stdout);
    const int status = std::system(command.c_str());
    ::close(lock);
    REQUIRE_MESSAGE(status == 0, "corpus build failed: " << command);
  } else {
    ::close(lock);
  }
  return directory;
}

/// Every file that MANIFEST.tsv lists, in its order.
inline std::vector<CorpusFile> read_manifest(const std::filesystem::path& directory) {
  std::ifstream in(directory / "MANIFEST.tsv");
  REQUIRE_MESSAGE(in, "cannot read " << (directory / "MANIFEST.tsv"));
  std::vector<CorpusFile> files;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    CorpusFile file;
    std::getline(fields, file.name, '\t');
    std::getline(fields, file.kind, '\t');
    std::getline(fields, file.source, '\t');
    files.push_back(std::move(file));
  }
  return files;
}

/// A BMP whose biCompression (offset 30, after the 14-byte file header and the width, height,
/// planes and bit count fields) is BI_RLE8 (1) or BI_RLE4 (2).
inline bool is_rle_bmp(std::span<const std::byte> bytes) {
  if (bytes.size() < 34) return false;
  const auto byte_at = [&](std::size_t i) { return static_cast<std::uint32_t>(bytes[i]); };
  const std::uint32_t compression =
      byte_at(30) | byte_at(31) << 8 | byte_at(32) << 16 | byte_at(33) << 24;
  return compression == 1 || compression == 2;
}

}  // namespace facegate::test
