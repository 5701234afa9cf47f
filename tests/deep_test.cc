// The deep check: every intact corpus image decodes, every corpus image cut inside its image
// data (header intact: the probe still passes) is found corrupt, the limits refuse before
// allocating, a 7000 x 7000 image decodes within deep_memory_bound() and gives its memory back,
// and what stb_image cannot decode is not called corrupt.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "corpus.hpp"
#include "facegate/deep.hpp"
#include "facegate/probe.hpp"
#include "probe_answer.hpp"
#include "process_memory.hpp"

using namespace facegate;
using namespace facegate::test;
namespace fs = std::filesystem;

namespace {

// --- PNG files made here (PNG specification 5: signature and chunks; 11.2.2: IHDR)

void append_32(std::vector<std::byte>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::byte>(value >> shift));
}

void append_chunk(std::vector<std::byte>& out, const char* type, std::span<const std::byte> data) {
  append_32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t type_at = out.size();
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(type[i]));
  out.insert(out.end(), data.begin(), data.end());
  const auto* covered = reinterpret_cast<const Bytef*>(out.data() + type_at);
  append_32(out, static_cast<std::uint32_t>(crc32_z(0, covered, 4 + data.size())));
}

// An 8-bit PNG of `channels` (1 grey, 3 RGB) whose IDAT holds `rows` rows of filter type 0
// and a gradient, compressed as they are made (a 7000 x 7000 image is never whole in memory).
// `rows` above `height` makes a zlib stream that inflates past the image.
std::vector<std::byte> make_png(std::uint32_t width, std::uint32_t height, int channels,
                                std::uint64_t rows) {
  std::vector<std::byte> png;
  for (int c : {0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A})
    png.push_back(static_cast<std::byte>(c));
  std::vector<std::byte> header;
  append_32(header, width);
  append_32(header, height);
  for (int field : {8, channels == 1 ? 0 : 2, 0, 0, 0})
    header.push_back(static_cast<std::byte>(field));
  append_chunk(png, "IHDR", header);

  z_stream stream{};
  REQUIRE(deflateInit(&stream, 1) == Z_OK);
  std::vector<std::byte> compressed;
  std::vector<unsigned char> row(1 + std::size_t{width} * channels);
  std::vector<unsigned char> chunk(1 << 16);
  const auto drain = [&](int flush) {
    int status = Z_OK;
    do {
      stream.next_out = chunk.data();
      stream.avail_out = static_cast<uInt>(chunk.size());
      status = deflate(&stream, flush);
      if (status == Z_STREAM_ERROR) FAIL("deflate failed");  // not REQUIRE: a million rows
      const auto* made = reinterpret_cast<const std::byte*>(chunk.data());
      compressed.insert(compressed.end(), made, made + (chunk.size() - stream.avail_out));
    } while (stream.avail_out == 0 || (flush == Z_FINISH && status != Z_STREAM_END));
  };
  for (std::uint64_t y = 0; y < rows; ++y) {
    for (std::size_t x = 1; x < row.size(); ++x) row[x] = static_cast<unsigned char>((x + y) / 64);
    stream.next_in = row.data();
    stream.avail_in = static_cast<uInt>(row.size());
    drain(Z_NO_FLUSH);
  }
  drain(Z_FINISH);
  deflateEnd(&stream);
  append_chunk(png, "IDAT", compressed);
  append_chunk(png, "IEND", {});
  return png;
}

// A 24-bit BMP (BITMAPFILEHEADER, BITMAPINFOHEADER, rows padded to 4 bytes), stored top down
// (negative height) when asked.
std::vector<std::byte> make_bmp(std::int32_t width, std::int32_t height, bool top_down) {
  const std::uint32_t row = (static_cast<std::uint32_t>(width) * 3 + 3) / 4 * 4;
  const std::uint32_t pixels = row * static_cast<std::uint32_t>(height);
  std::vector<std::byte> bmp;
  const auto append_le = [&](std::uint32_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) bmp.push_back(static_cast<std::byte>(value >> (8 * i)));
  };
  bmp.push_back(std::byte{'B'});
  bmp.push_back(std::byte{'M'});
  append_le(54 + pixels, 4);  // bfSize
  append_le(0, 4);            // reserved
  append_le(54, 4);           // bfOffBits
  append_le(40, 4);           // biSize
  append_le(static_cast<std::uint32_t>(width), 4);
  append_le(static_cast<std::uint32_t>(top_down ? -height : height), 4);
  append_le(1, 2);                                          // planes
  append_le(24, 2);                                         // bits per pixel
  for (int field = 0; field < 6; ++field) append_le(0, 4);  // BI_RGB, sizes, resolution, colours
  for (std::uint32_t i = 0; i < pixels; ++i) bmp.push_back(static_cast<std::byte>(i));
  return bmp;
}

