// The deep check: limits first, then PNG's chunk CRCs, then the decoders (stb_image for JPEG,
// PNG and BMP in stb_decode.cc; libwebp for WebP here), their outcomes read as deep.hpp says.
#include "facegate/deep.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "deep/stb_decode.hpp"

namespace facegate {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

DeepResult result_of(DeepOutcome outcome, std::string reason) {
  DeepResult result;
  result.outcome = outcome;
  result.reason = std::move(reason);
  return result;
}

DeepResult decoded(std::uint64_t pixels) {
  DeepResult result;
  result.pixels = pixels;
  return result;
}

std::uint64_t saturating_multiply(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

std::string size_text(std::uint64_t width, std::uint64_t height) {
  return std::to_string(width) + " x " + std::to_string(height) + " (" +
         std::to_string(width * height) + " pixels)";
}

DeepResult refuse_pixels(std::string_view whose, std::uint64_t width, std::uint64_t height,
                         std::uint64_t limit) {
  return result_of(DeepOutcome::refused, std::string(whose) + " " + size_text(width, height) +
                                             " is above the deep-decode limit of " +
                                             std::to_string(limit) + " pixels");
}

// --- PNG: chunk lengths and CRCs (PNG specification, 5.3: length, type, data, CRC-32 of type
// and data), which stb_image does not check.

std::uint32_t big_endian_32(std::span<const std::byte> bytes, std::size_t at) {
  return static_cast<std::uint32_t>(bytes[at]) << 24 |
         static_cast<std::uint32_t>(bytes[at + 1]) << 16 |
         static_cast<std::uint32_t>(bytes[at + 2]) << 8 | static_cast<std::uint32_t>(bytes[at + 3]);
}

std::string chunk_type_text(std::span<const std::byte> type) {
  std::string text;
  for (std::byte b : type) {
    const char c = static_cast<char>(b);
    text += (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? c : '?';
  }
  return text;
}

std::optional<std::string> png_chunk_damage(std::span<const std::byte> bytes) {
  constexpr std::size_t kSignature = 8;
  constexpr std::size_t kFraming = 12;  // length, type and CRC
  std::size_t at = kSignature;
  for (;;) {
    if (bytes.size() < at || bytes.size() - at < 8) return "PNG data ends before the IEND chunk";
    const std::uint32_t length = big_endian_32(bytes, at);
    const std::span<const std::byte> type = bytes.subspan(at + 4, 4);
    const std::string where = chunk_type_text(type) + " chunk at offset " + std::to_string(at);
    if (length > bytes.size() - at - 8 || bytes.size() - at - 8 - length < 4) {
      return "PNG data ends inside the " + where;
    }
    const auto* covered = reinterpret_cast<const Bytef*>(type.data());
    const std::uint32_t crc =
        static_cast<std::uint32_t>(crc32_z(crc32_z(0, nullptr, 0), covered, length + 4));
    if (crc != big_endian_32(bytes, at + 8 + length)) return "PNG " + where + ": CRC mismatch";
    at += kFraming + length;
    if (chunk_type_text(type) == "IEND") return std::nullopt;
  }
}

// --- stb_image: JPEG, PNG, BMP

bool stb_decodes_jpeg_coding(std::string_view subtype) {
  return subtype == "baseline" || subtype == "extended" || subtype == "progressive";
}

// stb_image's reasons (stbi__err's short form) that name a variant it does not decode, not a
// fault of the data.
bool stb_does_not_decode(std::string_view failure) {
  constexpr std::array<std::string_view, 6> kUnsupported = {
      "only 8-bit",           // JPEG sample precision other than 8
      "no header height",     // JPEG height 0 in SOF, given later by DNL
      "bad component count",  // JPEG with other than 1, 3 or 4 components
      "BMP RLE",              // BI_RLE8, BI_RLE4
      "BMP JPEG/PNG",         // BI_JPEG, BI_PNG and later compressions
      "unknown BMP",          // info headers of sizes other than 12, 40, 56, 108, 124
  };
  return std::find(kUnsupported.begin(), kUnsupported.end(), failure) != kUnsupported.end();
}

DeepResult decode_with_stb(detail::StbFormat format, std::span<const std::byte> bytes,
                           const ImageInfo& header, const DeepLimits& limits) {
  const std::uint64_t budget = deep_memory_bound(header, bytes.size());
  const detail::StbOutcome stb = detail::stb_decode(format, bytes, limits.max_pixels, budget);
  if (stb.over_budget) {
    return result_of(DeepOutcome::refused, "the decode needs more than the memory bound of " +
                                               std::to_string(budget) + " bytes");
  }
  if (stb.read_past_end) {
    std::string reason = "the data ends before the image does (stb_image read past the end)";
    if (!stb.failure.empty()) reason += "; stb_image: " + stb.failure;
    return result_of(DeepOutcome::corrupt, std::move(reason));
  }
  if (!stb.failure.empty()) {
    if (stb_does_not_decode(stb.failure)) {
      return result_of(DeepOutcome::not_checked,
                       "stb_image does not decode this variant: " + stb.failure);
    }
    return result_of(DeepOutcome::corrupt, "stb_image: " + stb.failure);
  }
  if (!stb.decoded)
    return refuse_pixels("stb_image reads", stb.width, stb.height, limits.max_pixels);
  return decoded(static_cast<std::uint64_t>(stb.width) * stb.height);
}

// --- libwebp: WebP

std::string_view vp8_status_name(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_OK:
      return "VP8_STATUS_OK";
    case VP8_STATUS_OUT_OF_MEMORY:
      return "VP8_STATUS_OUT_OF_MEMORY";
    case VP8_STATUS_INVALID_PARAM:
      return "VP8_STATUS_INVALID_PARAM";
    case VP8_STATUS_BITSTREAM_ERROR:
      return "VP8_STATUS_BITSTREAM_ERROR";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return "VP8_STATUS_UNSUPPORTED_FEATURE";
    case VP8_STATUS_SUSPENDED:
      return "VP8_STATUS_SUSPENDED";
    case VP8_STATUS_USER_ABORT:
      return "VP8_STATUS_USER_ABORT";
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return "VP8_STATUS_NOT_ENOUGH_DATA";
  }
  return "unknown VP8StatusCode";
}

DeepResult webp_failure(VP8StatusCode status) {
  const DeepOutcome outcome =
      status == VP8_STATUS_UNSUPPORTED_FEATURE ? DeepOutcome::not_checked : DeepOutcome::corrupt;
  return result_of(outcome, "libwebp: " + std::string(vp8_status_name(status)));
}

struct AnimationDecoderDeleter {
  void operator()(WebPAnimDecoder* decoder) const { WebPAnimDecoderDelete(decoder); }
};

// Every frame, each composed onto the canvas as a viewer shows it.
DeepResult decode_webp_animation(std::span<const std::byte> bytes, const DeepLimits& limits) {
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options))
    return result_of(DeepOutcome::not_checked, "libwebp: version mismatch");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData data{reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
  const std::unique_ptr<WebPAnimDecoder, AnimationDecoderDeleter> decoder(
      WebPAnimDecoderNew(&data, &options));
  if (!decoder) {
    return result_of(
        DeepOutcome::corrupt,
        "libwebp: WebPAnimDecoderNew: the animation's container is incomplete or invalid");
  }
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info))
    return result_of(DeepOutcome::corrupt, "libwebp: WebPAnimDecoderGetInfo failed");
  const std::uint64_t canvas = static_cast<std::uint64_t>(info.canvas_width) * info.canvas_height;
  if (canvas > limits.max_pixels) {
    return refuse_pixels("the animation's canvas", info.canvas_width, info.canvas_height,
                         limits.max_pixels);
  }
  if (saturating_multiply(canvas, info.frame_count) > limits.max_animation_pixels) {
    return result_of(DeepOutcome::refused,
                     std::to_string(info.frame_count) + " frames on a canvas of " +
                         size_text(info.canvas_width, info.canvas_height) +
                         " are above the deep-decode limit of " +
                         std::to_string(limits.max_animation_pixels) + " animation pixels");
  }
  std::uint32_t frames = 0;
  while (WebPAnimDecoderHasMoreFrames(decoder.get())) {
    std::uint8_t* pixels = nullptr;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(decoder.get(), &pixels, &timestamp)) {
      return result_of(DeepOutcome::corrupt, "libwebp: frame " + std::to_string(frames + 1) +
                                                 " of " + std::to_string(info.frame_count) +
                                                 " does not decode");
    }
    ++frames;
  }
  return decoded(canvas * frames);
}

