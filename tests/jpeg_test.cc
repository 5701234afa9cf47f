// The JPEG header parser (lib/formats/jpeg.cc) through the public probe API: the crafted files
// of tests/data/crafted/jpeg.tsv against their manifest, and every JPEG of Debian's
// libjxl-testdata against stb_image's stbi_info. Each file is also probed at every prefix,
// every chunk size 1..64, through an exact-window reader and through probe_file.
//
// FACEGATE_CRAFTED_FILE=<file name> limits the "crafted:" test cases to that manifest row, so
// that each crafted file can be its own Meson test (with --test-case='crafted:*').
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "facegate/probe.hpp"
#include "facegate/rules.hpp"
#include "formats/parser.hpp"
#include "probe_answer.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

using namespace facegate;
using namespace facegate::test;
namespace fs = std::filesystem;

namespace {

const fs::path kLibjxlTestdata = "/usr/share/libjxl-testdata";
constexpr std::size_t kJpegMagicLength = 3;

// A reader that seeks: feeds exactly the bytes the probe wants. Checks the window discipline
// of parser.hpp on the way (at most kMaxWindow bytes, never backwards) and counts the windows.
struct ExactReading {
  Answer answer;
  std::size_t windows = 0;
};

ExactReading probe_exactly(std::span<const std::byte> data) {
  ExactReading reading;
  Probe p;
  std::uint64_t previous_offset = 0;
  while (p.status() == Status::need_more) {
    const Want want = p.want();
    CHECK(want.length > 0);
    CHECK(want.length <= detail::kMaxWindow);
    CHECK(want.offset >= previous_offset);
    previous_offset = want.offset;
    if (want.offset >= data.size()) {
      p.finish();
      break;
    }
    const auto at = static_cast<std::size_t>(want.offset);
    p.feed(want.offset, data.subspan(at, std::min<std::size_t>(want.length, data.size() - at)));
    ++reading.windows;
  }
  reading.answer = answer_of(p);
  return reading;
}

// What the probe of every prefix showed.
struct PrefixFigures {
  std::size_t prefixes = 0;     // prefixes probed (without finish(), and with it from 3 bytes)
  std::size_t needed = 0;       // shortest prefix that gives the final answer without finish()
};

// Every prefix fed without finish() gives need_more or the final answer; with finish(), a
// truncated error or the final answer. All prefixes up to the shortest one that answers and a
// wide window beyond it are probed, then every 4099th (longer ones see the same windows).
PrefixFigures check_prefixes(std::span<const std::byte> data, const Answer& final_answer) {
  PrefixFigures figures{0, data.size()};
  bool answered = false;
  std::size_t n = 0;
  while (n <= data.size()) {
    CAPTURE(n);
    Probe p;
    p.feed(0, data.first(n));
    if (p.status() != Status::need_more) {
      CHECK(answer_of(p) == final_answer);
      if (!answered) figures.needed = n;
      answered = true;
    }
    // Prefixes shorter than the magic bytes FF D8 FF are the sniffer's business, not this
    // parser's (it names them unsupported_format).
    if (n >= kJpegMagicLength) {
      p.finish();
      const bool truncated =
          p.status() == Status::error && p.error().code == ErrorCode::truncated;
      if (!truncated) CHECK(answer_of(p) == final_answer);
    }
    ++figures.prefixes;
    const bool near_the_answer = !answered || n < figures.needed + detail::kMaxWindow + 64;
    if (n == data.size()) break;
    n = near_the_answer ? n + 1 : std::min(n + 4099, data.size());
  }
  return figures;
}

struct FileFigures {
  PrefixFigures prefixes;
  std::size_t windows = 0;
};

// The checks that every file gets, whatever says what its answer should be.
FileFigures check_all_ways(const fs::path& path, std::span<const std::byte> data,
                           const Answer& whole) {
  FileFigures figures;
  for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
    CAPTURE(chunk);
    CHECK(probe_in_chunks(data, chunk) == whole);
  }
  const ExactReading exact = probe_exactly(data);
  CHECK(exact.answer == whole);
  figures.windows = exact.windows;
  figures.prefixes = check_prefixes(data, whole);

