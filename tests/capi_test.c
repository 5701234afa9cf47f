/* The C API (include/facegate/facegate.h) from C99: probes of the examples/ images, the error
 * vocabulary, bad arguments, and an offline checker whose records arrive as JSON. Linked
 * against the shared library, so it also proves that these symbols are exported.
 * Usage: capi_test EXAMPLES_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facegate/facegate.h"

static int failures = 0;

#define CHECK(condition)                                                 \
  do {                                                                   \
    if (!(condition)) {                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      ++failures;                                                        \
    }                                                                    \
  } while (0)

static const char* examples_dir;

/* examples_dir/name in a static buffer. */
static const char* example(const char* name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", examples_dir, name);
  return path;
}

static void test_probe_file(void) {
  facegate_probe_result result;
  CHECK(facegate_probe_file(example("portrait-640x800.jpg"), &result) == FACEGATE_OK);
  CHECK(result.error == FACEGATE_OK);
  CHECK(result.info.format == FACEGATE_FORMAT_JPEG);
  CHECK(strcmp(result.info.format_name, "jpeg") == 0);
  CHECK(result.info.width == 640 && result.info.height == 800);
  CHECK(result.has_file_size && result.file_size == 5597);
  CHECK(result.bytes_read > 0 && result.bytes_read <= 5597);
  CHECK(result.error_message[0] == '\0');

  CHECK(facegate_probe_file(example("banner-1600x400.webp"), &result) == FACEGATE_OK);
  CHECK(result.info.format == FACEGATE_FORMAT_WEBP);
  CHECK(result.info.width == 1600 && result.info.height == 400);
  CHECK(result.file_size == 1212);

  CHECK(facegate_probe_file(example("mono-480x640.bmp"), &result) == FACEGATE_OK);
  CHECK(result.info.format == FACEGATE_FORMAT_BMP);
  CHECK(result.info.width == 480 && result.info.height == 640);
  CHECK(result.file_size == 38462);
}

static void test_probe_errors(void) {
  facegate_probe_result result;
  CHECK(facegate_probe_file(example("cut-short.jpg"), &result) == FACEGATE_ERR_TRUNCATED);
  CHECK(result.error == FACEGATE_ERR_TRUNCATED);
  CHECK(result.info.format == FACEGATE_FORMAT_JPEG);
  CHECK(result.file_size == 120);
  CHECK(strcmp(facegate_strerror(result.error), "truncated") == 0);
  CHECK(result.error_message[0] != '\0');
  CHECK(strcmp(facegate_last_error_message(), result.error_message) == 0);

  CHECK(facegate_probe_file(example("no-such-file.png"), &result) == FACEGATE_ERR_IO);
  CHECK(strcmp(facegate_strerror(FACEGATE_ERR_IO), "io") == 0);
  CHECK(strcmp(facegate_strerror(FACEGATE_OK), "none") == 0);
  CHECK(strcmp(facegate_strerror(FACEGATE_ERR_INTERNAL), "internal") == 0);
  CHECK(strcmp(facegate_strerror(999), "unknown") == 0);
  CHECK(strcmp(facegate_strerror(-1), "unknown") == 0);
}

static void test_probe_memory(void) {
  unsigned char png[106]; /* small-300x300.png, whole */
  facegate_probe_result result;
  FILE* file = fopen(example("small-300x300.png"), "rb");
  CHECK(file != NULL);
  if (file == NULL) return;
  CHECK(fread(png, 1, sizeof png, file) == sizeof png);
  fclose(file);
  CHECK(facegate_probe_memory(png, sizeof png, &result) == FACEGATE_OK);
  CHECK(result.info.format == FACEGATE_FORMAT_PNG);
  CHECK(result.info.width == 300 && result.info.height == 300);
  CHECK(result.has_file_size && result.file_size == sizeof png);
  CHECK(facegate_probe_memory(png, 20, &result) == FACEGATE_ERR_TRUNCATED);
  CHECK(result.info.format == FACEGATE_FORMAT_PNG);
  /* Recognized by its magic bytes, not parsed: no error, no dimensions. */
  CHECK(facegate_probe_memory("GIF89a", 6, &result) == FACEGATE_OK);
  CHECK(result.info.format == FACEGATE_FORMAT_GIF);
  CHECK(result.info.width == 0 && result.info.height == 0);
  CHECK(facegate_probe_memory(NULL, 0, &result) == FACEGATE_ERR_TRUNCATED);
}

