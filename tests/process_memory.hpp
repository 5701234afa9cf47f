// This test process's memory, from /proc/self/status (proc(5)): for tests that bound what a
// step holds at once.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

namespace facegate::test {

/// A field of /proc/self/status in bytes ("VmRSS:", "VmHWM:"; kB there).
inline std::uint64_t status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field))) * 1024;
  }
  FAIL("no " << field << " in /proc/self/status");
  return 0;
}

/// Resets the peak resident set size (VmHWM) to the current one (proc(5), clear_refs "5").
inline void reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  REQUIRE(clear_refs.good());
}

}  // namespace facegate::test
