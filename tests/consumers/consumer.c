/* A C program built against an installed or subproject facegate (tests/consumers_test.py):
 * prints the version and one image's format, size and file size. */
#include <stdio.h>

#include <facegate/facegate.h>

int main(int argc, char** argv) {
  facegate_probe_result result;
  if (argc != 2) return 2;
  if (facegate_probe_file(argv[1], &result) != FACEGATE_OK) {
    fprintf(stderr, "%s\n", facegate_last_error_message());
    return 1;
  }
  printf("facegate %s: %s %ux%u, %lu bytes\n", FACEGATE_VERSION, result.info.format_name,
         (unsigned)result.info.width, (unsigned)result.info.height,
         (unsigned long)result.file_size);
  return 0;
}
