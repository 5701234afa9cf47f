/* facegate: the C API (C99), for C programs and any language's foreign-function interface.
 *
 * A thin layer over the C++ library (facegate::probe_file ..., facegate::Checker): the same
 * probes, rules, records and summaries. Conventions:
 *  - Functions that can fail return an int error code: FACEGATE_OK (0) or one of facegate_error,
 *    the library's one error vocabulary (facegate::ErrorCode) with stable numbers. A bad
 *    argument (a NULL handle or pointer, an unknown option value) is FACEGATE_ERR_INVALID_CALL.
 *    facegate_strerror names a code; facegate_last_error_message says more about the last
 *    failure of the calling thread.
 *  - Handles are opaque (facegate_options, facegate_checker): made by a _create function,
 *    released by its _destroy function (which accepts NULL).
 *  - Strings are UTF-8 and NUL-terminated. Strings the library returns as char* are the
 *    caller's, released with facegate_free; const char* ones belong to the library (see each).
 *  - Callbacks get the void* user pointer given with them. They must not unwind (no C++
 *    exception, no longjmp) through the library.
 *  - No C++ exception ever leaves a function of this API.
 *
 * Link with `pkg-config --cflags --libs facegate`. */
#ifndef FACEGATE_FACEGATE_H
#define FACEGATE_FACEGATE_H

#include <stddef.h>
#include <stdint.h>

#include "facegate/export.h"
#include "facegate/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Errors */

/// Error codes: facegate::ErrorCode one to one, with these numbers for good.
typedef enum facegate_error {
  FACEGATE_OK = 0,                       ///< no error
  FACEGATE_ERR_TRUNCATED = 1,            ///< input ended before the header was complete
  FACEGATE_ERR_MALFORMED = 2,            ///< the header contradicts its format's specification
  FACEGATE_ERR_UNSUPPORTED_FORMAT = 3,   ///< no known format's magic bytes
  FACEGATE_ERR_IO = 4,                   ///< a local file could not be opened or read
  FACEGATE_ERR_BAD_URL = 5,              ///< the URL does not parse
  FACEGATE_ERR_SCHEME = 6,               ///< not http or https (the URL or a redirect target)
  FACEGATE_ERR_PRIVATE_ADDRESS = 7,      ///< the URL or a redirect leads to a non-public address
  FACEGATE_ERR_DNS = 8,                  ///< the host name does not resolve
  FACEGATE_ERR_CONNECT = 9,              ///< no connection could be made
  FACEGATE_ERR_TLS = 10,                 ///< TLS handshake or certificate verification failed
  FACEGATE_ERR_TIMEOUT = 11,             ///< a connect timeout, deadline or low-speed limit
  FACEGATE_ERR_NETWORK = 12,             ///< an established connection broke
  FACEGATE_ERR_TOO_MANY_REDIRECTS = 13,  ///< more redirects than allowed
  FACEGATE_ERR_HTTP_STATUS = 14,         ///< the final response is neither 200 nor 206
  FACEGATE_ERR_BAD_RANGE = 15,           ///< a 206 that does not match the range asked
  FACEGATE_ERR_PROTOCOL = 16,            ///< other HTTP violations
  FACEGATE_ERR_BYTE_CAP = 17,            ///< the header needed more than the byte cap allows
  FACEGATE_ERR_INVALID_CALL = 18,        ///< the caller broke the contract (a NULL handle ...)
  FACEGATE_ERR_BAD_INPUT = 19,           ///< the input is unusable (an unknown model, bad JSON)
  FACEGATE_ERR_CANCELLED = 20,           ///< the run was cancelled
  FACEGATE_ERR_INTERNAL = 21             ///< a setup failure (memory, libcurl) or a bug
} facegate_error;

/// The stable snake_case name of an error code ("truncated", "dns" ...; "none" for
/// FACEGATE_OK, "unknown" for a number that is no code). Static text.
FACEGATE_API const char* facegate_strerror(int code);

/// Why the calling thread's last failing call failed, in words; "" when none has failed.
/// Valid until the thread's next call into the library.
FACEGATE_API const char* facegate_last_error_message(void);

/// Releases a string the library returned as char*. NULL is allowed.
FACEGATE_API void facegate_free(void* pointer);

/* ------------------------------------------------------------------------------------------
 * Probing one image's header */

