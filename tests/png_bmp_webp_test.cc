// The PNG, BMP and WebP header parsers (lib/formats/{png,bmp,webp}.cc) through the public probe.
//
// Every file is checked four ways: (1) probe_memory equals the expected answer (the manifest
// for crafted files, stbi_info and WebPGetInfo for real ones); (2) every prefix gives need_more
// or the final answer, and with finish() truncated or the final answer; (3) every chunk size
// 1..64 gives the answer of one buffer; (4) probe_file agrees, reading whole or exact windows.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <webp/decode.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "facegate/probe.hpp"
#include "probe_answer.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace {

namespace fs = std::filesystem;
using facegate::ErrorCode;
using facegate::Format;
using facegate::Status;
using Bytes = std::vector<std::byte>;
using facegate::test::Answer;
using facegate::test::answer_of;
using facegate::test::crafted_dir;
using facegate::test::manifest_fields;
using facegate::test::probe_in_chunks;
using facegate::test::read_bytes;
using facegate::test::read_crafted_manifest;

const fs::path kTestdata = "/usr/share/libjxl-testdata";

void write_file(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

const unsigned char* as_uchar(const Bytes& bytes) {
  return reinterpret_cast<const unsigned char*>(bytes.data());
}

Answer probe_bytes(const Bytes& bytes) { return answer_of(facegate::probe_memory(bytes)); }

std::string describe(const Answer& answer) {
  std::ostringstream text;
  text << answer;
  return text.str();
}

/// Collects the first disagreement of many comparisons, so that a failure prints one line.
struct Mismatches {
  int count = 0;
  std::string first;
  void check(bool ok, const std::string& what) {
    if (ok) return;
    if (count++ == 0) first = what;
  }
};

// (2) Every prefix: without finish() need_more or the final answer; with finish() truncated or
// the final answer. Once a prefix decides, longer ones read the same windows; prefixes are
// checked to well past that point and the whole input once more.
void check_prefixes(const Bytes& bytes, const Answer& final_answer, Mismatches& mismatches) {
  std::optional<std::size_t> decided_at;
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    if (decided_at && n > *decided_at + 512 && n != bytes.size()) continue;
    const std::span<const std::byte> prefix(bytes.data(), n);
    facegate::Probe open_probe;
    open_probe.feed(0, prefix);
    const Answer open = answer_of(open_probe);
    if (open.status != Status::need_more && !decided_at) decided_at = n;
    mismatches.check(open.status == Status::need_more || open == final_answer,
                     "prefix " + std::to_string(n) + " without finish: " + describe(open));
    facegate::Probe ended_probe;
    ended_probe.feed(0, prefix);
    ended_probe.finish();
    const Answer ended = answer_of(ended_probe);
    mismatches.check(
        (ended.status == Status::error && ended.error == ErrorCode::truncated) ||
            ended == final_answer,
        "prefix " + std::to_string(n) + " with finish: " + describe(ended));
  }
}

// (3) The whole input in chunks of every size from 1 to 64, as a stream would bring it.
void check_chunk_sizes(const Bytes& bytes, const Answer& final_answer, Mismatches& mismatches) {
  for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
    const Answer chunked = probe_in_chunks(bytes, chunk);
    mismatches.check(chunked == final_answer,
                     "chunk size " + std::to_string(chunk) + ": " + describe(chunked));
  }
}

// (4) probe_file, reading 512-byte blocks and reading exactly the windows the probe wants.
void check_probe_file(const fs::path& path, const Answer& final_answer, Mismatches& mismatches) {
  for (std::uint32_t min_read : {512u, 0u}) {
    const auto result = facegate::probe_file(path, facegate::FileProbeOptions{min_read});
    const Answer from_file = answer_of(result);
    mismatches.check(from_file == final_answer,
                     "probe_file min_read " + std::to_string(min_read) + ": " + describe(from_file));
    mismatches.check(result.file_size == fs::file_size(path), "probe_file: wrong file size");
  }
}