DeepResult decode_webp(std::span<const std::byte> bytes, const DeepLimits& limits) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config))
    return result_of(DeepOutcome::not_checked, "libwebp: version mismatch");
  if (const VP8StatusCode status = WebPGetFeatures(data, bytes.size(), &config.input);
      status != VP8_STATUS_OK) {
    return webp_failure(status);
  }
  if (config.input.has_animation) return decode_webp_animation(bytes, limits);
  const std::uint64_t width = static_cast<std::uint32_t>(config.input.width);
  const std::uint64_t height = static_cast<std::uint32_t>(config.input.height);
  if (width * height > limits.max_pixels)
    return refuse_pixels("libwebp reads", width, height, limits.max_pixels);
  config.output.colorspace = config.input.has_alpha ? MODE_RGBA : MODE_RGB;
  const VP8StatusCode status = WebPDecode(data, bytes.size(), &config);
  WebPFreeDecBuffer(&config.output);
  if (status != VP8_STATUS_OK) return webp_failure(status);
  return decoded(width * height);
}

DeepResult check(std::span<const std::byte> bytes, const ImageInfo& header,
                 const DeepLimits& limits) {
  if (!format_is_parsed(header.format)) {
    return result_of(DeepOutcome::not_checked, "deep decode reads jpeg, png, bmp and webp, not " +
                                                   std::string(format_name(header.format)));
  }
  if (!header.has_dimensions())
    return result_of(DeepOutcome::not_checked, "the header gave no dimensions");
  if (static_cast<std::uint64_t>(header.width) * header.height > limits.max_pixels) {
    return refuse_pixels("the header's", header.width, header.height, limits.max_pixels);
  }
  switch (header.format) {
    case Format::jpeg:
      if (!stb_decodes_jpeg_coding(header.subtype)) {
        return result_of(DeepOutcome::not_checked,
                         "stb_image decodes baseline, extended and progressive "
                         "Huffman-coded JPEG, not " +
                             std::string(header.subtype));
      }
      return decode_with_stb(detail::StbFormat::jpeg, bytes, header, limits);
    case Format::png:
      if (std::optional<std::string> damage = png_chunk_damage(bytes)) {
        return result_of(DeepOutcome::corrupt, std::move(*damage));
      }
      return decode_with_stb(detail::StbFormat::png, bytes, header, limits);
    case Format::bmp:
      return decode_with_stb(detail::StbFormat::bmp, bytes, header, limits);
    default:
      return decode_webp(bytes, limits);
  }
}