  const ProbeResult from_file = probe_file(path);
  CHECK(answer_of(from_file) == whole);
  CHECK(from_file.file_size == data.size());
  CHECK(from_file.bytes_read <= data.size());
  const ProbeResult exact_file = probe_file(path, FileProbeOptions{.min_read = 0});
  CHECK(answer_of(exact_file) == whole);
  // Reading only what the parser asks for never goes past the prefix that answers.
  if (whole.status == Status::done) CHECK(exact_file.bytes_read <= figures.prefixes.needed);
  return figures;
}

// stbi_info's answer, when it can read the file's header.
struct StbInfo {
  bool ok = false;
  int width = 0;
  int height = 0;
};

StbInfo stb_info(std::span<const std::byte> data) {
  StbInfo info;
  int components = 0;
  info.ok = stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(data.data()),
                                  static_cast<int>(data.size()), &info.width, &info.height,
                                  &components) == 1;
  return info;
}

// Whether stb_image's own frame header reading (its internals are compiled into this file)
// finds a progressive frame (SOF2).
bool stb_progressive(std::span<const std::byte> data) {
  stbi__context context;
  stbi__start_mem(&context, reinterpret_cast<const stbi_uc*>(data.data()),
                  static_cast<int>(data.size()));
  auto jpeg = std::make_unique<stbi__jpeg>();
  jpeg->s = &context;
  REQUIRE(stbi__decode_jpeg_header(jpeg.get(), STBI__SCAN_header) == 1);
  return jpeg->progressive != 0;
}

// The manifest rows that this run checks: all, or the one FACEGATE_CRAFTED_FILE names.
std::vector<CraftedFile> selected_rows() {
  std::vector<CraftedFile> rows = read_crafted_manifest("jpeg.tsv");
  const char* only = std::getenv("FACEGATE_CRAFTED_FILE");
  if (only == nullptr || *only == '\0') return rows;
  std::erase_if(rows, [&](const CraftedFile& row) { return row.file != only; });
  REQUIRE_MESSAGE(rows.size() == 1, "FACEGATE_CRAFTED_FILE=" << only << " is not in jpeg.tsv");
  return rows;
}

// Calls check(probe_memory of the file, its phrase) for each selected row that `phrases` names.
template <typename Check>
void for_phrases_of_rows(const std::map<std::string, std::string>& phrases, Check check) {
  for (const CraftedFile& row : selected_rows()) {
    const auto phrase = phrases.find(row.file);
    if (phrase == phrases.end()) continue;
    CAPTURE(row.file);
    check(probe_memory(read_bytes(crafted_dir() / row.file)), phrase->second);
  }
}

std::vector<fs::path> real_jpegs() {
  REQUIRE_MESSAGE(fs::is_directory(kLibjxlTestdata), "install libjxl-testdata");
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(kLibjxlTestdata)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    char magic[3] = {};
    in.read(magic, 3);
    if (in.gcount() == 3 && magic[0] == '\xFF' && magic[1] == '\xD8' && magic[2] == '\xFF') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  REQUIRE(!files.empty());
  return files;
}

}  // namespace

TEST_CASE("crafted: each file's answer is its manifest row, however the bytes come") {
  std::size_t prefixes = 0;
  std::size_t windows = 0;
  for (const CraftedFile& row : selected_rows()) {
    CAPTURE(row.file);
    const fs::path path = crafted_dir() / row.file;
    const std::vector<std::byte> data = read_bytes(path);
    const Answer answer = answer_of(probe_memory(data));
    // The manifest has no subtype, leniency or message column; the test cases "frame markers
    // name the coding process", "leniency notes say what libjpeg skips" and "error messages say
    // why" check them for chosen files.
    CHECK(manifest_fields(answer) == row.expected);
    CHECK(!answer.leniency.empty() == row.lenient);
    const FileFigures figures = check_all_ways(path, data, answer);
    prefixes += figures.prefixes.prefixes;
    windows += figures.windows;
  }
  MESSAGE("crafted JPEG files: prefixes probed " << prefixes << ", windows fed to an exact reader "
                                                  << windows);
}

