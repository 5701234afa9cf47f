// The identity of an image for the ledger (ledger.hpp, ImageIdentity), and the SHA-256 of a
// local file, streamed through OpenSSL's EVP interface.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <span>

#include "facegate/ledger.hpp"
#include "output/json_writer.hpp"

namespace facegate {
namespace {

constexpr std::size_t kReadBlock = 64 * 1024;

std::optional<std::string_view> text_or_null(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

std::string hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  text.reserve(bytes.size() * 2);
  for (const unsigned char byte : bytes) {
    text += digits[byte >> 4];
    text += digits[byte & 0x0F];
  }
  return text;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::optional<ImageIdentity> fail(Error* error, const std::filesystem::path& path,
                                  std::string_view why) {
  if (error != nullptr) *error = Error{ErrorCode::io, path.string() + ": " + std::string(why)};
  return std::nullopt;
}

// The SHA-256 of everything `fd` reads from here to its end, as hex; empty on a read error.
std::string sha256_to_end(int fd) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                        &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) return {};
  std::unique_ptr<unsigned char[]> block(new unsigned char[kReadBlock]);
  for (;;) {
    const ssize_t got = ::read(fd, block.get(), kReadBlock);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return {};
    if (got == 0) break;
    if (EVP_DigestUpdate(context.get(), block.get(), static_cast<std::size_t>(got)) != 1) return {};
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context.get(), digest.data(), &length) != 1) return {};
  return hex(std::span(digest.data(), length));
}

}  // namespace

std::string ImageIdentity::canonical_key() const {
  detail::JsonWriter json;
  json.begin_object();
  json.key("source").string(source);
  json.key("etag").optional_string(text_or_null(etag));
  json.key("last_modified").optional_string(text_or_null(last_modified));
  json.key("content_length").optional_number(content_length);
  json.key("mtime_ns");
  if (mtime_ns) {
    json.number(*mtime_ns);
  } else {
    json.null();
  }
  json.key("sha256").optional_string(text_or_null(content_hash));
  json.end_object();
  return json.take();
}

bool ImageIdentity::reusable() const noexcept {
  return !etag.empty() || !last_modified.empty() || !content_hash.empty();
}

ImageIdentity identify_url(std::string_view source, const ProbeResult& probe) {
  ImageIdentity identity;
  identity.source = std::string(source);
  identity.content_length = probe.file_size;
  if (probe.network) {
    identity.etag = probe.network->etag;
    identity.last_modified = probe.network->last_modified;
  }
  return identity;
}

std::optional<ImageIdentity> identify_local_file(const std::filesystem::path& path, Error* error) {
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail(error, path, std::strerror(errno));
  struct stat before {};
  if (::fstat(fd.get(), &before) != 0) return fail(error, path, std::strerror(errno));
  if (!S_ISREG(before.st_mode)) return fail(error, path, "not a regular file");
  std::string hash = sha256_to_end(fd.get());
  if (hash.empty()) return fail(error, path, "read failed while hashing");
  struct stat after {};
  if (::fstat(fd.get(), &after) != 0) return fail(error, path, std::strerror(errno));
  if (after.st_size != before.st_size || mtime_ns(after) != mtime_ns(before)) {
    return fail(error, path, "changed while it was hashed");
  }
  ImageIdentity identity;
  identity.source = path.string();
  identity.content_length = static_cast<std::uint64_t>(before.st_size);
  identity.mtime_ns = mtime_ns(before);
  identity.content_hash = std::move(hash);
  return identity;
}

}  // namespace facegate
