// Whole-corpus agreement of the probe with the oracles of docs/design.md#the-probe-contract:
// stb_image's stbi_info for JPEG, PNG and BMP, libwebp's WebPGetInfo for WebP, over the corpus of
// tests/corpus.hpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "corpus.hpp"
#include "facegate/probe.hpp"
#include "probe_answer.hpp"

// stb_image is compiled here, for the oracle only, with the three formats that it shares with
// the probe. Its own warnings are not this project's.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

#include <webp/decode.h>

using namespace facegate;
using facegate::test::answer_of;
using facegate::test::corpus_directory;
using facegate::test::environment;
using facegate::test::shell_quoted;
using facegate::test::CorpusFile;
using facegate::test::is_rle_bmp;
using facegate::test::read_manifest;
using facegate::test::read_bytes;
namespace fs = std::filesystem;

namespace {

struct Dimensions {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  bool operator==(const Dimensions&) const = default;
};

/// A disagreement with the oracle that is right on our side, with the reason.
struct JustifiedDifference {
  std::string_view file;    ///< corpus file name
  std::string_view reason;  ///< why the oracle's answer is not the one to follow
};

// stb_image.h (stbi__bmp_parse_header) refuses BI_RLE8/BI_RLE4 compression, which BMP allows
// (Microsoft "Bitmap Compression"); ImageMagick writes 8-bit palette and grey images as RLE8 in
// both its BMPv3 and BMPv4/v5 output. The test checks that each such file is RLE indeed.
constexpr std::string_view kStbRejectsRle =
    "8-bit RLE BMP (biCompression 1): stbi_info refuses RLE, the header is valid";

// Every disagreement with an oracle that is expected, by corpus file. Each entry must still
// disagree (a stale entry fails the test). Conversions are also checked against the oracle's
// answer for their source, so a file whose own oracle rejects it is still checked.
const std::vector<JustifiedDifference> kJustifiedDifferences = {
    {"bmp/external__pngsuite__ccwn3p08.png.bmp", kStbRejectsRle},
    {"bmp/external__wesaturate__500px__cvo9xd_keong_macan_grayscale.png.bmp", kStbRejectsRle},
    {"bmp/external__wesaturate__64px__phu1or_alfann24_srgb8.png.bmp", kStbRejectsRle},
    {"bmp/external__wesaturate__64px__q3a0b3_d17ws_srgb8.png.bmp", kStbRejectsRle},
    {"bmp/external__wesaturate__64px__t0gho7_orlaustral_srgb8.png.bmp", kStbRejectsRle},
    {"bmp/jxl__animation_patches.gif.bmp", kStbRejectsRle},
    {"bmp/jxl__blending__cropped_traffic_light_frame-0.png.bmp", kStbRejectsRle},
    {"bmp/jxl__blending__cropped_traffic_light_frame-1.png.bmp", kStbRejectsRle},
    {"bmp/jxl__blending__cropped_traffic_light_frame-2.png.bmp", kStbRejectsRle},
    {"bmp/jxl__blending__cropped_traffic_light_frame-3.png.bmp", kStbRejectsRle},
    {"bmp/jxl__flower__flower.png.im_q85_gray.jpg.bmp", kStbRejectsRle},
    {"bmp/jxl__grayscale_patches.png.bmp", kStbRejectsRle},
    {"bmp/jxl__traffic_light.gif.bmp", kStbRejectsRle},
    {"bmp3/external__pngsuite__ccwn3p08.png.bmp", kStbRejectsRle},
    {"bmp3/external__wesaturate__500px__cvo9xd_keong_macan_grayscale.png.bmp", kStbRejectsRle},
    {"bmp3/external__wesaturate__64px__phu1or_alfann24_srgb8.png.bmp", kStbRejectsRle},
    {"bmp3/external__wesaturate__64px__q3a0b3_d17ws_srgb8.png.bmp", kStbRejectsRle},
    {"bmp3/external__wesaturate__64px__t0gho7_orlaustral_srgb8.png.bmp", kStbRejectsRle},
    {"bmp3/jxl__animation_patches.gif.bmp", kStbRejectsRle},
    {"bmp3/jxl__blending__cropped_traffic_light_frame-0.png.bmp", kStbRejectsRle},
    {"bmp3/jxl__blending__cropped_traffic_light_frame-1.png.bmp", kStbRejectsRle},
    {"bmp3/jxl__blending__cropped_traffic_light_frame-2.png.bmp", kStbRejectsRle},
    {"bmp3/jxl__blending__cropped_traffic_light_frame-3.png.bmp", kStbRejectsRle},
    {"bmp3/jxl__flower__flower.png.im_q85_gray.jpg.bmp", kStbRejectsRle},
    {"bmp3/jxl__grayscale_patches.png.bmp", kStbRejectsRle},
    {"bmp3/jxl__traffic_light.gif.bmp", kStbRejectsRle},
};

bool starts_with(std::span<const std::byte> bytes, std::size_t at, std::string_view text) {
  if (bytes.size() < at + text.size()) return false;
  return std::memcmp(bytes.data() + at, text.data(), text.size()) == 0;
}

/// The format by magic bytes, independently of the probe's sniffer: the oracle to ask.
Format format_by_magic(std::span<const std::byte> bytes) {
  if (starts_with(bytes, 0, "\xFF\xD8\xFF")) return Format::jpeg;            // ITU T.81 SOI
  if (starts_with(bytes, 0, "\x89PNG\r\n\x1A\n")) return Format::png;        // PNG spec 5.2
  if (starts_with(bytes, 0, "RIFF") && starts_with(bytes, 8, "WEBP")) return Format::webp;
  if (starts_with(bytes, 0, "BM")) return Format::bmp;
  if (starts_with(bytes, 0, "GIF87a") || starts_with(bytes, 0, "GIF89a")) return Format::gif;
  return Format::unknown;
}

/// The oracle's dimensions, or nothing when it rejects the file.
std::optional<Dimensions> oracle_dimensions(Format format, std::span<const std::byte> bytes) {
  if (format == Format::webp) {
    int width = 0;
    int height = 0;
    if (!WebPGetInfo(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), &width,
                     &height)) {
      return std::nullopt;
    }
    return Dimensions{static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height)};
  }
  int width = 0;
  int height = 0;
  int components = 0;
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX) ||
      !stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                             static_cast<int>(bytes.size()), &width, &height, &components)) {
    return std::nullopt;
  }
  return Dimensions{static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height)};
}