/// Checks (2), (3) and (4) for a file whose one-buffer answer is `final_answer`.
void check_every_way(const fs::path& path, const Bytes& bytes, const Answer& final_answer) {
  Mismatches mismatches;
  check_prefixes(bytes, final_answer, mismatches);
  check_chunk_sizes(bytes, final_answer, mismatches);
  check_probe_file(path, final_answer, mismatches);
  INFO(path.string(), ": one buffer gives ", describe(final_answer));
  INFO("first mismatch: ", mismatches.first);
  CHECK(mismatches.count == 0);
}

// --- Oracles -------------------------------------------------------------------------------

struct Dimensions {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

/// stbi_info's dimensions; a top-down BMP's negative height made positive.
std::optional<Dimensions> stb_dimensions(const Bytes& bytes) {
  int width = 0, height = 0, components = 0;
  if (!stbi_info_from_memory(as_uchar(bytes), static_cast<int>(bytes.size()), &width, &height,
                             &components)) {
    return std::nullopt;
  }
  return Dimensions{static_cast<std::uint32_t>(width),
                    static_cast<std::uint32_t>(height < 0 ? -static_cast<std::int64_t>(height)
                                                          : height)};
}

struct WebpFacts {
  Dimensions size;
  bool animated = false;
};

/// libwebp's WebPGetInfo dimensions and WebPGetFeatures' animation flag.
std::optional<WebpFacts> libwebp_facts(const Bytes& bytes) {
  int width = 0, height = 0;
  if (!WebPGetInfo(as_uchar(bytes), bytes.size(), &width, &height)) return std::nullopt;
  WebPBitstreamFeatures features{};
  if (WebPGetFeatures(as_uchar(bytes), bytes.size(), &features) != VP8_STATUS_OK) {
    return std::nullopt;
  }
  return WebpFacts{{static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height)},
                   features.has_animation != 0};
}

/// An independent check of APNG: an acTL chunk anywhere before the first IDAT (whole-buffer
/// walk over well-formed chunks).
bool png_has_actl_before_idat(const Bytes& bytes) {
  auto be32_at = [&](std::size_t i) {
    return std::uint32_t{std::to_integer<std::uint8_t>(bytes[i])} << 24 |
           std::uint32_t{std::to_integer<std::uint8_t>(bytes[i + 1])} << 16 |
           std::uint32_t{std::to_integer<std::uint8_t>(bytes[i + 2])} << 8 |
           std::to_integer<std::uint8_t>(bytes[i + 3]);
  };
  auto type_at = [&](std::size_t i) {
    return std::string(reinterpret_cast<const char*>(bytes.data() + i), 4);
  };
  for (std::size_t at = 8; at + 8 <= bytes.size(); at += 12 + std::size_t{be32_at(at)}) {
    if (type_at(at + 4) == "IDAT") return false;
    if (type_at(at + 4) == "acTL") return true;
  }
  return false;
}

Answer done(Format format, Dimensions size, bool animated, std::string subtype) {
  Answer answer;
  answer.status = Status::done;
  answer.format = format;
  answer.width = size.width;
  answer.height = size.height;
  answer.animated = animated;
  answer.subtype = std::move(subtype);
  return answer;
}

// --- Manifest ------------------------------------------------------------------------------

bool is_crafted_name(const std::string& name) {
  return name.starts_with("png-") || name.starts_with("bmp-") || name.starts_with("webp-");
}

// --- External converters -------------------------------------------------------------------