/// Image container formats: facegate::Format one to one, with these numbers for good.
typedef enum facegate_format {
  FACEGATE_FORMAT_UNKNOWN = 0,
  FACEGATE_FORMAT_JPEG = 1,
  FACEGATE_FORMAT_PNG = 2,
  FACEGATE_FORMAT_BMP = 3,
  FACEGATE_FORMAT_WEBP = 4,
  FACEGATE_FORMAT_GIF = 5,
  FACEGATE_FORMAT_TIFF = 6,
  FACEGATE_FORMAT_HEIF = 7,
  FACEGATE_FORMAT_AVIF = 8,
  FACEGATE_FORMAT_JXL = 9,
  FACEGATE_FORMAT_ICO = 10,
  FACEGATE_FORMAT_PSD = 11,
  FACEGATE_FORMAT_SVG = 12
} facegate_format;

/// What a header says (facegate::ImageInfo). The strings are static text of the library.
typedef struct facegate_image_info {
  int format;               ///< a facegate_format
  const char* format_name;  ///< "jpeg", "png" ...; "unknown"
  uint32_t width;           ///< pixels; 0 when unknown
  uint32_t height;          ///< pixels; 0 when unknown
  uint8_t orientation;      ///< EXIF orientation 1..8; 0 when the header has none
  int animated;             ///< 1 for an animated PNG or WebP, else 0
  const char* subtype;      ///< codec detail ("progressive", "vp8l" ...); "" when none
  const char* leniency;     ///< a departure from the specification read past; "" when none
} facegate_image_info;

/// One source's probe (facegate::ProbeResult).
typedef struct facegate_probe_result {
  facegate_image_info info;   ///< the fields found (partial when error is set)
  int error;                  ///< FACEGATE_OK or the error code
  char error_message[256];    ///< why, in words (cut to fit); "" without an error
  int has_file_size;          ///< 1 when file_size is known
  uint64_t file_size;         ///< the source's size in bytes; 0 when unknown
  uint64_t bytes_read;        ///< bytes handed to the parser
  long http_status;           ///< URLs: the last response's status; 0 when none came or a file
  uint64_t bytes_transferred; ///< URLs: body bytes received
  uint32_t requests;          ///< URLs: HTTP requests sent, redirects included
} facegate_probe_result;

/// How a URL is fetched; zero or NULL for every field is the safe default.
typedef struct facegate_url_options {
  int allow_loopback;          ///< 1: allow 127.0.0.0/8 and ::1 (tests, local servers)
  int allow_private_network;   ///< 1: allow every non-public address
  uint32_t connect_timeout_ms; ///< time to open one connection; 0: the default (5 s)
  uint32_t deadline_ms;        ///< time for all of the URL's requests; 0: the default (20 s)
  uint64_t byte_cap;           ///< most bytes received; 0: the default (1 MiB)
  const char* ca_file;         ///< a PEM file of CA certificates instead of the system's; NULL
} facegate_url_options;

/// Reads the header of the local file at `path` (only the bytes needed). Fills *out, also on
/// an error, and returns out->error.
FACEGATE_API int facegate_probe_file(const char* path, facegate_probe_result* out);

/// Reads the header of the image in bytes[0, size). Fills *out and returns out->error.
/// `bytes` may be NULL when size is 0.
FACEGATE_API int facegate_probe_memory(const void* bytes, size_t size, facegate_probe_result* out);

/// Reads the header of the image behind an http(s) URL, with `options` (NULL: the defaults),
/// fetching only header bytes. Blocks until done. Fills *out and returns out->error.
FACEGATE_API int facegate_probe_url(const char* url, const facegate_url_options* options,
                                    facegate_probe_result* out);

/* ------------------------------------------------------------------------------------------
 * The models' rules */

/// The number of models in the built-in rules.
FACEGATE_API size_t facegate_model_count(void);

/// The name of built-in model `index` (0 .. facegate_model_count() - 1), in the rules file's
/// order, e.g. "wan2.2-s2v-detect"; NULL past the end. Static text.
FACEGATE_API const char* facegate_model_name(size_t index);

/// The built-in rules as JSON in the rules-file schema (`facegate rules --json`); NULL when
/// out of memory. Release with facegate_free.
FACEGATE_API char* facegate_rules_json(void);

/* ------------------------------------------------------------------------------------------
 * Checker options */

/// The options of a checker (facegate::CheckerOptions). Opaque.
typedef struct facegate_options facegate_options;