ImageInfo probed(std::span<const std::byte> bytes) {
  const ProbeResult result = probe_memory(bytes);
  REQUIRE_MESSAGE(result.ok(), result.error.message);
  return result.info;
}

// --- The corpus

struct CorpusImage {
  std::string name;
  std::vector<std::byte> bytes;
  ImageInfo header;
};

// The corpus's JPEG, PNG, BMP and WebP files whose header the probe reads.
const std::vector<CorpusImage>& corpus_images() {
  static const std::vector<CorpusImage> images = [] {
    std::vector<CorpusImage> found;
    const fs::path directory = corpus_directory();
    for (const CorpusFile& file : read_manifest(directory)) {
      std::vector<std::byte> bytes = read_bytes(directory / file.name);
      const ProbeResult result = probe_memory(bytes);
      if (!result.ok() || !format_is_parsed(result.info.format)) continue;  // GIF
      found.push_back(CorpusImage{file.name, std::move(bytes), result.info});
    }
    return found;
  }();
  return images;
}

// Where the header ends: the end of the last window the probe asked for.
std::size_t header_end(std::span<const std::byte> bytes) {
  Probe probe;
  std::uint64_t end = 0;
  while (probe.status() == Status::need_more) {
    const Want want = probe.want();
    end = std::min<std::uint64_t>(want.offset + want.length, bytes.size());
    probe.feed(want.offset, bytes.subspan(want.offset, end - want.offset));
    if (end == bytes.size()) probe.finish();
  }
  return end;
}

std::uint32_t little_endian(std::span<const std::byte> bytes, std::size_t at, int length) {
  std::uint32_t value = 0;
  for (int i = length - 1; i >= 0; --i)
    value = value << 8 | static_cast<std::uint32_t>(bytes[at + i]);
  return value;
}

// Where the image data ends: after the JPEG's last EOI marker; after the WebP's RIFF chunk;
// after a BMP's pixel rows (ImageMagick puts a v5 header's ICC profile after them); the end
// of the file for PNG (IEND is last in the corpus).
std::size_t data_end(const CorpusImage& image) {
  const std::span<const std::byte> bytes = image.bytes;
  switch (image.header.format) {
    case Format::jpeg:
      for (std::size_t at = bytes.size() - 1; at > 0; --at) {
        if (bytes[at - 1] == std::byte{0xFF} && bytes[at] == std::byte{0xD9}) return at + 1;
      }
      FAIL("no EOI marker in " << image.name);
      return 0;
    case Format::webp:
      return std::min<std::size_t>(8 + little_endian(bytes, 4, 4), bytes.size());
    case Format::bmp: {
      // BITMAPINFOHEADER and later (the corpus's): bfOffBits at 10, biBitCount at 28; rows are
      // padded to 4 bytes (Microsoft, "Bitmap Storage").
      REQUIRE(little_endian(bytes, 14, 4) >= 40);
      const std::uint64_t row =
          (std::uint64_t{image.header.width} * little_endian(bytes, 28, 2) + 31) / 32 * 4;
      return std::min<std::size_t>(little_endian(bytes, 10, 4) + row * image.header.height,
                                   bytes.size());
    }
    default:
      return bytes.size();
  }
}

// Cuts strictly inside the image data: a quarter, half and three quarters of the way, and one
// byte short of its end.
std::vector<std::size_t> cut_points(const CorpusImage& image) {
  const std::size_t begin = header_end(image.bytes);
  const std::size_t end = data_end(image);
  std::vector<std::size_t> cuts;
  for (std::size_t point : {begin + (end - begin) / 4, begin + (end - begin) / 2,
                            begin + (end - begin) * 3 / 4, end - 1}) {
    if (point > begin && point < end && std::find(cuts.begin(), cuts.end(), point) == cuts.end()) {
      cuts.push_back(point);
    }
  }
  return cuts;
}