static void test_probe_url(void) {
  facegate_probe_result result;
  facegate_url_options options;
  /* Refused from the URL alone: no connection, no DNS. */
  CHECK(facegate_probe_url("http://10.0.0.1/a.jpg", NULL, &result) ==
        FACEGATE_ERR_PRIVATE_ADDRESS);
  CHECK(facegate_probe_url("ftp://127.0.0.1/a.jpg", NULL, &result) == FACEGATE_ERR_SCHEME);
  CHECK(facegate_probe_url("http://127.0.0.1:1/a.jpg", NULL, &result) ==
        FACEGATE_ERR_PRIVATE_ADDRESS);
  /* With loopback allowed the fetch is tried: port 1 refuses the connection. */
  memset(&options, 0, sizeof options);
  options.allow_loopback = 1;
  CHECK(facegate_probe_url("http://127.0.0.1:1/a.jpg", &options, &result) ==
        FACEGATE_ERR_CONNECT);
  CHECK(strcmp(facegate_strerror(result.error), "connect") == 0);
}

static void test_rules(void) {
  size_t count = facegate_model_count();
  size_t i;
  int has_wan = 0;
  char* json;
  CHECK(count >= 5);
  for (i = 0; i < count; ++i) {
    CHECK(facegate_model_name(i) != NULL);
    if (facegate_model_name(i) && strcmp(facegate_model_name(i), "wan2.2-s2v-detect") == 0) {
      has_wan = 1;
    }
  }
  CHECK(has_wan);
  CHECK(facegate_model_name(count) == NULL);
  json = facegate_rules_json();
  CHECK(json != NULL && strstr(json, "\"wan2.2-s2v-detect\"") != NULL);
  facegate_free(json);
}

/* What the record callback saw. */
typedef struct records {
  int count;
  int in_order;
  char json[16][4096];
  int decision[16];
} records;

static void on_record(const facegate_record* record, void* user) {
  records* seen = (records*)user;
  if (seen->count < 16 && record->sequence < 16) {
    snprintf(seen->json[record->sequence], sizeof seen->json[0], "%s", record->json);
    seen->decision[record->sequence] = record->decision;
  }
  ++seen->count;
}

