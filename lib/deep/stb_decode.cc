// stb_image, compiled here only, static (STB_IMAGE_STATIC: its symbols clash with no other
// copy, such as the fuzzers' oracle), with the three readers the deep check uses, its
// allocations routed through a per-thread budget, and its input read through callbacks that
// see when it asks for bytes past the end.
#include "deep/stb_decode.hpp"

#include <cstdlib>

#include "deep/stb_reader.hpp"

namespace facegate::detail {
namespace {

// Bytes held by stb_image in the decode running on this thread, and the most it may hold.
struct AllocationBudget {
  std::uint64_t limit = 0;
  std::uint64_t held = 0;
  bool exceeded = false;
};

thread_local AllocationBudget* current_budget = nullptr;

// Each block starts with its size, so that free and realloc can give the bytes back.
constexpr std::size_t kBlockHeader = alignof(std::max_align_t);

bool take(std::size_t bytes) {
  AllocationBudget& budget = *current_budget;
  if (bytes > budget.limit - budget.held) {
    budget.exceeded = true;
    return false;
  }
  budget.held += bytes;
  return true;
}

std::size_t& size_of_block(void* block) { return *static_cast<std::size_t*>(block); }

void* budget_malloc(std::size_t size) {
  if (size > SIZE_MAX - kBlockHeader || !take(size)) return nullptr;
  void* block = std::malloc(size + kBlockHeader);
  if (block == nullptr) {
    current_budget->held -= size;
    return nullptr;
  }
  size_of_block(block) = size;
  return static_cast<char*>(block) + kBlockHeader;
}

void budget_free(void* pointer) {
  if (pointer == nullptr) return;
  void* block = static_cast<char*>(pointer) - kBlockHeader;
  current_budget->held -= size_of_block(block);
  std::free(block);
}

void* budget_realloc(void* pointer, std::size_t size) {
  if (pointer == nullptr) return budget_malloc(size);
  void* block = static_cast<char*>(pointer) - kBlockHeader;
  const std::size_t old_size = size_of_block(block);
  if (size > SIZE_MAX - kBlockHeader || (size > old_size && !take(size - old_size))) return nullptr;
  void* grown = std::realloc(block, size + kBlockHeader);
  if (grown == nullptr) {
    if (size > old_size) current_budget->held -= size - old_size;
    return nullptr;
  }
  if (size < old_size) current_budget->held -= old_size - size;
  size_of_block(grown) = size;
  return static_cast<char*>(grown) + kBlockHeader;
}

}  // namespace
}  // namespace facegate::detail

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_MALLOC(size) facegate::detail::budget_malloc(size)
#define STBI_REALLOC(pointer, size) facegate::detail::budget_realloc(pointer, size)
#define STBI_FREE(pointer) facegate::detail::budget_free(pointer)
#include <stb/stb_image.h>

namespace facegate::detail {
namespace {

bool read_header(StbFormat format, stbi__context& context, int& width, int& height) {
  int components = 0;
  switch (format) {
    case StbFormat::jpeg:
      return stbi__jpeg_info(&context, &width, &height, &components) != 0;
    case StbFormat::png:
      return stbi__png_info(&context, &width, &height, &components) != 0;
    case StbFormat::bmp:
      return stbi__bmp_info(&context, &width, &height, &components) != 0;
  }
  return false;
}

// stb_image's per-format loader, without stbi_load's conversions (to 8 bits, to other
// component counts, flipped): they would only cost memory.
void* load(StbFormat format, stbi__context& context) {
  int width = 0;
  int height = 0;
  int components = 0;
  stbi__result_info info{};
  info.bits_per_channel = 8;
  switch (format) {
    case StbFormat::jpeg:
      return stbi__jpeg_load(&context, &width, &height, &components, 0, &info);
    case StbFormat::png:
      return stbi__png_load(&context, &width, &height, &components, 0, &info);
    case StbFormat::bmp:
      return stbi__bmp_load(&context, &width, &height, &components, 0, &info);
  }
  return nullptr;
}

std::uint32_t magnitude(int value) {
  return value < 0 ? 0u - static_cast<std::uint32_t>(value) : static_cast<std::uint32_t>(value);
}

// stb_image's reason for its last failure on this thread, if it gave one.
std::string failure_reason() {
  const char* reason = stbi_failure_reason();
  return reason != nullptr ? reason : "no reason given";
}

// Makes `budget` the one that this thread's stb_image allocations count against, while alive.
class BudgetScope {
 public:
  explicit BudgetScope(AllocationBudget& budget) { current_budget = &budget; }
  ~BudgetScope() { current_budget = nullptr; }
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;
};

StbOutcome decode_within(StbFormat format, std::span<const std::byte> bytes,
                         std::uint64_t max_pixels) {
  stbi_io_callbacks callbacks{stb_read_callback, stb_skip_callback, stb_eof_callback};
  StbOutcome outcome;
  stbi__g_failure_reason = nullptr;  // a reason left by an earlier decode is not this one's
  StbCallbackReader header_reader{bytes};
  stbi__context context;
  stbi__start_callbacks(&context, &callbacks, &header_reader);
  int width = 0;
  int height = 0;
  outcome.header_read = read_header(format, context, width, height);
  if (!outcome.header_read) {
    outcome.read_past_end = header_reader.read_past_end || header_reader.skipped_past_end;
    outcome.failure = failure_reason();
    return outcome;
  }
  // stbi__bmp_info gives a top-down BMP's height as it is stored, negative (stb_image 2.27).
  outcome.width = magnitude(width);
  outcome.height = magnitude(height);
  if (static_cast<std::uint64_t>(outcome.width) * outcome.height > max_pixels) return outcome;

  StbCallbackReader reader{bytes};
  stbi__start_callbacks(&context, &callbacks, &reader);
  void* pixels = load(format, context);
  outcome.decoded = pixels != nullptr;
  // Skipping bytes that are not there is a cut too: the padding of a BMP's last row, a JPEG
  // segment or PNG chunk that runs past the end.
  outcome.read_past_end = reader.read_past_end || reader.skipped_past_end;
  if (!outcome.decoded) outcome.failure = failure_reason();
  STBI_FREE(pixels);
  return outcome;
}

}  // namespace

StbOutcome stb_decode(StbFormat format, std::span<const std::byte> bytes, std::uint64_t max_pixels,
                      std::uint64_t budget_bytes) {
  AllocationBudget budget{budget_bytes};
  BudgetScope scope(budget);
  StbOutcome outcome = decode_within(format, bytes, max_pixels);
  outcome.over_budget = budget.exceeded;
  return outcome;
}

}  // namespace facegate::detail