/// Whether and how the detector is called (facegate::RemoteMode).
typedef enum facegate_remote_mode {
  FACEGATE_OFFLINE = 0,  ///< never call it (the default)
  FACEGATE_DRY_RUN = 1,  ///< build each pass's request into its record, send nothing
  FACEGATE_ONLINE = 2    ///< call it for every pass (needs a key)
} facegate_remote_mode;

/// New options with the safe defaults: probe-only (no model), offline, built-in rules.
/// NULL when out of memory.
FACEGATE_API facegate_options* facegate_options_create(void);

/// Releases options. NULL is allowed. A checker made from them keeps its own copy.
FACEGATE_API void facegate_options_destroy(facegate_options* options);

/// The model of inputs that name none ("wan2.2-s2v-detect" ...); NULL or "": probe-only mode.
/// The name is checked when the checker is made.
FACEGATE_API int facegate_options_set_model(facegate_options* options, const char* model);

/// Adds a request parameter for inputs that give none, e.g. ("ratio", "3:4").
FACEGATE_API int facegate_options_add_parameter(facegate_options* options, const char* name,
                                                const char* value);

/// Offline, dry run or online (a facegate_remote_mode).
FACEGATE_API int facegate_options_set_remote(facegate_options* options, int mode);

/// The DashScope API key for online mode; never shown in any output.
FACEGATE_API int facegate_options_set_key(facegate_options* options, const char* key);

/// The detector's base URL (http:// or https://); NULL or "": $DASHSCOPE_HTTP_BASE_URL, else
/// the documented default. Another scheme is FACEGATE_ERR_BAD_URL.
FACEGATE_API int facegate_options_set_base_url(facegate_options* options, const char* base_url);

/// The ledger of remote calls (online mode: answers are reused, never paid twice); NULL: none.
FACEGATE_API int facegate_options_set_ledger(facegate_options* options, const char* path);

/// 1 (the default): online, local files that pass are uploaded to the vendor's temporary
/// storage and checked by their oss:// URL; 0: a local pass is recorded not_sent.
FACEGATE_API int facegate_options_set_upload(facegate_options* options, int upload);

/// 1: URL inputs and the detector may be on loopback addresses (tests, local servers).
FACEGATE_API int facegate_options_set_allow_loopback(facegate_options* options, int allow);

/// 1: local inputs whose header passes are decoded whole (the deep check).
FACEGATE_API int facegate_options_set_deep(facegate_options* options, int deep);

/// 1: inferred and ambiguous rules reject instead of warn.
FACEGATE_API int facegate_options_set_strict(facegate_options* options, int strict);

/// Threads that probe local inputs; 0 (the default): one per core.
FACEGATE_API int facegate_options_set_threads(facegate_options* options, unsigned threads);

/// Inputs open at once (submitted, record not yet delivered), at least 1 (default 1024).
FACEGATE_API int facegate_options_set_max_in_flight(facegate_options* options, size_t count);

/* ------------------------------------------------------------------------------------------
 * The checker */

/// A running check pipeline (facegate::Checker). Opaque.
typedef struct facegate_checker facegate_checker;

/// Decisions of a judged record (facegate::Decision); FACEGATE_DECISION_NONE when the record
/// was not judged (probe-only mode, a cancelled input).
typedef enum facegate_decision {
  FACEGATE_DECISION_NONE = -1,
  FACEGATE_DECISION_PASS = 0,
  FACEGATE_DECISION_REJECT = 1,
  FACEGATE_DECISION_UNKNOWN = 2,
  FACEGATE_DECISION_ERROR = 3
} facegate_decision;

/// What became of one input. Every pointer is valid only during the callback.
typedef struct facegate_record {
  uint64_t sequence;    ///< the input's place in submission order, from 0
  const char* source;   ///< the path, URL or label as submitted
  const char* id_json;  ///< the input's id as JSON text; "" when none
  const char* model;    ///< the model judged against; "" in probe-only mode
  const char* json;     ///< the record as one line of JSON (no newline): the CLI's schema
  int error;            ///< the probe's error code (FACEGATE_ERR_CANCELLED: never checked)
  int decision;         ///< a facegate_decision
  int passed;           ///< 1 when nothing failed (the probe, the verdict, the remote call)
  int shown;            ///< 0 for a record the CLI would not print (cancelled, not an image)
  facegate_image_info info;  ///< the header's fields
} facegate_record;