using test::reset_peak_rss;
using test::status_bytes;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAddressSanitizer = true;
#else
constexpr bool kUnderAddressSanitizer = false;
#endif
#else
constexpr bool kUnderAddressSanitizer = false;
#endif

}  // namespace

TEST_CASE("every intact corpus image decodes; RLE BMPs are not checked, not corrupt") {
  const std::vector<CorpusImage>& images = corpus_images();
  REQUIRE(images.size() >= 400);
  std::map<std::string, int> decoded_by_format;
  int not_checked = 0;
  for (const CorpusImage& image : images) {
    INFO("file: " << image.name);
    const DeepResult deep = deep_decode(image.bytes, image.header);
    INFO("deep: " << deep_outcome_name(deep.outcome) << " " << deep.reason);
    if (image.header.format == Format::bmp && is_rle_bmp(image.bytes)) {
      CHECK(deep.outcome == DeepOutcome::not_checked);
      CHECK(deep.reason == "stb_image does not decode this variant: BMP RLE");
      ++not_checked;
      continue;
    }
    REQUIRE(deep.ok());
    CHECK(deep.reason.empty());
    const std::uint64_t area = std::uint64_t{image.header.width} * image.header.height;
    if (image.header.animated) {
      CHECK(deep.pixels % area == 0);
      CHECK(deep.pixels >= area);
    } else {
      CHECK(deep.pixels == area);
    }
    ++decoded_by_format[std::string(format_name(image.header.format))];
  }
  for (const char* format : {"jpeg", "png", "bmp", "webp"}) {
    INFO("format: " << format);
    CHECK(decoded_by_format[format] >= 10);
  }
  CHECK(not_checked > 0);
  std::printf(
      "deep: %zu corpus images, %d decoded (jpeg %d, png %d, bmp %d, webp %d), %d RLE "
      "BMPs not checked\n",
      images.size(), static_cast<int>(images.size()) - not_checked, decoded_by_format["jpeg"],
      decoded_by_format["png"], decoded_by_format["bmp"], decoded_by_format["webp"], not_checked);
}

TEST_CASE("every corpus image cut inside its image data: the probe passes, deep finds it corrupt") {
  int cuts_checked = 0;
  for (const CorpusImage& image : corpus_images()) {
    if (image.header.format == Format::bmp && is_rle_bmp(image.bytes)) continue;  // not checked
    for (const std::size_t cut : cut_points(image)) {
      INFO("file: " << image.name << " cut to " << cut << " of " << image.bytes.size() << " bytes");
      const std::span<const std::byte> prefix = std::span<const std::byte>(image.bytes).first(cut);
      const ProbeResult header_only = probe_memory(prefix);
      REQUIRE(header_only.ok());
      CHECK(header_only.info.width == image.header.width);
      const DeepResult deep = deep_decode(prefix, header_only.info);
      INFO("deep: " << deep_outcome_name(deep.outcome) << " " << deep.reason);
      CHECK(deep.outcome == DeepOutcome::corrupt);
      CHECK_FALSE(deep.reason.empty());
      ++cuts_checked;
    }
  }
  CHECK(cuts_checked >= 1500);
  std::printf("deep: %d cut corpus images found corrupt\n", cuts_checked);
}

TEST_CASE("PNG: a flipped byte fails its chunk's CRC; a missing IEND is a cut") {
  std::vector<std::byte> png = make_png(64, 48, 3, 48);
  REQUIRE(deep_decode(png, probed(png)).ok());
  const ImageInfo header = probed(png);

  std::vector<std::byte> flipped = png;
  constexpr std::size_t kIdatData = 8 + 25 + 8;  // signature, IHDR chunk, IDAT length and type
  flipped[kIdatData + 5] ^= std::byte{0x01};
  DeepResult deep = deep_decode(flipped, header);
  CHECK(deep.outcome == DeepOutcome::corrupt);
  CHECK(deep.reason == "PNG IDAT chunk at offset 33: CRC mismatch");

  deep = deep_decode(std::span<const std::byte>(png).first(png.size() - 12), header);
  CHECK(deep.outcome == DeepOutcome::corrupt);
  CHECK(deep.reason == "PNG data ends before the IEND chunk");
  deep = deep_decode(std::span<const std::byte>(png).first(png.size() - 2), header);
  CHECK(deep.reason ==
        "PNG data ends inside the IEND chunk at offset " + std::to_string(png.size() - 12));
}