const JustifiedDifference* justified_difference(std::string_view file) {
  for (const auto& difference : kJustifiedDifferences) {
    if (difference.file == file) return &difference;
  }
  return nullptr;
}

std::string describe(const ProbeResult& result) {
  if (!result.ok()) {
    return std::string(error_code_name(result.error.code)) + ": " + result.error.message;
  }
  return std::string(format_name(result.info.format)) + " " + std::to_string(result.info.width) +
         "x" + std::to_string(result.info.height);
}

std::string describe(const std::optional<Dimensions>& oracle) {
  if (!oracle) return "rejected";
  return std::to_string(oracle->width) + "x" + std::to_string(oracle->height);
}

/// probe_file and probe_memory give the same answer for the same bytes.
void check_drivers_agree(const CorpusFile& file, const ProbeResult& from_file,
                         const ProbeResult& from_memory, std::size_t size) {
  INFO("file: " << file.name);
  CHECK(answer_of(from_file) == answer_of(from_memory));
  CHECK(from_file.file_size == std::optional<std::uint64_t>(size));
  CHECK(from_file.bytes_read <= size);
}

struct Tally {
  std::map<std::string, int> compared_by_format;
  int compared = 0;
  int justified = 0;
  int recognized_only = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_total = 0;
};

}  // namespace

