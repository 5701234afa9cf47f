// facegate: the check pipeline as one library type (docs/design.md#data-flow).
//
// A Checker takes inputs (a path, a URL or bytes in memory), reads each one's header, judges it
// against its model's rules and, when online, calls the remote detector for the inputs that
// pass, and only for those. Each input ends in exactly one CheckRecord, handed to the
// callback given at construction. The CLI (`facegate check`, `facegate probe`) is a thin layer
// over it: library users and the CLI write identical records (to_json) and summaries.
//
// Threads. Local inputs (paths, memory) are probed and judged on a pool of threads, one per
// core by default; URL inputs and detector calls run on one network thread that owns the
// libcurl loop. submit() may be called from any thread. The record callback runs on one of
// these threads, never on two at once, and never from inside submit().
//
// Bounds. At most CheckerOptions::max_in_flight inputs are open (submitted, record not yet
// delivered) at once: submit() blocks until one closes, try_submit() says "full". libcurl
// handles exist only for transfers that run (NetworkLoopOptions bounds those).
//
// Cancel. cancel() (or destroying the Checker) sends no new detector call: inputs that have not
// started end as cancelled records (ErrorCode::cancelled), calls waiting for a rate slot end as
// not_sent, and calls in flight get CheckerOptions::grace to finish; those still running after it
// are abandoned and recorded as possibly billed. Every accepted input still gets its record.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "facegate/deep.hpp"
#include "facegate/detect.hpp"
#include "facegate/export.h"
#include "facegate/fetch.hpp"
#include "facegate/ledger.hpp"
#include "facegate/probe.hpp"
#include "facegate/rules.hpp"
#include "facegate/upload.hpp"
#include "facegate/walk.hpp"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// One input of a check: where its bytes come from, and optionally its own model, parameters
/// and an id that the record echoes.
struct CheckInput {
  /// Where the bytes come from.
  enum class Kind : std::uint8_t {
    path,    ///< a local file
    url,     ///< an http(s) URL (other schemes are judged by the URL rule, never fetched)
    memory,  ///< bytes in `bytes`; `source` is only a label for the record
    failed,  ///< an input that could not even be read (a bad list line): `failure` says why
  };
  Kind kind = Kind::path;                ///< where the bytes come from
  std::string source;                    ///< the path or URL as given, or the memory's label
  std::vector<std::byte> bytes;          ///< Kind::memory only
  Error failure;                         ///< Kind::failed only
  std::string id_json;                   ///< the caller's id as JSON text ("7", "\"a\""); "" = none
  std::string model;                     ///< "" = CheckerOptions::model
  /// Request parameters of this input; nullopt = CheckerOptions::parameters.
  std::optional<std::vector<Parameter>> parameters;

  /// A URL when `text` starts with a scheme and "://" (looks_like_url), else a path.
  static CheckInput from_text(std::string text);
  /// A local file by its path, even one that looks like a URL.
  static CheckInput from_path(std::string path);
  /// One record of a DirectoryWalker: a regular file as a path input, an entry that could not
  /// be walked as a failed input (its record is an io error that names the entry). A caller
  /// submits a directory's files this way, in the walk's order:
  /// `for (DirectoryWalker w(dir); auto e = w.next();) checker.submit(CheckInput::from_walk(*e));`
  static CheckInput from_walk(WalkEntry entry);
  /// Bytes in memory, labelled `label` in the record.
  static CheckInput from_memory(std::string label, std::vector<std::byte> bytes);
  /// An input that failed before it could be read; its record is an error with `why`.
  static CheckInput from_failure(std::string source, Error why);
};