TEST_CASE("BMP: bottom-up and top-down (negative height) decode; one byte short is a cut") {
  for (const bool top_down : {false, true}) {
    INFO("top down: " << top_down);
    const std::vector<std::byte> bmp = make_bmp(5, 3, top_down);
    const ImageInfo header = probed(bmp);
    CHECK(header.height == 3);
    const DeepResult deep = deep_decode(bmp, header);
    CHECK_MESSAGE(deep.ok(), deep.reason);
    CHECK(deep.pixels == 15);
    // The last byte is row padding, which stb_image skips: a skip past the end is a cut too.
    const DeepResult cut =
        deep_decode(std::span<const std::byte>(bmp).first(bmp.size() - 1), header);
    CHECK(cut.outcome == DeepOutcome::corrupt);
    CHECK(cut.reason == "the data ends before the image does (stb_image read past the end)");
  }
}

TEST_CASE("limits: refused before decoding, by the header's size and by the decoder's own") {
  const std::vector<std::byte> png = make_png(200, 100, 1, 100);
  const ImageInfo header = probed(png);
  DeepResult deep = deep_decode(png, header, DeepLimits{.max_pixels = 19'999});
  CHECK(deep.outcome == DeepOutcome::refused);
  CHECK(deep.reason ==
        "the header's 200 x 100 (20000 pixels) is above the deep-decode limit of 19999 pixels");
  CHECK(deep.pixels == 0);
  CHECK(deep_decode(png, header, DeepLimits{.max_pixels = 20'000}).ok());

  // A header that understates the size: the decoder's own reading is checked too.
  ImageInfo understated = header;
  understated.width = 10;
  understated.height = 10;
  deep = deep_decode(png, understated, DeepLimits{.max_pixels = 100});
  CHECK(deep.outcome == DeepOutcome::refused);
  CHECK(deep.reason ==
        "stb_image reads 200 x 100 (20000 pixels) is above the deep-decode limit of 100 pixels");
}

TEST_CASE("memory bound: a zlib stream that inflates far past the image is refused") {
  // 100 x 100 grey, but 1,000,000 rows of data: 100 MB inflated, 100 KB compressed.
  const std::vector<std::byte> bomb = make_png(100, 100, 1, 1'000'000);
  const ImageInfo header = probed(bomb);
  const DeepResult deep = deep_decode(bomb, header);
  CHECK(deep.outcome == DeepOutcome::refused);
  CHECK(deep.reason == "the decode needs more than the memory bound of " +
                           std::to_string(deep_memory_bound(header, bomb.size())) + " bytes");
}

TEST_CASE("a 7000 x 7000 image decodes within deep_memory_bound and gives the memory back") {
  const std::vector<std::byte> png = make_png(7000, 7000, 3, 7000);
  const ImageInfo header = probed(png);
  const std::uint64_t bound = deep_memory_bound(header, png.size());
  CHECK(deep_decode(png, header, DeepLimits{.max_pixels = 48'999'999}).outcome ==
        DeepOutcome::refused);

  const std::uint64_t before = status_bytes("VmRSS:");
  reset_peak_rss();
  const DeepResult deep = deep_decode(png, header, DeepLimits{.max_pixels = 49'000'000});
  const std::uint64_t peak = status_bytes("VmHWM:") - before;
  const std::uint64_t after = status_bytes("VmRSS:");
  REQUIRE_MESSAGE(deep.ok(), deep.reason);
  CHECK(deep.pixels == 49'000'000u);
  std::printf(
      "deep: 7000 x 7000 RGB PNG of %zu bytes decoded in %llu us, peak RSS +%llu MB, "
      "bound %llu MB\n",
      png.size(), static_cast<unsigned long long>(deep.microseconds),
      static_cast<unsigned long long>(peak >> 20), static_cast<unsigned long long>(bound >> 20));
  // The decode holds the inflated rows and the pixels, 3 bytes a pixel each: it really ran.
  CHECK(peak > 2 * 49'000'000ull * 3 * 9 / 10);
  CHECK(peak <= bound);
  // Under AddressSanitizer freed blocks wait in its quarantine and the resident size stays up;
  // LeakSanitizer checks at exit that they were freed.
  if (!kUnderAddressSanitizer) CHECK(after <= before + (16 << 20));
}

TEST_CASE("what stb_image cannot decode is not checked, not corrupt") {
  ImageInfo gif;
  gif.format = Format::gif;
  DeepResult deep = deep_decode({}, gif);
  CHECK(deep.outcome == DeepOutcome::not_checked);
  CHECK(deep.reason == "deep decode reads jpeg, png, bmp and webp, not gif");

  for (const char* subtype : {"lossless", "arithmetic-extended", "hierarchical", "jpeg-ls"}) {
    ImageInfo jpeg;
    jpeg.format = Format::jpeg;
    jpeg.width = 8;
    jpeg.height = 8;
    jpeg.subtype = subtype;
    deep = deep_decode({}, jpeg);
    CHECK(deep.outcome == DeepOutcome::not_checked);
    CHECK(deep.reason == std::string("stb_image decodes baseline, extended and progressive "
                                     "Huffman-coded JPEG, not ") +
                             subtype);
  }

  // Crafted files: a BMP with a 52-byte info header (BITMAPV2INFOHEADER), an extended JPEG of
  // 12-bit samples.
  for (const auto& crafted : {std::pair{"bmp-v2-52.bmp", "unknown BMP"},
                               std::pair{"jpeg-sof-c1.jpg", "only 8-bit"}}) {
    const auto& [file, reason] = crafted;
    const char* const file_name = file;  // INFO's lambda cannot capture a binding (clang 14)
    INFO("file: " << file_name);
    const std::vector<std::byte> bytes = read_bytes(crafted_dir() / file);
    deep = deep_decode(bytes, probed(bytes));
    CHECK(deep.outcome == DeepOutcome::not_checked);
    CHECK(deep.reason == std::string("stb_image does not decode this variant: ") + reason);
  }
}

TEST_CASE("deep_decode_file: the same result as from memory; the read limit; io errors") {
  const CorpusImage& image = corpus_images().front();
  const fs::path path = corpus_directory() / image.name;
  const DeepResult from_file = deep_decode_file(path, image.header);
  const DeepResult from_memory = deep_decode(image.bytes, image.header);
  CHECK(from_file.outcome == from_memory.outcome);
  CHECK(from_file.pixels == from_memory.pixels);

  DeepResult deep =
      deep_decode_file(path, image.header, DeepLimits{.max_file_bytes = image.bytes.size() - 1});
  CHECK(deep.outcome == DeepOutcome::refused);
  CHECK(deep.reason == "the file's " + std::to_string(image.bytes.size()) +
                           " bytes are above the deep-decode read limit of " +
                           std::to_string(image.bytes.size() - 1) + " bytes");
  CHECK(
      deep_decode_file(path, image.header, DeepLimits{.max_file_bytes = image.bytes.size()}).ok());

  deep = deep_decode_file("/nonexistent/deep.png", image.header);
  CHECK(deep.outcome == DeepOutcome::io);
  CHECK(deep.reason == "cannot open /nonexistent/deep.png: No such file or directory");
  deep = deep_decode_file("/", image.header);
  CHECK(deep.outcome == DeepOutcome::io);
  CHECK(deep.reason == "cannot read /: not a regular file");
}

TEST_CASE("decodes on two threads at once give the results of one thread") {
  // Every tenth corpus image, intact and cut in half, so that failures (stb_image's reason is
  // per thread) run at once too.
  std::vector<std::pair<std::span<const std::byte>, const ImageInfo*>> inputs;
  const std::vector<CorpusImage>& images = corpus_images();
  for (std::size_t i = 0; i < images.size(); i += 10) {
    const std::span<const std::byte> bytes = images[i].bytes;
    inputs.emplace_back(bytes, &images[i].header);
    inputs.emplace_back(bytes.first(bytes.size() / 2), &images[i].header);
  }
  const auto outcome = [](const auto& input) {
    const DeepResult deep = deep_decode(input.first, *input.second);
    return std::string(deep_outcome_name(deep.outcome)) + " " + deep.reason;
  };
  std::vector<std::string> alone;
  for (const auto& input : inputs) alone.push_back(outcome(input));
  std::vector<std::string> forward;
  std::vector<std::string> backward;
  std::thread other([&] {
    for (auto input = inputs.rbegin(); input != inputs.rend(); ++input)
      backward.push_back(outcome(*input));
  });
  for (const auto& input : inputs) forward.push_back(outcome(input));
  other.join();
  std::reverse(backward.begin(), backward.end());
  CHECK(forward == alone);
  CHECK(backward == alone);
}
