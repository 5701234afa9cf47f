// The C API's shared plumbing (include/facegate/facegate.h): the thread's last error message,
// the guard that keeps C++ exceptions inside, and the conversions both halves use.
#pragma once

#include <cstring>
#include <exception>
#include <string_view>

#include "facegate/facegate.h"
#include "facegate/probe.hpp"

namespace facegate::detail {

/// Records why the calling thread's call failed (`message` followed by `more`) and returns
/// `code`.
int capi_fail(int code, std::string_view message, std::string_view more = {}) noexcept;

/// Clears the calling thread's last error message and returns FACEGATE_OK.
int capi_ok() noexcept;

/// `text` as NUL-terminated text that lives as long as the process: static strings of the
/// library (format names, subtypes) are interned once.
const char* capi_static_text(std::string_view text);

/// The C form of an ImageInfo.
facegate_image_info capi_image_info(const ImageInfo& info);

/// A NUL-terminated copy of `text` for the caller, released with facegate_free; NULL when out
/// of memory.
char* capi_copy(std::string_view text) noexcept;

/// Runs `body` (returning an error code); an exception that escapes it becomes
/// FACEGATE_ERR_INTERNAL, so none crosses the C boundary.
template <typename Body>
int capi_guard(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& error) {
    return capi_fail(FACEGATE_ERR_INTERNAL, error.what());
  } catch (...) {
    return capi_fail(FACEGATE_ERR_INTERNAL, "unknown exception");
  }
}

/// FACEGATE_ERR_INVALID_CALL naming the argument `what` that is NULL.
inline int capi_null_argument(const char* what) noexcept {
  return capi_fail(FACEGATE_ERR_INVALID_CALL, what, " is NULL");
}

}  // namespace facegate::detail