/// A fresh directory under the system's temporary directory, removed with its contents.
struct TemporaryDirectory {
  fs::path path;
  TemporaryDirectory() {
    std::string pattern = (fs::temp_directory_path() / "facegate-pbw-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

/// Runs a shell command that must succeed: a missing converter fails the test.
void run(const std::string& command) {
  INFO("command: ", command);
  REQUIRE(std::system(command.c_str()) == 0);
}

/// The path in single quotes for the shell (test paths hold no quote characters).
std::string shell_quoted(const fs::path& path) {
  std::string text = path.string();
  text.insert(text.begin(), '\'');
  text.push_back('\'');
  return text;
}

}  // namespace

TEST_CASE("crafted PNG, BMP and WebP files give the manifest's answer every way") {
  const fs::path dir = crafted_dir();
  const auto rows = read_crafted_manifest("png_bmp_webp.tsv");
  REQUIRE(rows.size() >= 40);

  // The manifest lists every crafted file of these formats, and only existing ones.
  std::vector<std::string> on_disk, listed;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (is_crafted_name(name)) on_disk.push_back(name);
  }
  for (const auto& row : rows) listed.push_back(row.file);
  std::sort(on_disk.begin(), on_disk.end());
  std::sort(listed.begin(), listed.end());
  CHECK(on_disk == listed);

  for (const auto& row : rows) {
    CAPTURE(row.file);
    const fs::path path = dir / row.file;
    const Bytes bytes = read_bytes(path);
    const Answer actual = probe_bytes(bytes);
    // The manifest has no subtype, leniency or message column; the test cases "subtypes name
    // the variant", "leniency notes name the departure" and "error messages say what is wrong"
    // check them for chosen files.
    CHECK(manifest_fields(actual) == row.expected);
    CHECK(!actual.leniency.empty() == row.lenient);
    check_every_way(path, bytes, actual);
  }
}

TEST_CASE("crafted files: subtypes name the variant and the header") {
  const fs::path dir = crafted_dir();
  const std::map<std::string, std::string> subtypes = {
      {"png-minimal.png", ""},         {"png-cgbi.png", "cgbi"},
      {"bmp-core-12.bmp", "os2-core"}, {"bmp-info-40.bmp", "info"},
      {"bmp-v2-52.bmp", "v2"},         {"bmp-v3-56.bmp", "v3"},
      {"bmp-os2-64.bmp", "os2-v2"},    {"bmp-v4-108.bmp", "v4"},
      {"bmp-v5-124.bmp", "v5"},        {"bmp-os2-16.bmp", "os2-v2"},
      {"bmp-dib-size-20.bmp", ""},     {"webp-vp8-scale.webp", "vp8"},
      {"webp-vp8l.webp", "vp8l"},      {"webp-vp8x-animated.webp", "vp8x"},
  };
  for (const auto& entry : subtypes) {
    const std::string& file = entry.first;
    CAPTURE(file);
    CHECK(probe_bytes(read_bytes(dir / file)).subtype == entry.second);
  }
}

TEST_CASE("error messages say what is wrong") {
  const fs::path dir = crafted_dir();
  auto message_of = [&](const char* file) {
    return facegate::probe_memory(read_bytes(dir / file)).error.message;
  };
  CHECK(message_of("webp-unknown-first-chunk.webp").find("'ALPH'") != std::string::npos);
  CHECK(message_of("png-idat-before-ihdr.png").find("before IHDR") != std::string::npos);
  CHECK(message_of("png-bad-chunk-type.png").find("four ASCII letters") != std::string::npos);
  CHECK(message_of("bmp-unknown-dib-size.bmp").find("DIB header size") != std::string::npos);
  CHECK(message_of("webp-vp8-bad-start-code.webp").find("start code") != std::string::npos);
}

TEST_CASE("leniency notes name the departure and the decoder that reads past it") {
  const fs::path dir = crafted_dir();
  const std::map<std::string, std::string> phrases = {
      {"png-ihdr-not-first.png", "chunks before IHDR"},
      {"png-chunk-type-digit.png", "a digit or '_'"},
      {"png-ihdr-length-14.png", "longer than 13"},
      {"png-compression-method-1.png", "compression method"},
      {"png-interlace-method-2.png", "interlace method"},
      {"bmp-dib-size-20.bmp", "ImageMagick"},
      {"bmp-dib-size-100.bmp", "ImageMagick"},
  };
  for (const auto& entry : phrases) {
    const std::string& file = entry.first;
    CAPTURE(file);
    const facegate::ProbeResult result = facegate::probe_memory(read_bytes(dir / file));
    CHECK(result.ok());
    CHECK(std::string(result.info.leniency).find(entry.second) != std::string::npos);
  }
}

TEST_CASE("PNG chunk bodies before IDAT are skipped, not read") {
  const fs::path path = crafted_dir() / "png-big-text.png";
  const auto result = facegate::probe_file(path, facegate::FileProbeOptions{0});
  REQUIRE(result.ok());
  // Signature is sniffed, then: IHDR header and body, tEXt header, IDAT header.
  CHECK(result.bytes_read < 128);
  CHECK(*result.file_size > 6000);
}

TEST_CASE("PNGs of libjxl-testdata (PngSuite and photos) agree with stbi_info") {
  int checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kTestdata)) {
    if (entry.path().extension() != ".png") continue;
    const fs::path& path = entry.path();
    CAPTURE(path.string());
    const Bytes bytes = read_bytes(path);
    const Answer actual = probe_bytes(bytes);
    // PngSuite's deliberately corrupt files start with 'x'.
    const bool corrupt = path.parent_path().filename() == "pngsuite" &&
                         path.filename().string().starts_with("x");
    if (corrupt) {
      CHECK(actual.status == Status::error);
    } else {
      const auto size = stb_dimensions(bytes);
      REQUIRE(size.has_value());
      CHECK(actual == done(Format::png, *size, png_has_actl_before_idat(bytes), ""));
    }
    check_every_way(path, bytes, actual);
    ++checked;
  }
  MESSAGE("PNG files checked: ", checked);
  CHECK(checked >= 60);
}