// Closes a file descriptor on scope exit.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

DeepResult io_failure(std::string_view what, const std::filesystem::path& path, int errno_value) {
  return result_of(DeepOutcome::io,
                   std::string(what) + " " + path.string() + ": " + std::strerror(errno_value));
}

}  // namespace

std::string_view deep_outcome_name(DeepOutcome outcome) noexcept {
  switch (outcome) {
    case DeepOutcome::ok:
      return "ok";
    case DeepOutcome::corrupt:
      return "corrupt";
    case DeepOutcome::refused:
      return "refused";
    case DeepOutcome::not_checked:
      return "not_checked";
    case DeepOutcome::io:
      return "io";
  }
  return "unknown";
}

std::uint64_t deep_memory_bound(const ImageInfo& header, std::uint64_t file_bytes) noexcept {
  std::uint64_t bytes_per_pixel = 0;
  switch (header.format) {
    case Format::jpeg:
      bytes_per_pixel = 15;
      break;
    case Format::png:
      bytes_per_pixel = 20;
      break;
    case Format::bmp:
      bytes_per_pixel = 4;
      break;
    case Format::webp:
      bytes_per_pixel = 16;
      break;
    default:
      break;
  }
  constexpr std::uint64_t kMargin = 32;
  const std::uint64_t padded = saturating_multiply(header.width + kMargin, header.height + kMargin);
  return saturating_add(saturating_add(saturating_multiply(bytes_per_pixel, padded),
                                       saturating_multiply(3, file_bytes)),
                        kMiB);
}

DeepResult deep_decode(std::span<const std::byte> bytes, const ImageInfo& header,
                       const DeepLimits& limits) {
  const auto start = std::chrono::steady_clock::now();
  DeepResult result = check(bytes, header, limits);
  result.microseconds =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now() - start)
                                     .count());
  return result;
}

DeepResult deep_decode_file(const std::filesystem::path& path, const ImageInfo& header,
                            const DeepLimits& limits) {
  const FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return io_failure("cannot open", path, errno);
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return io_failure("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode))
    return result_of(DeepOutcome::io, "cannot read " + path.string() + ": not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > limits.max_file_bytes) {
    return result_of(DeepOutcome::refused, "the file's " + std::to_string(size) +
                                               " bytes are above the deep-decode read limit of " +
                                               std::to_string(limits.max_file_bytes) + " bytes");
  }
  // Uninitialised (make_unique_for_overwrite): read() writes every byte that is kept.
  const auto buffer = std::make_unique_for_overwrite<std::byte[]>(size);
  std::uint64_t filled = 0;
  while (filled < size) {
    const ssize_t n = ::read(file.fd, buffer.get() + filled, size - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_failure("cannot read", path, errno);
    if (n == 0) break;  // the file shrank since fstat: decode what is there
    filled += static_cast<std::uint64_t>(n);
  }
  return deep_decode(std::span<const std::byte>(buffer.get(), filled), header, limits);
}

}  // namespace facegate