TEST_CASE("crafted: stbi_info agrees wherever it reads the header") {
  std::size_t agreed = 0;
  for (const CraftedFile& row : selected_rows()) {
    CAPTURE(row.file);
    const std::vector<std::byte> data = read_bytes(crafted_dir() / row.file);
    const ProbeResult r = probe_memory(data);
    const StbInfo stb = stb_info(data);
    if (!stb.ok) continue;  // stb_image reads 8-bit SOF0-2 only, and no junk or odd markers
    // Never reject what a common decoder reads.
    CHECK(r.ok());
    CHECK(r.info.width == static_cast<std::uint32_t>(stb.width));
    CHECK(r.info.height == static_cast<std::uint32_t>(stb.height));
    ++agreed;
  }
  const char* only = std::getenv("FACEGATE_CRAFTED_FILE");
  if (only == nullptr || *only == '\0') CHECK(agreed >= 20);  // the plain 8-bit SOF0-2 files
}

TEST_CASE("crafted: frame markers name the coding process") {
  const std::map<std::string, std::string_view> subtypes = {
      {"jpeg-sof-c0.jpg", "baseline"},
      {"jpeg-sof-c1.jpg", "extended"},
      {"jpeg-sof-c2.jpg", "progressive"},
      {"jpeg-sof-c3.jpg", "lossless"},
      {"jpeg-sof-c5.jpg", "differential-sequential"},
      {"jpeg-sof-c6.jpg", "differential-progressive"},
      {"jpeg-sof-c7.jpg", "differential-lossless"},
      {"jpeg-sof-c9.jpg", "arithmetic-extended"},
      {"jpeg-sof-ca.jpg", "arithmetic-progressive"},
      {"jpeg-sof-cb.jpg", "arithmetic-lossless"},
      {"jpeg-sof-cd.jpg", "arithmetic-differential-sequential"},
      {"jpeg-sof-ce.jpg", "arithmetic-differential-progressive"},
      {"jpeg-sof-cf.jpg", "arithmetic-differential-lossless"},
      {"jpeg-dhp-hierarchical.jpg", "hierarchical"},
      {"jpeg-ls-sof55.jpg", "jpeg-ls"},
      {"jpeg-exif-60k.jpg", "baseline"},
  };
  std::size_t checked = 0;
  for (const CraftedFile& row : selected_rows()) {
    const auto expected = subtypes.find(row.file);
    if (expected == subtypes.end()) continue;
    CAPTURE(row.file);
    const ProbeResult r = probe_memory(read_bytes(crafted_dir() / row.file));
    CHECK(r.info.subtype == expected->second);
    ++checked;
  }
  // Every file of the table is in the manifest (all of them when not limited to one file).
  const char* only = std::getenv("FACEGATE_CRAFTED_FILE");
  if (only == nullptr || *only == '\0') CHECK(checked == subtypes.size());
}

TEST_CASE("crafted: error messages say why") {
  const std::map<std::string, std::string> phrases = {
      {"jpeg-dnl-zero-height.jpg", "defined by a DNL marker"},
      {"jpeg-sos-before-sof.jpg", "SOS (start of scan) marker before any SOF"},
      {"jpeg-eoi-before-sof.jpg", "EOI (end of image) marker before any SOF"},
      {"jpeg-segment-length-1.jpg", "segment length below 2"},
      {"jpeg-zero-width.jpg", "width is 0"},
      {"jpeg-sof-length-mismatch.jpg", "Lf = 8 + 3 * Nf"},
      {"jpeg-sof-too-short.jpg", "too short"},
  };
  for_phrases_of_rows(phrases, [](const ProbeResult& r, const std::string& phrase) {
    CHECK(r.error.message.find(phrase) != std::string::npos);
  });
}

TEST_CASE("crafted: leniency notes say what libjpeg skips") {
  const std::map<std::string, std::string> phrases = {
      {"jpeg-app1-length-1.jpg", "segment length below 2"},
      {"jpeg-app0-length-0.jpg", "segment length below 2"},
      {"jpeg-com-length-0-then-junk.jpg", "segment length below 2"},
      {"jpeg-junk-after-soi.jpg", "neither markers nor FF fill bytes"},
      {"jpeg-junk-between-segments.jpg", "neither markers nor FF fill bytes"},
  };
  for_phrases_of_rows(phrases, [](const ProbeResult& r, const std::string& phrase) {
    CHECK(r.ok());
    CHECK(std::string(r.info.leniency).find(phrase) != std::string::npos);
  });
}