/// Gets each record, once per accepted input, on one of the checker's threads (never two at
/// once, never from inside a submit). It must not call facegate_checker_finish or _destroy.
typedef void (*facegate_record_callback)(const facegate_record* record, void* user);

/// Totals over the records delivered so far (the numbers of facegate::CheckSummary).
typedef struct facegate_summary {
  uint64_t records;            ///< records delivered, cancelled ones included
  uint64_t cancelled;          ///< inputs never checked
  uint64_t pass;               ///< decision pass (probe-only: probed without error)
  uint64_t reject;             ///< decision reject
  uint64_t unknown;            ///< decision unknown
  uint64_t error;              ///< decision error (probe-only: probe errors)
  uint64_t not_images;         ///< inputs that are not images, when only images are judged
  uint64_t deep_checked;       ///< images the deep check decoded, or tried to
  uint64_t deep_corrupt;       ///< of those, found corrupt
  uint64_t bytes_read;         ///< header bytes handed to the probe
  uint64_t bytes_transferred;  ///< bytes received for URL inputs
  uint64_t calls_avoided;      ///< remote calls not made because the input was rejected
  uint64_t rate_time_avoided_ms;  ///< the time those calls would have taken at the rate limit
  uint64_t remote_calls;       ///< HTTP requests to the detector, retries included
  uint64_t remote_passed;      ///< images the detector passed
  uint64_t billed;             ///< billed requests
  uint64_t possibly_billed;    ///< requests whose billing is unknown
  uint64_t reused;             ///< answers taken from the ledger
  uint64_t budget_exhausted;   ///< passes not sent: the budget was reached
  int online;                  ///< 1 when a detector client was set up
  uint64_t uploads;            ///< local files uploaded in this run
  uint64_t uploads_reused;     ///< local files sent by an earlier upload's oss:// URL
  uint64_t upload_failures;    ///< local files whose upload failed (not called)
  uint64_t upload_bytes;       ///< file bytes posted, retries included
} facegate_summary;

/// Makes a checker from `options` (copied; the default model must exist, online mode needs a
/// key) and starts its threads; `on_record` (not NULL) gets every record with `user`. On
/// success *out is the checker; on failure *out is NULL and facegate_last_error_message says
/// why (FACEGATE_ERR_BAD_INPUT for options that make no checker).
FACEGATE_API int facegate_checker_create(const facegate_options* options,
                                         facegate_record_callback on_record, void* user,
                                         facegate_checker** out);

/// Submits a local file. `id_json` (NULL: none) is any JSON value echoed as the record's "id";
/// `model` (NULL or "": the default) judges this input against another model. Blocks while
/// max_in_flight inputs are open. FACEGATE_ERR_CANCELLED after a cancel (no record then).
FACEGATE_API int facegate_checker_submit_path(facegate_checker* checker, const char* path,
                                              const char* id_json, const char* model);

/// Submits an http(s) URL; as facegate_checker_submit_path otherwise.
FACEGATE_API int facegate_checker_submit_url(facegate_checker* checker, const char* url,
                                             const char* id_json, const char* model);

/// Submits an image in memory (copied), named `label` in its record; as
/// facegate_checker_submit_path otherwise.
FACEGATE_API int facegate_checker_submit_memory(facegate_checker* checker, const char* label,
                                                const void* bytes, size_t size,
                                                const char* id_json, const char* model);

/// Waits until every accepted input's record has been delivered.
FACEGATE_API int facegate_checker_finish(facegate_checker* checker);

/// Stops the run: no new detector call; inputs not started end as cancelled records. Safe from
/// any thread (also from the callback), more than once.
FACEGATE_API int facegate_checker_cancel(facegate_checker* checker);

/// Fills *out with the totals of the records delivered so far.
FACEGATE_API int facegate_checker_summary(const facegate_checker* checker, facegate_summary* out);

/// The summary as the CLI prints it (a few lines, each ending in a newline); NULL on a bad
/// argument. Release with facegate_free.
FACEGATE_API char* facegate_checker_summary_text(const facegate_checker* checker);

/// Cancels what is left (call facegate_checker_finish first to have every input checked),
/// waits for every record to be delivered and releases the checker.
/// NULL is allowed.
FACEGATE_API void facegate_checker_destroy(facegate_checker* checker);

#ifdef __cplusplus
}
#endif

#endif /* FACEGATE_FACEGATE_H */
