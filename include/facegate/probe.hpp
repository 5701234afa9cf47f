// facegate: resumable image-header probe (docs/design.md#the-probe-contract).
#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/export.h"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// Image container formats that the sniffer names. jpeg, png, bmp and webp are parsed;
/// the others are recognized by their magic bytes and reported without dimensions.
enum class Format : std::uint8_t {
  unknown,
  jpeg,
  png,
  bmp,
  webp,
  gif,
  tiff,
  heif,
  avif,
  jxl,
  ico,
  psd,
  svg,
};

/// Lower-case name of a format ("jpeg", "png", ...; "unknown").
std::string_view format_name(Format format) noexcept;

/// True for the formats whose dimensions the probe parses (jpeg, png, bmp, webp).
bool format_is_parsed(Format format) noexcept;

/// Why reading an image's header failed: one vocabulary for local files, memory, URLs and
/// the pipeline. Stable names (see error_code_name) appear in output records.
enum class ErrorCode : std::uint8_t {
  none,                ///< no error
  // The image's own faults: the bytes were read, the header is not usable.
  truncated,           ///< input ended before the header was complete
  malformed,           ///< the header contradicts its format's specification
  unsupported_format,  ///< no known format's magic bytes
  // The source's faults: the bytes could not be had.
  io,                  ///< a local file, pipe or list could not be opened or read
  bad_url,             ///< the URL does not parse
  scheme,              ///< not http or https (the URL or a redirect target)
  private_address,     ///< the URL or a redirect leads to a non-public address
  dns,                 ///< the host name does not resolve
  connect,             ///< no connection could be made
  tls,                 ///< TLS handshake or certificate verification failed
  timeout,             ///< connect timeout, overall deadline or low-speed limit reached
  network,             ///< an established connection broke (reset, send or receive error)
  too_many_redirects,  ///< more than FetchOptions::max_redirects redirects
  http_status,         ///< the final response is neither 200 nor 206 (404, 500, ...)
  bad_range,           ///< a 206 that does not match the range asked, or a body longer than it
  protocol,            ///< other HTTP violations: body shorter than announced, bad encoding ...
  byte_cap,            ///< the header needed more than the byte cap allows
  // Neither: the caller's or facegate's.
  invalid_call,        ///< the caller broke the probe contract (bytes out of order)
  bad_input,           ///< the input itself is unusable (a bad JSON Lines line, an unknown model)
  cancelled,           ///< not checked: the run was cancelled before this input was done
  internal,            ///< a setup failure (libcurl, memory) or a bug
};

/// Stable snake_case name of an error code ("truncated", "dns", "private_address", ...).
std::string_view error_code_name(ErrorCode code) noexcept;

/// True for the image's own faults (truncated, malformed, unsupported_format): the bytes were
/// read and the header is unusable, as opposed to a source that could not be read.
bool is_image_fault(ErrorCode code) noexcept;

/// An error code with a human-readable message.
struct Error {
  ErrorCode code = ErrorCode::none;  ///< ErrorCode::none when there is no error
  std::string message;               ///< empty when there is no error
  /// True when this holds an error.
  explicit operator bool() const noexcept { return code != ErrorCode::none; }
};

/// What a header says. Values are the header's own (uint32): judging them is the rules' job.
struct ImageInfo {
  Format format = Format::unknown;  ///< container format
  std::uint32_t width = 0;          ///< pixels; 0 when unknown (recognized-only formats)
  std::uint32_t height = 0;         ///< pixels; 0 when unknown
  std::uint8_t orientation = 0;     ///< EXIF orientation 1..8; 0 when the header has none
  bool animated = false;            ///< PNG acTL, WebP VP8X animation flag
  std::string_view subtype;         ///< codec detail: "progressive", "vp8l", "cgbi", ... (static text)
  /// Empty, or where the header breaks its format's specification in a way that mainstream
  /// decoders (libjpeg, libpng, libwebp, ImageMagick, Pillow) read past, and so did the probe:
  /// static text naming the first such departure and the decoder that accepts it, e.g. "jpeg:
  /// APP1 segment length below 2, skipped as libjpeg does". evaluate() reports it as the info
  /// finding probe.lenient.
  std::string_view leniency;
  /// True when width and height were read from the header.
  bool has_dimensions() const noexcept { return width != 0 && height != 0; }
};

/// A byte range the probe needs next.
struct Want {
  std::uint64_t offset = 0;  ///< absolute offset of the first byte needed
  std::uint32_t length = 0;  ///< number of bytes needed from there
};

/// State of a probe after each call.
enum class Status : std::uint8_t {
  need_more,  ///< feed the bytes of want(), or call finish() at end of input
  done,       ///< info() holds the answer
  error,      ///< error() says why; sticky
};

FACEGATE_INTERNAL_BEGIN
namespace detail {
struct ProbeState;
}
FACEGATE_INTERNAL_END