TEST_CASE("a lenient read is an info finding of evaluate(), which does not change the decision") {
  const ModelRules* model = builtin_rules().rules.find("wan2.2-s2v-detect");
  REQUIRE(model != nullptr);
  // The same picture, 640x480, with and without an APP1 segment whose length is 1.
  const std::vector<std::byte> strict = read_bytes(crafted_dir() / "jpeg-sof-c0.jpg");
  std::vector<std::byte> lenient = strict;
  const std::byte short_app1[] = {std::byte{0xFF}, std::byte{0xE1}, std::byte{0x00},
                                  std::byte{0x01}};
  lenient.insert(lenient.begin() + 2, std::begin(short_app1), std::end(short_app1));
  const Verdict plain = evaluate(*model, subject_from_probe(probe_memory(strict),
                                                            SourceKind::url));
  const Verdict noted = evaluate(*model, subject_from_probe(probe_memory(lenient),
                                                            SourceKind::url));
  CHECK(plain.decision == Decision::pass);
  CHECK(noted.decision == plain.decision);
  REQUIRE(noted.findings.size() == plain.findings.size() + 1);
  const Finding& finding = noted.findings.front();
  CHECK(finding.code == "probe.lenient");
  CHECK(finding.severity == Severity::info);
  CHECK(finding.message.find("segment length below 2") != std::string::npos);
  // A probe that failed says so, and nothing about leniency.
  const Verdict failed = evaluate(
      *model, subject_from_probe(probe_memory(read_bytes(crafted_dir() / "jpeg-zero-width.jpg")),
                                 SourceKind::url));
  CHECK(std::none_of(failed.findings.begin(), failed.findings.end(),
                     [](const Finding& f) { return f.code == "probe.lenient"; }));
}

TEST_CASE("crafted: a 60 KB EXIF segment is skipped, not read") {
  const fs::path path = crafted_dir() / "jpeg-exif-60k.jpg";
  const ProbeResult r = probe_file(path);
  REQUIRE(r.ok());
  CHECK(r.info.orientation == 6);
  CHECK(*r.file_size > 60000);
  // Two reads of min_read (512) bytes: the file's start and the bytes after the segment.
  CHECK(r.bytes_read <= 1024);
  const ProbeResult exact = probe_file(path, FileProbeOptions{.min_read = 0});
  CHECK(exact.bytes_read < 200);
}

TEST_CASE("real JPEGs of libjxl-testdata: stbi_info's size, every prefix and chunking") {
  std::size_t files = 0;
  std::size_t prefixes = 0;
  std::size_t windows = 0;
  for (const fs::path& path : real_jpegs()) {
    CAPTURE(path);
    const std::vector<std::byte> data = read_bytes(path);
    const ProbeResult r = probe_memory(data);
    const StbInfo stb = stb_info(data);
    REQUIRE(stb.ok);
    CHECK(r.ok());
    CHECK(r.info.format == Format::jpeg);
    CHECK(r.info.width == static_cast<std::uint32_t>(stb.width));
    CHECK(r.info.height == static_cast<std::uint32_t>(stb.height));
    // None of these files has an orientation tag (`identify -format %[orientation]`:
    // Undefined for all); 1x1_exif_xmp.jpg has an EXIF IFD0 without one, and XMP.
    CHECK(r.info.orientation == 0);
    // stb_image reads SOF0-2 frames only; it says which ones are progressive.
    CHECK((r.info.subtype == "baseline" || r.info.subtype == "extended" ||
           r.info.subtype == "progressive"));
    CHECK((r.info.subtype == "progressive") == stb_progressive(data));
    const FileFigures figures = check_all_ways(path, data, answer_of(r));
    // The header is a small part of these files (the smallest is 4 KB, most are > 50 KB).
    CHECK(probe_file(path).bytes_read * 4 < data.size());
    prefixes += figures.prefixes.prefixes;
    windows += figures.windows;
    ++files;
  }
  MESSAGE("real JPEG files checked: " << files << ", prefixes probed " << prefixes
                                      << ", windows fed to an exact reader " << windows);
}