static void test_checker_offline(void) {
  static records seen;
  facegate_options* options = facegate_options_create();
  facegate_checker* checker = NULL;
  facegate_summary summary;
  char* text;
  static const char* const files[] = {"portrait-640x800.jpg", "small-300x300.png",
                                      "cut-short.jpg", "wide-7200x600.png"};
  size_t i;
  memset(&seen, 0, sizeof seen);
  CHECK(options != NULL);
  CHECK(facegate_options_set_model(options, "wan2.2-s2v-detect") == FACEGATE_OK);
  CHECK(facegate_options_set_remote(options, FACEGATE_OFFLINE) == FACEGATE_OK);
  CHECK(facegate_options_set_threads(options, 2) == FACEGATE_OK);
  CHECK(facegate_options_set_max_in_flight(options, 2) == FACEGATE_OK);
  CHECK(facegate_checker_create(options, on_record, &seen, &checker) == FACEGATE_OK);
  facegate_options_destroy(options);
  CHECK(checker != NULL);
  if (checker == NULL) return;
  for (i = 0; i < 4; ++i) {
    char id[32];
    snprintf(id, sizeof id, "{\"n\": %d}", (int)i);
    CHECK(facegate_checker_submit_path(checker, example(files[i]), id, NULL) == FACEGATE_OK);
  }
  CHECK(facegate_checker_submit_memory(checker, "in-memory", "not an image", 12, "\"m\"", NULL) ==
        FACEGATE_OK);
  CHECK(facegate_checker_submit_path(checker, example(files[0]), "{not json", NULL) ==
        FACEGATE_ERR_BAD_INPUT);
  CHECK(facegate_checker_finish(checker) == FACEGATE_OK);

  CHECK(seen.count == 5);
  CHECK(strstr(seen.json[0], "\"source\":\"") == seen.json[0] + 1);
  CHECK(strstr(seen.json[0], "portrait-640x800.jpg\",\"id\":{\"n\":0},") != NULL);
  CHECK(strstr(seen.json[0], "\"model\":\"wan2.2-s2v-detect\"") != NULL);
  CHECK(strstr(seen.json[0], "\"decision\":\"pass\"") != NULL);
  CHECK(seen.decision[0] == FACEGATE_DECISION_PASS);
  CHECK(strstr(seen.json[1], "size.width_below_min") != NULL);
  CHECK(seen.decision[1] == FACEGATE_DECISION_REJECT);
  CHECK(strstr(seen.json[2], "probe.truncated") != NULL);
  CHECK(seen.decision[2] == FACEGATE_DECISION_ERROR);
  CHECK(strstr(seen.json[3], "size.width_above_max") != NULL);
  CHECK(seen.decision[3] == FACEGATE_DECISION_REJECT);
  CHECK(strstr(seen.json[4], "{\"source\":\"in-memory\",\"id\":\"m\",") == seen.json[4]);

  CHECK(facegate_checker_summary(checker, &summary) == FACEGATE_OK);
  CHECK(summary.records == 5);
  CHECK(summary.pass == 1 && summary.error == 1 && summary.reject == 3);
  CHECK(summary.calls_avoided == 3);
  CHECK(summary.online == 0);
  text = facegate_checker_summary_text(checker);
  CHECK(text != NULL && strstr(text, "checked 5: 1 pass, 3 reject, 0 unknown, 1 error\n") != NULL);
  facegate_free(text);
  CHECK(facegate_checker_cancel(checker) == FACEGATE_OK);
  CHECK(facegate_checker_submit_path(checker, example(files[0]), NULL, NULL) ==
        FACEGATE_ERR_CANCELLED);
  facegate_checker_destroy(checker);
}

/* A dry run shows the upload of a local pass; with upload off, there is none. */
static void test_checker_dry_run_upload(void) {
  static records seen;
  int upload;
  for (upload = 1; upload >= 0; --upload) {
    facegate_options* options = facegate_options_create();
    facegate_checker* checker = NULL;
    memset(&seen, 0, sizeof seen);
    CHECK(facegate_options_set_model(options, "wan2.2-s2v-detect") == FACEGATE_OK);
    CHECK(facegate_options_set_remote(options, FACEGATE_DRY_RUN) == FACEGATE_OK);
    CHECK(facegate_options_set_base_url(options, "http://127.0.0.1:9/api/v1") == FACEGATE_OK);
    CHECK(facegate_options_set_upload(options, upload) == FACEGATE_OK);
    CHECK(facegate_checker_create(options, on_record, &seen, &checker) == FACEGATE_OK);
    facegate_options_destroy(options);
    if (checker == NULL) return;
    CHECK(facegate_checker_submit_path(checker, example("portrait-640x800.jpg"), NULL, NULL) ==
          FACEGATE_OK);
    CHECK(facegate_checker_finish(checker) == FACEGATE_OK);
    CHECK(seen.count == 1);
    CHECK((strstr(seen.json[0], "\"policy_request\":{\"method\":\"GET\",\"url\":"
                                "\"http://127.0.0.1:9/api/v1/uploads?action=getPolicy&model="
                                "wan2.2-s2v-detect\"") != NULL) == upload);
    facegate_checker_destroy(checker);
  }
}