/// What became of one input: the source stage's result, the verdict, and the remote call.
struct CheckRecord {
  std::uint64_t sequence = 0;  ///< the input's place in submission order, from 0
  std::string source;          ///< as given
  std::string id_json;         ///< the input's id as JSON text; "" = none
  std::string model;           ///< the model judged against; "" in probe-only mode
  ProbeResult probe;           ///< the header (error ErrorCode::cancelled: never checked)
  std::optional<Verdict> verdict;      ///< set when the input was judged
  std::optional<DetectResult> remote;  ///< the remote call, or why none was made
  std::optional<DetectRequest> dry_run;  ///< dry-run mode: the request that would be sent
  /// Dry-run mode, a local file that passed: the upload that would come before the request.
  std::optional<UploadPlan> dry_run_upload;
  /// Online, a local file that passed (CheckerOptions::upload): how it got its oss:// URL, or
  /// why it got none (then `remote` is not_sent and says so).
  std::optional<UploadFacts> upload;
  bool dry_run_has_key = false;  ///< dry-run mode: a key is set (shown as sk-***, never itself)
  /// CheckerOptions::deep: the whole image was decoded after its header passed (local files
  /// and memory; URLs with CheckerOptions::deep_urls). Its outcome is also a finding when not ok: image.corrupt (warn; strict:
  /// reject) or image.not_decoded (info: refused by a limit, a variant the decoders cannot
  /// read, or the file could not be read again, or a URL's body downloaded).
  std::optional<DeepResult> deep;
  /// CheckerOptions::only_images: the input is not an image (the probe's error is
  /// unsupported_format). It is neither judged nor counted as pass, reject, unknown or error
  /// but in CheckSummary::not_images; the CLI prints no record for it.
  bool not_an_image = false;
  /// False for an input that was cancelled before it was checked.
  bool checked() const noexcept { return probe.error.code != ErrorCode::cancelled; }
  /// True for a record to show: checked, and not dropped by CheckerOptions::only_images.
  bool shown() const noexcept { return checked() && !not_an_image; }
  /// True when nothing failed: the probe (probe-only), or the verdict and, when a call was
  /// made, its answer.
  bool passed() const noexcept;
};

/// The record as one line of JSON (no newline): the schema of the README. Probe-only records
/// are {"source", [id], format ... error}; judged records {"source", [id], "model",
/// "decision", "findings", "image", ["deep", "deep_outcome", "deep_us"], "remote"}, the deep
/// keys only when a deep decode ran (CheckRecord::deep): "deep": true, the DeepOutcome's name
/// and the decoder's time in microseconds.
std::string to_json(const CheckRecord& record);

/// `text` as a quoted JSON string: quotes, backslashes and control characters escaped, bytes
/// that are not UTF-8 replaced by U+FFFD (the escaping of to_json, for callers' own output).
std::string json_quote(std::string_view text);

/// Totals over the records delivered so far.
struct CheckSummary {
  std::uint64_t records = 0;    ///< records delivered, cancelled ones included
  std::uint64_t cancelled = 0;  ///< inputs never checked (ErrorCode::cancelled)
  std::uint64_t pass = 0;       ///< decision pass (probe-only: probed without error)
  std::uint64_t reject = 0;     ///< decision reject
  std::uint64_t unknown = 0;    ///< decision unknown
  std::uint64_t error = 0;      ///< decision error (probe-only: probe errors)
  /// Inputs that are not images, dropped by CheckerOptions::only_images (not in the four above).
  std::uint64_t not_images = 0;
  std::uint64_t deep_checked = 0;  ///< images the deep check decoded, or tried to (CheckerOptions::deep)
  std::uint64_t deep_corrupt = 0;  ///< of those, found corrupt (image.corrupt)
  std::uint64_t bytes_read = 0;         ///< header bytes handed to the probe
  std::uint64_t bytes_transferred = 0;  ///< bytes received for URL inputs
  /// Remote calls not made because the input was rejected locally: certain.
  std::uint64_t calls_avoided = 0;
  /// The time those calls would have taken at their models' documented rates: certain.
  std::chrono::milliseconds rate_time_avoided{0};
  /// Their price at the published rates: an upper bound, since the vendor does not say
  /// whether it bills a request it refuses for an input fault (docs/service.md#billing).
  std::vector<Money> money_saved_up_to;
  std::uint64_t calls_avoided_unpriced = 0;  ///< avoided calls of models without a price
  std::uint64_t remote_calls = 0;       ///< HTTP requests to the detector, retries included
  std::uint64_t remote_passed = 0;      ///< images the detector passed
  std::uint64_t billed = 0;             ///< billed requests (usage.image_count)
  std::uint64_t possibly_billed = 0;    ///< requests whose billing is unknown
  std::uint64_t reused = 0;             ///< answers taken from the ledger, not paid again
  std::uint64_t budget_exhausted = 0;   ///< passes not sent: --budget or --max-calls reached
  std::uint64_t uploads = 0;            ///< local files uploaded in this run
  std::uint64_t uploads_reused = 0;     ///< local files sent by an earlier upload's oss:// URL
  std::uint64_t upload_failures = 0;    ///< local files whose upload failed (not called)
  std::uint64_t upload_bytes = 0;       ///< file bytes posted, retries included
  std::vector<Money> cost;              ///< billed x price, per currency
  bool online = false;                  ///< a detector client was set up
};

