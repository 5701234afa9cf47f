// A C++ program built against an installed facegate (tests/consumers_test.py): prints the
// version and one image's format, size and file size, as consumer.c does.
#include <cstdio>
#include <string_view>

#include <facegate/probe.hpp>
#include <facegate/version.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const facegate::ProbeResult result = facegate::probe_file(argv[1]);
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.error.message.c_str());
    return 1;
  }
  const std::string_view format = facegate::format_name(result.info.format);
  std::printf("facegate %s: %.*s %ux%u, %lu bytes\n", FACEGATE_VERSION,
              static_cast<int>(format.size()), format.data(), unsigned{result.info.width},
              unsigned{result.info.height}, static_cast<unsigned long>(*result.file_size));
  return 0;
}