/// Resumable header parser. Feed bytes at any chunking; the answer does not depend on it.
///
/// Bytes before want().offset may be skipped by the caller (seek, HTTP Range) or fed anyway
/// (a stream): the probe ignores them. Feeding a chunk that starts after the next byte the
/// probe needs is a caller error (invalid_call). Errors are sticky; after finish() the status
/// is never need_more.
class Probe {
 public:
  /// Starts a probe at offset 0 with nothing fed.
  Probe();
  ~Probe();
  Probe(Probe&&) noexcept;
  Probe& operator=(Probe&&) noexcept;
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  /// Offers the bytes that start at absolute offset `offset`.
  Status feed(std::uint64_t offset, std::span<const std::byte> bytes);
  /// Declares the end of input: a pending need becomes ErrorCode::truncated.
  Status finish();
  /// Current status.
  Status status() const noexcept;
  /// Bytes needed next; meaningful while status() is need_more.
  Want want() const noexcept;
  /// The header fields found so far; complete when status() is done.
  const ImageInfo& info() const noexcept;
  /// The error; meaningful when status() is error.
  const Error& error() const noexcept;

 private:
  std::unique_ptr<detail::ProbeState> state_;
};

/// What the network did for a URL source.
struct NetworkFacts {
  std::string final_url;                    ///< last URL gone to, after redirects (even refused)
  long http_status = 0;                     ///< status of the last response; 0 when none came
  std::uint64_t bytes_transferred = 0;      ///< body bytes received, all requests together
  std::uint32_t requests = 0;               ///< HTTP requests sent, redirects included
  std::string etag;                         ///< the last response's ETag; empty when none
  std::string last_modified;                ///< the last response's Last-Modified; empty when none
};

/// Result of reading one source's header, whatever the source: memory, file, pipe or URL.
struct ProbeResult {
  ImageInfo info;                          ///< fields found (partial when error is set)
  Error error;                             ///< ErrorCode::none on success
  std::optional<std::uint64_t> file_size;  ///< total size in bytes when known
  std::uint64_t bytes_read = 0;            ///< bytes handed to the probe
  std::optional<NetworkFacts> network;     ///< set for URL sources
  /// True when the probe reached its answer.
  bool ok() const noexcept { return !error; }
};

/// Probes an image held in memory.
ProbeResult probe_memory(std::span<const std::byte> bytes);

/// Whether probe_files reads files with io_uring.
enum class IoUringUse : std::uint8_t {
  /// Where it was measured to win: when each ring gets 400 files or more (lib/probe_batch.cc
  /// has the figures). Fewer files loop over probe_file.
  automatic,
  never,   ///< every thread loops over probe_file
  always,  ///< one ring per thread, whatever the count of files, where the build and kernel allow
};

/// Options of probe_file and probe_files.
struct FileProbeOptions {
  /// Smallest read: a want shorter than this reads this many bytes, saving system calls when
  /// the parser next wants the bytes right after. 0 reads exactly what the probe wants.
  std::uint32_t min_read = 512;
  /// probe_files only: io_uring or plain system calls (see IoUringUse). Without io_uring in the
  /// build, or where the kernel refuses it (ENOSYS, a seccomp profile's EPERM), the threads
  /// loop over probe_file whatever this says.
  IoUringUse io_uring = IoUringUse::automatic;
  /// probe_files only: the threads that share the files. 0 (the default) is one per CPU the
  /// process may use, at most 16, and one per 32 files at most: below that, starting a thread
  /// costs more than it saves. Another number is that many threads (one per file at most);
  /// 1 probes on the caller's thread, unless io_uring is used.
  unsigned threads = 0;
  /// Pipes, FIFOs, terminals and other files that cannot be read at an offset are read as
  /// streams, from the start: at most this many bytes (the header must lie within them, else
  /// ErrorCode::byte_cap), the same cap as a URL's (FetchOptions::byte_cap).
  std::uint64_t stream_byte_cap = 1u << 20;
  /// Streams only: how long reading one may take in all. A FIFO without a writer, or a pipe
  /// that stalls, is ErrorCode::io past it.
  std::chrono::milliseconds stream_timeout{10'000};
};

/// Probes a local file, reading only the ranges the probe wants (pread); a pipe, FIFO or other
/// stream is read from its start (FileProbeOptions::stream_byte_cap, stream_timeout). Never
/// blocks in open: a FIFO without a writer is opened at once.
ProbeResult probe_file(const std::filesystem::path& path, const FileProbeOptions& options = {});

/// Probes many local files at once and returns their results in input order, each the same
/// as probe_file's. Several threads share the files (FileProbeOptions::threads), each looping
/// over probe_file or, where system calls are dear, keeping up to 64 files in flight on an
/// io_uring ring of its own (FileProbeOptions::io_uring). The threads start and end within
/// the call, with every signal blocked; the caller's thread is one of the loops' threads.
std::vector<ProbeResult> probe_files(std::span<const std::filesystem::path> paths,
                                     const FileProbeOptions& options = {});

}  // namespace facegate
FACEGATE_PUBLIC_END