/// The summary as the CLI prints it on stderr: a few lines, each ending in a newline.
std::string summary_text(const CheckSummary& summary, bool probe_only);

/// Whether and how the detector is called.
enum class RemoteMode : std::uint8_t {
  offline,  ///< never call it
  dry_run,  ///< build the request of each pass, send nothing (CheckRecord::dry_run)
  online,   ///< call it for every pass (needs CheckerOptions::key)
};

/// Configuration of a Checker. The defaults are the safe ones.
struct CheckerOptions {
  /// The models' rules; builtin_rules() by default.
  RuleSet rules = builtin_rules().rules;
  /// The model of inputs that name none; "" = probe-only mode: no judging, no calls.
  std::string model;
  /// The parameters of inputs that give none (e.g. {"ratio", "3:4"}).
  std::vector<Parameter> parameters;
  /// Inferred and ambiguous rules reject instead of warn; so does image.corrupt (deep).
  bool strict = false;
  /// The deep check: a local file or memory input whose header passes is decoded whole
  /// (deep_decode, deep_decode_file) on the local pool; a decode that fails is the finding
  /// image.corrupt with the decoder's reason, a warning (strict: a rejection). URLs only with
  /// deep_urls. Only in judging mode (a model is set).
  bool deep = false;
  /// With deep, URLs too: a URL whose header passes is then downloaded whole on the network
  /// thread (the fetch's settings and safety: address checks, redirects, deadline; no Range),
  /// within a byte cap of its own, deep_limits.max_file_bytes or the model's file-size limit
  /// when that is smaller (FetchOptions::byte_cap stays the header's), and decoded on the local
  /// pool. A body above that cap is not decoded (DeepOutcome::refused, image.not_decoded), a
  /// download that fails neither (DeepOutcome::io). The download's bytes and requests count in
  /// the record's NetworkFacts. Bodies held at once, downloading or decoding, are at most
  /// deep_decodes_in_flight. Without it a URL is never downloaded whole.
  bool deep_urls = false;
  /// The deep check's bounds; max_pixels defaults to 7000 x 7000, the largest image any
  /// built-in model accepts (a header that passes is already within its model's bounds).
  DeepLimits deep_limits;
  /// Deep decodes running at once, at most (each may hold deep_memory_bound() bytes); at least 1.
  unsigned deep_decodes_in_flight = 2;
  /// Inputs that are not images (probe error unsupported_format) are not judged: their
  /// records have not_an_image set and are counted in CheckSummary::not_images.
  bool only_images = false;
  /// How local files are read.
  FileProbeOptions file;
  /// How URLs are fetched.
  FetchOptions fetch;
  /// How many transfers run at once.
  NetworkLoopOptions loop;
  /// Whether the detector is called.
  RemoteMode remote = RemoteMode::offline;
  /// The API key (online mode).
  ApiKey key;
  /// The detector client's pacing, retries and region. Unless offline, every input is judged
  /// with detect.region (Subject::region; "" = kDefaultRegion), so a model not offered there
  /// gets model.region.
  DetectOptions detect;
  /// Local files (paths) that pass are uploaded to the vendor's temporary storage and checked
  /// by their oss:// URL, in online mode (dry run: the upload is shown, not made; docs in the
  /// README, "Local files"). A rejected file is never uploaded. With a ledger, a file's upload
  /// is remembered (its size, time and SHA-256, the model, the account) and its URL reused
  /// while it is valid for upload_reuse_margin more; a completed answer for the same bytes is
  /// reused before anything is uploaded. False: a local pass is recorded not_sent.
  bool upload = true;
  /// How long an earlier upload's oss:// URL must still be valid to be reused (kOssUrlLifetime
  /// from its upload): the call may wait in the rate limiter, and the service must still find it.
  std::chrono::seconds upload_reuse_margin{3600};
  /// The ledger of remote calls (online mode; docs in the README, "The ledger"): each call is
  /// claimed there before it is sent and completed after, and a completed answer for the same
  /// image, model and parameters is reused instead of paid again. nullopt: no ledger.
  std::optional<std::filesystem::path> ledger;
  /// How the ledger opens (tests inject a clock).
  LedgerOptions ledger_options;
  /// Which earlier calls may be reused (--max-age, --refresh, --retry-ambiguous).
  ReusePolicy reuse;
  /// Most detector calls this run may send, counting each image whose call could be billed.
  std::optional<std::uint64_t> max_calls;
  /// Most the run may spend, in one of the models' price currencies: no call is sent that
  /// could take billed plus possibly billed calls past it.
  std::optional<Money> budget;
  /// Inputs open at once (submitted, record not yet delivered); at least 1.
  std::size_t max_in_flight = 1024;
  /// Threads that probe local inputs; 0 = one per core.
  unsigned local_threads = 0;
  /// After cancel(), how long calls in flight may take to finish before they are abandoned.
  std::chrono::milliseconds grace{10'000};
};

/// Called once per accepted input with its record (see the header comment for threads).
using RecordCallback = std::function<void(CheckRecord record)>;

/// What submit() and try_submit() did with an input.
enum class SubmitStatus : std::uint8_t {
  accepted,   ///< the input will get its record
  full,       ///< try_submit only: max_in_flight inputs are open; the input was not taken
  cancelled,  ///< the Checker was cancelled: the input was not taken and gets no record
};

/// A Checker, or why the options cannot make one.
struct CheckerResult;

/// The check pipeline (see the header comment).
class Checker {
 public:
  /// Validates `options` (the default model exists; detect.region is a known region and, unless
  /// offline, one that offers the default model, as far as a rule that rejects says; online
  /// mode has a key) and starts the threads; `on_record` gets every record.
  static CheckerResult create(CheckerOptions options, RecordCallback on_record);
  /// Cancels what is left (see cancel()) and waits for every record to be delivered.
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  /// Takes an input, blocking while max_in_flight inputs are open.
  SubmitStatus submit(CheckInput input);
  /// Takes an input unless max_in_flight inputs are open (then `input` is left as it was).
  SubmitStatus try_submit(CheckInput& input);
  /// Waits until every accepted input's record has been delivered.
  void finish();
  /// Stops the run: see the header comment. Safe from any thread, more than once.
  void cancel();
  /// Totals of the records delivered so far.
  CheckSummary summary() const;
  /// The options in force (the rules, the default model ...).
  const CheckerOptions& options() const noexcept;

 private:
  struct FACEGATE_HIDDEN State;
  FACEGATE_HIDDEN explicit Checker(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

/// A Checker, or why the options cannot make one.
struct CheckerResult {
  std::unique_ptr<Checker> checker;  ///< null on error
  std::string error;                 ///< why; empty on success
  /// True when a Checker was made.
  bool ok() const noexcept { return checker != nullptr; }
};

}  // namespace facegate
FACEGATE_PUBLIC_END