static void test_checker_probe_only(void) {
  static records seen;
  facegate_options* options = facegate_options_create();
  facegate_checker* checker = NULL;
  memset(&seen, 0, sizeof seen);
  CHECK(facegate_checker_create(options, on_record, &seen, &checker) == FACEGATE_OK);
  facegate_options_destroy(options);
  if (checker == NULL) return;
  CHECK(facegate_checker_submit_path(checker, example("small-300x300.png"), NULL, NULL) ==
        FACEGATE_OK);
  CHECK(facegate_checker_finish(checker) == FACEGATE_OK);
  CHECK(seen.count == 1);
  CHECK(strstr(seen.json[0], "\"format\":\"png\"") != NULL);
  CHECK(strstr(seen.json[0], "\"width\":300") != NULL);
  CHECK(strstr(seen.json[0], "\"model\"") == NULL);
  CHECK(seen.decision[0] == FACEGATE_DECISION_NONE);
  /* Destroyed at once: the input still gets its record (checked or cancelled). */
  CHECK(facegate_checker_submit_path(checker, example("small-300x300.png"), NULL, NULL) ==
        FACEGATE_OK);
  facegate_checker_destroy(checker);
  CHECK(seen.count == 2);
  CHECK(strstr(seen.json[1], "small-300x300.png\"") != NULL);
}

static void test_bad_arguments(void) {
  facegate_options* options = facegate_options_create();
  facegate_checker* checker = (facegate_checker*)&checker; /* must be reset to NULL */
  facegate_probe_result result;
  facegate_summary summary;
  CHECK(facegate_probe_file(NULL, &result) == FACEGATE_ERR_INVALID_CALL);
  CHECK(strcmp(facegate_last_error_message(), "path is NULL") == 0);
  CHECK(facegate_probe_file(example("small-300x300.png"), NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_probe_memory(NULL, 5, &result) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_probe_url(NULL, NULL, &result) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_options_set_model(NULL, "x") == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_options_set_key(options, NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_options_set_remote(options, 7) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_options_set_max_in_flight(options, 0) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_options_set_base_url(options, "dashscope.aliyuncs.com/api/v1") ==
        FACEGATE_ERR_BAD_URL);
  CHECK(facegate_options_set_base_url(options, "http://127.0.0.1:9/api/v1") == FACEGATE_OK);
  CHECK(facegate_options_set_ledger(options, NULL) == FACEGATE_OK);
  CHECK(facegate_options_set_allow_loopback(options, 1) == FACEGATE_OK);
  CHECK(facegate_options_set_deep(options, 1) == FACEGATE_OK);
  CHECK(facegate_options_set_strict(options, 1) == FACEGATE_OK);
  CHECK(facegate_options_add_parameter(options, "ratio", "3:4") == FACEGATE_OK);
  CHECK(facegate_options_add_parameter(options, NULL, "3:4") == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_create(NULL, on_record, NULL, &checker) == FACEGATE_ERR_INVALID_CALL);
  CHECK(checker == NULL);
  CHECK(facegate_checker_create(options, NULL, NULL, &checker) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_create(options, on_record, NULL, NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_options_set_model(options, "no-such-model") == FACEGATE_OK);
  CHECK(facegate_checker_create(options, on_record, NULL, &checker) == FACEGATE_ERR_BAD_INPUT);
  CHECK(checker == NULL);
  CHECK(strstr(facegate_last_error_message(), "no-such-model") != NULL);
  CHECK(facegate_checker_submit_path(NULL, "a.png", NULL, NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_submit_url(NULL, "http://a/", NULL, NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_submit_memory(NULL, "m", "x", 1, NULL, NULL) ==
        FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_finish(NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_cancel(NULL) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_summary(NULL, &summary) == FACEGATE_ERR_INVALID_CALL);
  CHECK(facegate_checker_summary_text(NULL) == NULL);
  facegate_checker_destroy(NULL);
  facegate_options_destroy(NULL);
  facegate_free(NULL);
  facegate_options_destroy(options);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s EXAMPLES_DIR\n", argv[0]);
    return 2;
  }
  examples_dir = argv[1];
  CHECK(strcmp(FACEGATE_VERSION, "") != 0);
  CHECK(FACEGATE_VERSION_NUMBER ==
        FACEGATE_VERSION_MAJOR * 10000 + FACEGATE_VERSION_MINOR * 100 + FACEGATE_VERSION_PATCH);
  test_probe_file();
  test_probe_errors();
  test_probe_memory();
  test_probe_url();
  test_rules();
  test_checker_offline();
  test_checker_dry_run_upload();
  test_checker_probe_only();
  test_bad_arguments();
  if (failures != 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("capi_test: all checks passed\n");
  return 0;
}