TEST_CASE("every corpus file: probe_file and probe_memory agree with stbi_info / WebPGetInfo") {
  const fs::path directory = corpus_directory();
  std::vector<CorpusFile> files = read_manifest(directory);
  REQUIRE(files.size() >= 400);  // 86 sources and their conversions: not a vacuous pass
  // Originals first: a conversion keeps its source's dimensions, so the oracle's answer for the
  // source checks the conversion too.
  std::stable_partition(files.begin(), files.end(),
                        [](const CorpusFile& file) { return file.kind == "original"; });
  std::map<std::string, Dimensions> source_dimensions;

  Tally tally;
  std::vector<std::string_view> justified_seen;
  for (const CorpusFile& file : files) {
    INFO("file: " << file.name << " (from " << file.source << ")");
    const fs::path path = directory / file.name;
    const std::vector<std::byte> bytes = read_bytes(path);
    const ProbeResult from_file = probe_file(path);
    const ProbeResult from_memory = probe_memory(bytes);
    check_drivers_agree(file, from_file, from_memory, bytes.size());
    tally.bytes_read += from_file.bytes_read;
    tally.bytes_total += bytes.size();

    const Format format = format_by_magic(bytes);
    REQUIRE(format != Format::unknown);
    CHECK(from_file.info.format == format);
    if (!format_is_parsed(format)) {
      // GIF: recognized and named, dimensions not read (docs/design.md#the-probe-contract).
      CHECK(from_file.ok());
      CHECK_FALSE(from_file.info.has_dimensions());
      ++tally.recognized_only;
      continue;
    }

    const std::optional<Dimensions> oracle = oracle_dimensions(format, bytes);
    const std::optional<Dimensions> ours =
        from_file.ok() ? std::optional(Dimensions{from_file.info.width, from_file.info.height})
                       : std::nullopt;
    if (file.kind == "original" && oracle) source_dimensions[file.source] = *oracle;
    ++tally.compared;
    ++tally.compared_by_format[std::string(format_name(format))];

    INFO("probe: " << describe(from_file) << "; oracle: " << describe(oracle));
    const bool agrees = ours == oracle;
    if (const JustifiedDifference* difference = justified_difference(file.name)) {
      INFO("justified difference: " << difference->reason);
      CHECK_MESSAGE(!agrees, "listed as a justified difference but agrees now: remove it");
      if (difference->reason == kStbRejectsRle) CHECK(is_rle_bmp(bytes));
      justified_seen.push_back(difference->file);
      ++tally.justified;
    } else {
      CHECK_MESSAGE(agrees, "probe and oracle disagree");
    }
    if (const auto source = source_dimensions.find(file.source);
        ours && file.kind != "original" && source != source_dimensions.end()) {
      CHECK_MESSAGE(*ours == source->second, "a conversion changed the source's dimensions?");
    }
  }

  for (const auto& difference : kJustifiedDifferences) {
    INFO("justified difference for a file the corpus lacks: " << difference.file);
    CHECK(std::find(justified_seen.begin(), justified_seen.end(), difference.file) !=
          justified_seen.end());
  }
  for (const char* format : {"jpeg", "png", "bmp", "webp"}) {
    INFO("format: " << format);
    CHECK(tally.compared_by_format[format] >= 10);
  }

  std::printf("corpus: %zu files in %s; %d compared with an oracle (", files.size(),
              directory.c_str(), tally.compared);
  const char* separator = "";
  for (const auto& [format, count] : tally.compared_by_format) {
    std::printf("%s%s %d", separator, format.c_str(), count);
    separator = ", ";
  }
  std::printf("), %d of them justified differences; %d recognized-only (gif); probe_file read "
              "%llu of %llu bytes\n",
              tally.justified, tally.recognized_only,
              static_cast<unsigned long long>(tally.bytes_read),
              static_cast<unsigned long long>(tally.bytes_total));
}

// Never reject what a decoder accepts: every corpus file that vipsheader (libjpeg-turbo,
// libpng, libwebp, ImageMagick) or Pillow reads, `facegate probe --json` reads with the same
// size (tests/vips_agreement.py, which the vips_agreement test runs over libjxl-testdata and
// the crafted files). The corpus adds the WebP and BMP conversions.
TEST_CASE("every corpus file that vipsheader or Pillow reads, facegate reads with their size") {
  const fs::path directory = corpus_directory();
  const std::string python = environment("FACEGATE_PYTHON");
  const std::string facegate = environment("FACEGATE_EXE");
  const std::string vipsheader = environment("FACEGATE_VIPSHEADER");
  REQUIRE_MESSAGE(!python.empty(), "FACEGATE_PYTHON is not set (run through meson test)");
  REQUIRE_MESSAGE(!facegate.empty(), "FACEGATE_EXE is not set (build with -Dtool=true)");
  REQUIRE_MESSAGE(!vipsheader.empty(), "FACEGATE_VIPSHEADER is not set (run through meson test)");
  const std::string command =
      shell_quoted(python) + " " +
      shell_quoted(environment("FACEGATE_SOURCE_ROOT") + "/tests/vips_agreement.py") + " " +
      shell_quoted(facegate) + " --vipsheader " + shell_quoted(vipsheader) + " " +
      shell_quoted(directory.string());
  std::printf("running: %s\n", command.c_str());
  std::fflush(stdout);
  CHECK_MESSAGE(std::system(command.c_str()) == 0, "vips_agreement.py found disagreements");
}
