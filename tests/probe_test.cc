// The probe driver's contract (docs/design.md#the-probe-contract), seen through the public API.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "facegate/probe.hpp"
#include "probe_answer.hpp"

using namespace facegate;
using namespace facegate::test;

namespace {

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

// A minimal PNG: signature, IHDR (13 bytes of data + CRC, CRC not checked), then IDAT.
std::vector<std::byte> tiny_png(std::uint32_t width, std::uint32_t height) {
  std::string s = "\x89PNG\r\n\x1a\n";
  auto be32 = [&](std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>(v >> shift & 0xFF);
  };
  be32(13);
  s += "IHDR";
  be32(width);
  be32(height);
  s += std::string("\x08\x02\x00\x00\x00", 5);
  be32(0);  // CRC
  be32(0);
  s += "IDAT";
  be32(0);
  return bytes_of(s);
}

}  // namespace

TEST_CASE("a new probe wants the sniffing window at offset 0") {
  Probe p;
  CHECK(p.status() == Status::need_more);
  CHECK(p.want().offset == 0);
  CHECK(p.want().length == 64);
}

TEST_CASE("empty input is truncated, and finish() is idempotent") {
  Probe p;
  CHECK(p.finish() == Status::error);
  CHECK(p.error().code == ErrorCode::truncated);
  CHECK(p.finish() == Status::error);
  CHECK(p.error().message == "empty input");
}

TEST_CASE("unknown magic bytes are unsupported_format") {
  auto data = bytes_of("hello, this is not an image at all");
  auto r = probe_memory(data);
  CHECK(r.error.code == ErrorCode::unsupported_format);
  CHECK(r.info.format == Format::unknown);
}