TEST_CASE("cwebp, img2webp and convert outputs agree with libwebp and stb_image") {
  const TemporaryDirectory tmp;
  struct Source {
    fs::path path;
    bool has_alpha;
    // convert's "BMP:" writes BITMAPV4HEADER or BITMAPV5HEADER depending on the image's
    // colour metadata; these are the choices of Debian 12's ImageMagick 6.9.11.
    const char* bmp_subtype;
  };
  const std::vector<Source> sources = {
      {kTestdata / "external/pngsuite/ccwn2c08.png", false, "v4"},      // RGB, 32x32
      {kTestdata / "external/pngsuite/g10n3p04.png", false, "v4"},      // 4-bit palette
      {kTestdata / "jxl/blending/cropped_traffic_light_frame-0.png", false, "v5"},  // 50x80
      {kTestdata / "dots/ellipses.png", false, "v5"},                   // 256x128
      {kTestdata / "external/wesaturate/500px/tmshre_riaphotographs_alpha.png", true, "v5"},
      {kTestdata / "external/wesaturate/500px/cvo9xd_keong_macan_grayscale.png", false, "v4"},
  };
  int webp_checked = 0;
  int bmp_checked = 0;

  auto check_webp = [&](const fs::path& path, Dimensions source_size, bool animated,
                        const char* subtype) {
    CAPTURE(path.string());
    const Bytes bytes = read_bytes(path);
    const auto facts = libwebp_facts(bytes);
    REQUIRE(facts.has_value());
    CHECK(facts->size.width == source_size.width);
    CHECK(facts->size.height == source_size.height);
    CHECK(facts->animated == animated);
    const Answer actual = probe_bytes(bytes);
    CHECK(actual == done(Format::webp, facts->size, facts->animated, subtype));
    check_every_way(path, bytes, actual);
    ++webp_checked;
  };
  // stb_image rejects RLE-compressed BMPs (stb_image.h: "BMP type not supported: RLE"); the
  // source PNG's size is then the only oracle.
  auto check_bmp = [&](const fs::path& path, Dimensions source_size, const char* subtype,
                       bool stb_reads_it) {
    CAPTURE(path.string());
    const Bytes bytes = read_bytes(path);
    const auto size = stb_dimensions(bytes);
    CHECK(size.has_value() == stb_reads_it);
    if (size) {
      CHECK(size->width == source_size.width);
      CHECK(size->height == source_size.height);
    }
    const Answer actual = probe_bytes(bytes);
    CHECK(actual == done(Format::bmp, source_size, false, subtype));
    check_every_way(path, bytes, actual);
    ++bmp_checked;
  };

  for (const Source& each : sources) {
    const fs::path& source = each.path;
    CAPTURE(source.string());
    const auto source_size = stb_dimensions(read_bytes(source));
    REQUIRE(source_size.has_value());
    const fs::path out = tmp.path / source.stem();

    run("cwebp -quiet -q 80 " + shell_quoted(source) + " -o " + shell_quoted(out.string() + "-lossy.webp"));
    run("cwebp -quiet -lossless " + shell_quoted(source) + " -o " +
        shell_quoted(out.string() + "-lossless.webp"));
    // Lossy with alpha needs an ALPH chunk, hence the extended format (RFC 9649 section 2.7).
    check_webp(out.string() + "-lossy.webp", *source_size, false, each.has_alpha ? "vp8x" : "vp8");
    check_webp(out.string() + "-lossless.webp", *source_size, false, "vp8l");

    // Uncompressed: convert writes a greyscale palette as RLE8 otherwise, which stb_image
    // does not read (the RLE case comes separately below).
    // One convert writes the three versions (-write saves the image and goes on).
    run("convert " + shell_quoted(source) + " -compress None -write BMP3:" +
        shell_quoted(out.string() + "-v3.bmp") + " -write BMP2:" +
        shell_quoted(out.string() + "-os2.bmp") + " BMP:" + shell_quoted(out.string() + "-v4-v5.bmp"));
    check_bmp(out.string() + "-v3.bmp", *source_size, "info", true);
    check_bmp(out.string() + "-v4-v5.bmp", *source_size, each.bmp_subtype, true);
    check_bmp(out.string() + "-os2.bmp", *source_size, "os2-core", true);

    // convert cannot write top-down rows: negate the height of its BMP3 output (the header
    // then says top-down; the rows read flipped, which a header probe cannot tell).
    Bytes top_down = read_bytes(out.string() + "-v3.bmp");
    REQUIRE(top_down.size() > 26);
    const std::uint32_t negated = 0u - source_size->height;
    for (int i = 0; i < 4; ++i) top_down[22 + i] = static_cast<std::byte>(negated >> (8 * i));
    write_file(out.string() + "-top-down.bmp", top_down);
    check_bmp(out.string() + "-top-down.bmp", *source_size, "info", true);
  }

  // An RLE8-compressed BMP3: a valid header that stb_image does not read.
  const fs::path rle = tmp.path / "ellipses-rle.bmp";
  run("convert " + shell_quoted(kTestdata / "dots/ellipses.png") +
      " -colors 16 -type Palette -compress RLE BMP3:" + shell_quoted(rle));
  check_bmp(rle, Dimensions{256, 128}, "info", false);

  // An animation: four 50x80 frames; img2webp writes VP8X with the animation flag.
  const fs::path frames = kTestdata / "jxl/blending";
  const fs::path animation = tmp.path / "traffic-light.webp";
  run("img2webp -loop 0 " + shell_quoted(frames / "cropped_traffic_light_frame-0.png") + " " +
      shell_quoted(frames / "cropped_traffic_light_frame-1.png") + " " +
      shell_quoted(frames / "cropped_traffic_light_frame-2.png") + " " +
      shell_quoted(frames / "cropped_traffic_light_frame-3.png") + " -o " + shell_quoted(animation));
  check_webp(animation, Dimensions{50, 80}, true, "vp8x");

  MESSAGE("WebP files checked: ", webp_checked, ", BMP files checked: ", bmp_checked);
  CHECK(webp_checked == 2 * static_cast<int>(sources.size()) + 1);
  CHECK(bmp_checked == 4 * static_cast<int>(sources.size()) + 1);
}