TEST_CASE("recognized formats are named without dimensions") {
  struct Case {
    std::string bytes;
    Format format;
  };
  const std::vector<Case> cases = {
      {"GIF89a\x10\x00\x10\x00", Format::gif},
      {"GIF87a\x10\x00\x10\x00", Format::gif},
      {std::string("II*\0\x08\0\0\0", 8), Format::tiff},
      {std::string("MM\0*\0\0\0\x08", 8), Format::tiff},
      {std::string("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24), Format::heif},
      {std::string("\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf", 28), Format::avif},
      {std::string("\0\0\0\x18" "ftypmif1\0\0\0\0mif1avif", 24), Format::avif},
      {std::string("\0\0\0\x18" "ftypmif1\0\0\0\0mif1heic", 24), Format::heif},
      {std::string("\xff\x0a\x00\x01", 4), Format::jxl},
      {std::string("\0\0\0\x0cJXL \x0d\x0a\x87\x0a", 12), Format::jxl},
      {std::string("\0\0\x01\0\x01\0\x10\x10", 8), Format::ico},
      {"8BPS\x00\x01", Format::psd},
      {"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", Format::svg},
      {"\xef\xbb\xbf  \n<?xml version=\"1.0\"?><svg/>", Format::svg},
  };
  for (const auto& c : cases) {
    CAPTURE(c.bytes);
    auto data = bytes_of(c.bytes);
    auto r = probe_memory(data);
    CHECK(r.ok());
    CHECK(r.info.format == c.format);
    CHECK_FALSE(r.info.has_dimensions());
    for (std::size_t chunk = 1; chunk <= 8; ++chunk) {
      CHECK(probe_in_chunks(data, chunk) == answer_of([&] {
              Probe p;
              p.feed(0, data);
              p.finish();
              return p;
            }()));
    }
  }
}

TEST_CASE("an input cut inside a signature is truncated, never another format") {
  // Found by the probe fuzzer: an ICO-looking start whose count bytes begin "ftyp", and an
  // ftyp box cut before the brand that makes it AVIF.
  // A 256-byte ftyp box: the sniffer decides on its first 64 bytes.
  const std::string ftyp_heic = std::string("\0\0\x01\0ftypheic", 12) + std::string(68, '\0');
  const std::string ftyp_avif("\0\0\0\x18" "ftypmif1\0\0\0\0mif1avif", 24);
  CHECK(probe_memory(bytes_of(ftyp_heic)).info.format == Format::heif);
  CHECK(probe_memory(bytes_of(ftyp_avif)).info.format == Format::avif);
  for (const std::string& whole : {ftyp_heic, ftyp_avif}) {
    for (std::size_t n = 5; n < std::min<std::size_t>(whole.size(), 64); ++n) {
      CAPTURE(n);
      auto r = probe_memory(bytes_of(whole.substr(0, n)));
      CHECK(r.error.code == ErrorCode::truncated);
      CHECK(r.info.format == Format::unknown);
    }
  }
  for (std::string_view cut : {"\xff\xd8", "\x89PNG\r\n", "RIFF\0\0\0\0WE"}) {
    CHECK(probe_memory(bytes_of(cut)).error.code == ErrorCode::truncated);
  }
}

TEST_CASE("an ftyp box with an unknown brand is not HEIF") {
  auto data = bytes_of(std::string("\0\0\0\x14" "ftypqt  \0\0\0\0qt  ", 20));
  CHECK(probe_memory(data).error.code == ErrorCode::unsupported_format);
}

TEST_CASE("a feed that skips the byte the probe needs is a caller error, and errors are sticky") {
  auto png = tiny_png(640, 480);
  Probe p;
  CHECK(p.feed(10, std::span(png).subspan(10)) == Status::error);
  CHECK(p.error().code == ErrorCode::invalid_call);
  CHECK(p.feed(0, png) == Status::error);
  CHECK(p.finish() == Status::error);
  CHECK(p.error().code == ErrorCode::invalid_call);
}

TEST_CASE("bytes fed before the wanted offset are skipped, as from a stream") {
  auto png = tiny_png(640, 480);
  Probe whole;
  whole.feed(0, png);
  whole.finish();
  REQUIRE(whole.status() == Status::done);
  // Feeding the same prefix twice (a stream that re-sends) changes nothing.
  Probe p;
  p.feed(0, std::span(png).first(20));
  p.feed(0, std::span(png).first(30));
  p.feed(30, std::span(png).subspan(30));
  p.finish();
  CHECK(answer_of(p) == answer_of(whole));
}

TEST_CASE("want() moves past what was fed, and the answer does not depend on chunking") {
  auto png = tiny_png(7000, 400);
  Probe p;
  p.feed(0, std::span(png).first(5));
  CHECK(p.status() == Status::need_more);
  CHECK(p.want().offset == 5);
  const Answer whole = probe_in_chunks(png, png.size());
  CHECK(whole.status == Status::done);
  CHECK(whole.width == 7000);
  CHECK(whole.height == 400);
  for (std::size_t chunk = 1; chunk <= 64; ++chunk) {
    CAPTURE(chunk);
    CHECK(probe_in_chunks(png, chunk) == whole);
  }
}

TEST_CASE("need_more never survives finish(), for every prefix") {
  auto png = tiny_png(640, 480);
  const Answer whole = probe_in_chunks(png, png.size());
  for (std::size_t n = 0; n < png.size(); ++n) {
    Probe p;
    p.feed(0, std::span(png).first(n));
    if (p.status() == Status::done) CHECK(answer_of(p) == whole);
    p.finish();
    CHECK(p.status() != Status::need_more);
    if (p.status() == Status::done) CHECK(answer_of(p) == whole);
  }
}

TEST_CASE("probe_file reports I/O errors and sizes") {
  auto dir = std::filesystem::temp_directory_path();
  CHECK(probe_file(dir).error.code == ErrorCode::io);
  CHECK(probe_file(dir / "facegate-no-such-file").error.code == ErrorCode::io);

  auto path = dir / "facegate-probe-test.png";
  auto png = tiny_png(800, 600);
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  }
  auto r = probe_file(path);
  std::filesystem::remove(path);
  CHECK(r.ok());
  CHECK(r.file_size == png.size());
  CHECK(r.info.width == 800);
  CHECK(r.bytes_read <= png.size());
}
