// facegate::detail::Uploader (lib/upload/uploader.hpp). Every wait is a task or a transfer on
// the loop; nothing here sleeps or blocks.
#include "upload/uploader.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "detect/retry.hpp"
#include "detect/service_request.hpp"
#include "net/safe_transfer.hpp"
#include "upload/policy.hpp"

namespace facegate::detail {
namespace {

using Clock = std::chrono::steady_clock;

// The largest answer read from getPolicy or the upload host.
constexpr std::size_t kAnswerCap = 64 * 1024;

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto* answer = static_cast<std::string*>(user);
  const std::size_t bytes = size * count;
  if (answer->size() + bytes > kAnswerCap) return CURL_WRITEFUNC_ERROR;
  answer->append(data, bytes);
  return bytes;
}

int http_status(CURL* easy) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  return static_cast<int>(status);
}

std::optional<std::chrono::seconds> retry_after_of(CURL* easy) {
  curl_header* header = nullptr;
  if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &header) != CURLHE_OK) {
    return std::nullopt;
  }
  return parse_retry_after(header->value, std::chrono::system_clock::now());
}

// The text of <Tag>...</Tag> in an OSS error document; empty when absent.
std::string xml_element(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const std::size_t start = xml.find(open);
  if (start == std::string_view::npos) return {};
  const std::size_t end = xml.find(close, start + open.size());
  if (end == std::string_view::npos) return {};
  return std::string(xml.substr(start + open.size(), end - start - open.size()));
}

UploadFacts failed(std::string why) {
  UploadFacts facts;
  facts.outcome = UploadOutcome::failed;
  facts.error = std::move(why);
  return facts;
}

}  // namespace

struct Uploader::State : std::enable_shared_from_this<Uploader::State> {
  /// One file on its way: the task, its facts so far, and the attempt on the wire.
  struct Upload {
    UploadTask task;
    UploadDone on_done;
    UploadFacts facts;
    bool renewed = false;  // a new policy was asked for after "Policy expired"
    bool finished = false;
    std::uint64_t generation = 0;  // of the slot's policy the attempt on the wire was signed by
    // The attempt on the wire.
    std::unique_ptr<RequestHandle> handle;
    std::string host;  // the policy's upload_host, which the handle's URL points into
    std::string key;
    std::string answer;
    int fd = -1;
    std::uint64_t sent = 0;  // file bytes handed to libcurl in this attempt
    std::string read_error;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> hash{nullptr, EVP_MD_CTX_free};

    ~Upload() { close_file(); }
    void close_file() {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  };

  /// One model's policy, and the files waiting for it.
  struct Slot {
    std::string model;
    std::optional<UploadPolicy> policy;
    std::uint64_t generation = 0;  // counts the policies received, so a stale one is told apart
    std::deque<std::shared_ptr<Upload>> waiting;
    std::optional<std::string> refused;  // why no policy will be asked for again
    bool fetching = false;
    std::uint32_t attempts = 0;  // of the current policy request
    std::unique_ptr<RequestHandle> handle;
    std::string url;
    std::string answer;
  };

  State(TransferLoop& transfer_loop, ApiKey api_key, DetectOptions detect_options, std::string base,
        std::function<std::chrono::system_clock::time_point()> clock, unsigned posts)
      : max_posts(std::max(1u, posts)),
        loop(transfer_loop),
        key(std::move(api_key)),
        options(std::move(detect_options)),
        base_url(std::move(base)),
        now(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }),
        transfer(service_transfer_options(options)) {}

  const unsigned max_posts;
  TransferLoop& loop;
  ApiKey key;
  DetectOptions options;
  std::string base_url;
  std::function<std::chrono::system_clock::time_point()> now;
  FetchOptions transfer;
  std::map<std::string, Slot, std::less<>> slots;
  std::set<std::shared_ptr<Upload>> on_wire;      // posts handed to the loop
  std::set<std::shared_ptr<Upload>> backing_off;  // posts waiting to be tried again
  // Files with a policy in hand, waiting for one of max_posts places on the wire: the form is
  // signed when the post starts, so a long queue never sends an expired policy.
  std::deque<std::shared_ptr<Upload>> ready;
  unsigned posting = 0;
  std::set<std::string> tainted;  // keys whose post stored bytes other than the judged ones
  std::mt19937_64 random{std::random_device{}()};
  std::size_t pending = 0;
  bool cancelled = false;

  Slot& slot_for(const std::string& model) {
    Slot& slot = slots[model];
    slot.model = model;
    return slot;
  }

  bool usable(const Slot& slot) const {
    return slot.policy && slot.policy->expires - kPolicyMargin > Clock::now();
  }

  void finish(const std::shared_ptr<Upload>& upload, UploadFacts facts) {
    if (upload->finished) return;
    upload->finished = true;
    facts.bytes += upload->facts.bytes;
    facts.attempts += upload->facts.attempts;
    if (facts.outcome == UploadOutcome::failed) facts.error = key.scrub(facts.error);
    --pending;
    auto on_done = std::move(upload->on_done);
    on_done(std::move(facts));
  }

  // -- policies ---------------------------------------------------------------------------

  // A file that needs a policy: it waits for the one being asked for, or asks for one.
  void wait_for_policy(const std::shared_ptr<Upload>& upload) {
    if (cancelled) return finish(upload, failed("cancelled before it was uploaded"));
    Slot& slot = slot_for(upload->task.model);
    if (slot.refused) return finish(upload, failed(*slot.refused));
    if (usable(slot)) {
      ready.push_back(upload);
      return pump();
    }
    slot.waiting.push_back(upload);
    if (!slot.fetching) request_policy(slot);
  }

  void request_policy(Slot& slot) {
    slot.fetching = true;
    ++slot.attempts;
    slot.handle = std::make_unique<RequestHandle>();
    slot.url = policy_url(base_url, slot.model);
    slot.answer.clear();
    const std::string authorization = "Authorization: Bearer " + std::string(key.reveal());
    ServiceRequest request;
    request.url = &slot.url;
    request.header_lines = std::span(&authorization, 1);
    request.timeout = options.request_timeout;
    request.write = collect;
    request.write_data = &slot.answer;
    if (std::string problem = open_service_request(*slot.handle, transfer, request);
        !problem.empty()) {
      return policy_failed(slot, "the upload policy could not be asked for: " + problem, true);
    }
    loop.add(slot.handle->easy, TransferLoop::host_key(slot.url), {},
             [self = shared_from_this(), model = slot.model](CURLcode code) {
               self->policy_answered(model, code);
             });
  }

  void policy_answered(const std::string& model, CURLcode code) {
    Slot& slot = slot_for(model);
    CURL* easy = slot.handle->easy;
    PolicyAnswer answer;
    if (code == CURLE_OK) {
      answer = parse_policy_answer(http_status(easy), slot.answer, Clock::now());
    } else {
      answer.error = curl_error_text(code, slot.handle->error_text);
      answer.transient = true;
    }
    if (answer.policy) {
      slot.policy = std::move(answer.policy);
      ++slot.generation;
      slot.fetching = false;
      slot.attempts = 0;
      ready.insert(ready.end(), slot.waiting.begin(), slot.waiting.end());
      slot.waiting.clear();
      return pump();
    }
    if (answer.transient && !cancelled && slot.attempts < options.max_attempts) {
      const auto delay = retry_delay(slot.attempts, retry_after_of(easy), options, random());
      loop.schedule(Clock::now() + delay, [self = shared_from_this(), model] {
        Slot& again = self->slot_for(model);
        if (self->cancelled) return self->policy_failed(again, "cancelled", true);
        self->request_policy(again);
      });
      return;
    }
    policy_failed(slot,
                  "the upload policy request failed after " + std::to_string(slot.attempts) +
                      " attempt(s): " + answer.error,
                  answer.transient);
  }

  // No policy: the files waiting fail; a refusal that would repeat fails later files too.
  void policy_failed(Slot& slot, std::string why, bool transient) {
    slot.fetching = false;
    slot.attempts = 0;
    if (!transient) slot.refused = why;
    const std::deque<std::shared_ptr<Upload>> waiting = std::move(slot.waiting);
    slot.waiting.clear();
    for (const auto& upload : waiting) finish(upload, failed(why));
  }

  // -- posts ------------------------------------------------------------------------------

  // Starts ready posts while there is room, each with its model's policy as it is now.
  void pump() {
    while (posting < max_posts && !ready.empty()) {
      const std::shared_ptr<Upload> upload = std::move(ready.front());
      ready.pop_front();
      if (upload->finished) continue;
      Slot& slot = slot_for(upload->task.model);
      if (!usable(slot)) {
        wait_for_policy(upload);
        continue;
      }
      upload->generation = slot.generation;
      start_post(upload, *slot.policy);
    }
  }

  void start_post(const std::shared_ptr<Upload>& upload, const UploadPolicy& policy) {
    if (cancelled) return finish(upload, failed("cancelled before it was uploaded"));
    const UploadTask& task = upload->task;
    if (policy.max_file_bytes != 0 && task.size > policy.max_file_bytes) {
      return finish(
          upload, failed(std::to_string(task.size) + " bytes is more than the policy's " +
                         "max_file_size_mb (" + std::to_string(policy.max_file_bytes) + " bytes)"));
    }
    upload->key = policy.upload_dir + "/" + upload_object_name(task.path, task.sha256);
    upload->host = policy.upload_host;
    upload->answer.clear();
    upload->read_error.clear();
    upload->handle = std::make_unique<RequestHandle>();
    if (std::string problem = build_form(*upload, policy); !problem.empty()) {
      return finish(upload, failed("the upload could not be set up: " + problem));
    }
    ServiceRequest request;
    request.url = &upload->host;
    request.timeout = options.request_timeout;
    request.write = collect;
    request.write_data = &upload->answer;
    if (std::string problem = open_service_request(*upload->handle, transfer, request);
        !problem.empty()) {
      return finish(upload, failed("the upload could not be set up: " + problem));
    }
    on_wire.insert(upload);
    ++posting;
    loop.add(
        upload->handle->easy, TransferLoop::host_key(upload->host),
        [upload] { open_file(*upload); },
        [self = shared_from_this(), upload](CURLcode code) { self->posted(upload, code); });
  }

  // The form: the policy's fields as it gave them, in upload_form_fields() order, `file` last.
  static std::string build_form(Upload& upload, const UploadPolicy& policy) {
    RequestHandle& handle = *upload.handle;
    handle.easy = curl_easy_init();
    if (handle.easy == nullptr) return "libcurl could not be set up";
    handle.form = curl_mime_init(handle.easy);
    if (handle.form == nullptr) return "libcurl could not make a form";
    const std::map<std::string_view, const std::string*> values = {
        {"OSSAccessKeyId", &policy.access_key_id},
        {"Signature", &policy.signature},
        {"policy", &policy.policy},
        {"key", &upload.key},
        {"x-oss-object-acl", &policy.object_acl},
        {"x-oss-forbid-overwrite", &policy.forbid_overwrite},
    };
    static const std::string kSuccessStatus = "200";
    for (const std::string_view field : upload_form_fields()) {
      curl_mimepart* part = curl_mime_addpart(handle.form);
      if (part == nullptr) return "libcurl could not make a form";
      curl_mime_name(part, std::string(field).c_str());
      if (field == "file") {
        const std::size_t slash = upload.task.path.find_last_of('/');
        curl_mime_filename(
            part, upload.task.path.substr(slash == std::string::npos ? 0 : slash + 1).c_str());
        curl_mime_type(part, "application/octet-stream");
        curl_mime_data_cb(part, static_cast<curl_off_t>(upload.task.size), read_file, rewind_file,
                          nullptr, &upload);
        continue;
      }
      const std::string& value =
          field == "success_action_status" ? kSuccessStatus : *values.at(field);
      curl_mime_data(part, value.data(), value.size());
    }
    return {};
  }

  // Opened when the post joins the multi handle, not when it is queued: a long queue holds no
  // descriptors.
  static void open_file(Upload& upload) {
    upload.close_file();
    upload.sent = 0;
    upload.fd = ::open(upload.task.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (upload.fd < 0)
      upload.read_error =
          "the file could not be opened again: " + std::string(std::strerror(errno));
    upload.hash.reset(EVP_MD_CTX_new());
    if (!upload.hash || EVP_DigestInit_ex(upload.hash.get(), EVP_sha256(), nullptr) != 1) {
      upload.read_error = "SHA-256 could not be set up";
    }
  }

  static size_t read_file(char* buffer, size_t size, size_t count, void* user) {
    auto& upload = *static_cast<Upload*>(user);
    if (!upload.read_error.empty()) return CURL_READFUNC_ABORT;
    const std::uint64_t left = upload.task.size - upload.sent;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * count, left));
    if (want == 0) return 0;
    ssize_t got = 0;
    do {
      got = ::read(upload.fd, buffer, want);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      upload.read_error = got == 0
                              ? "the file is shorter than when it was checked"
                              : "the file could not be read: " + std::string(std::strerror(errno));
      return CURL_READFUNC_ABORT;
    }
    EVP_DigestUpdate(upload.hash.get(), buffer, static_cast<std::size_t>(got));
    upload.sent += static_cast<std::uint64_t>(got);
    return static_cast<size_t>(got);
  }

  // libcurl rewinds a body it must send again (a connection that died before the answer).
  static int rewind_file(void* user, curl_off_t offset, int origin) {
    auto& upload = *static_cast<Upload*>(user);
    if (offset != 0 || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
    upload.facts.bytes += upload.sent;  // what the rewound attempt sent counts too
    open_file(upload);
    return upload.read_error.empty() ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
  }

  // The bytes posted are the bytes judged, or why not.
  static std::string verify(Upload& upload) {
    if (upload.sent != upload.task.size) return "the file changed after it was checked (size)";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    if (EVP_DigestFinal_ex(upload.hash.get(), digest, &length) != 1) return "SHA-256 failed";
    if (lower_hex(digest, length) != upload.task.sha256)
      return "the file changed after it was checked (SHA-256)";
    return {};
  }

  void posted(const std::shared_ptr<Upload>& upload, CURLcode code) {
    on_wire.erase(upload);
    --posting;
    settle_post(upload, code);
    pump();
  }

  void settle_post(const std::shared_ptr<Upload>& upload, CURLcode code) {
    upload->close_file();
    ++upload->facts.attempts;
    upload->facts.bytes += upload->sent;
    const int status = http_status(upload->handle->easy);
    const std::string oss_code = xml_element(upload->answer, "Code");
    const std::string message = xml_element(upload->answer, "Message");
    if (code == CURLE_OK && (status == 200 || status == 204)) return uploaded(upload);
    if (code == CURLE_OK && status == 409 && oss_code == "FileAlreadyExists")
      return existed(upload);
    if (!upload->read_error.empty()) return finish(upload, failed(upload->read_error));
    const std::string why = code != CURLE_OK ? curl_error_text(code, upload->handle->error_text)
                                             : "HTTP " + std::to_string(status) +
                                                   (oss_code.empty() ? "" : " " + oss_code) +
                                                   (message.empty() ? "" : ": " + message);
    if (code == CURLE_OK && status == 403 && message.find("Policy expired") != std::string::npos &&
        !upload->renewed) {
      upload->renewed = true;
      Slot& slot = slot_for(upload->task.model);
      if (slot.generation == upload->generation) slot.policy.reset();  // not a newer one
      return wait_for_policy(upload);
    }
    const bool transient = code != CURLE_OK || status >= 500 || status == 429;
    if (transient && !cancelled && upload->facts.attempts < options.max_attempts) {
      const auto delay = retry_delay(upload->facts.attempts, retry_after_of(upload->handle->easy),
                                     options, random());
      backing_off.insert(upload);
      loop.schedule(Clock::now() + delay, [self = shared_from_this(), upload] {
        if (upload->finished) return;
        self->backing_off.erase(upload);
        self->wait_for_policy(upload);
      });
      return;
    }
    finish(upload, failed("the upload failed after " + std::to_string(upload->facts.attempts) +
                          " attempt(s): " + why));
  }

  void uploaded(const std::shared_ptr<Upload>& upload) {
    if (std::string problem = verify(*upload); !problem.empty()) {
      tainted.insert(upload->key);
      return finish(upload, failed(problem + "; the uploaded copy is not used"));
    }
    UploadFacts facts;
    facts.outcome = UploadOutcome::uploaded;
    facts.oss_url = "oss://" + upload->key;
    facts.expires_at = now() + kOssUrlLifetime;
    finish(upload, std::move(facts));
  }

  // 409 FileAlreadyExists: the policy forbids overwriting, and the name holds the bytes' hash,
  // so what is there was posted under this policy for the same bytes (libcurl may have stopped
  // sending at the early answer: nothing to verify). Unless this run's own post of the key
  // stored other bytes. Its expiry is unknown: expires_at is left empty, and it is not
  // remembered.
  void existed(const std::shared_ptr<Upload>& upload) {
    if (tainted.contains(upload->key)) {
      return finish(
          upload, failed("the object " + upload->key + " holds other bytes than the judged ones"));
    }
    UploadFacts facts;
    facts.outcome = UploadOutcome::uploaded;
    facts.oss_url = "oss://" + upload->key;
    finish(upload, std::move(facts));
  }

  void cancel_all() {
    cancelled = true;
    std::vector<std::shared_ptr<Upload>> ended(backing_off.begin(), backing_off.end());
    backing_off.clear();
    for (const auto& upload : std::set(on_wire)) {
      loop.remove(upload->handle->easy);
      ended.push_back(upload);
    }
    on_wire.clear();
    posting = 0;
    ended.insert(ended.end(), ready.begin(), ready.end());
    ready.clear();
    for (auto& [model, slot] : slots) {
      if (slot.fetching) loop.remove(slot.handle->easy);
      slot.fetching = false;
      ended.insert(ended.end(), slot.waiting.begin(), slot.waiting.end());
      slot.waiting.clear();
    }
    for (const auto& upload : ended) finish(upload, failed("cancelled before it was uploaded"));
  }
};

Uploader::Uploader(TransferLoop& loop, ApiKey key, DetectOptions options, std::string base_url,
                   std::function<std::chrono::system_clock::time_point()> now, unsigned max_posts)
    : state_(std::make_shared<State>(loop, std::move(key), std::move(options), std::move(base_url),
                                     std::move(now), max_posts)) {}

Uploader::~Uploader() = default;

void Uploader::submit(UploadTask task, UploadDone on_done) {
  auto upload = std::make_shared<State::Upload>();
  upload->task = std::move(task);
  upload->on_done = std::move(on_done);
  ++state_->pending;
  // From the loop: a callback never runs inside submit().
  state_->loop.post([state = state_, upload] { state->wait_for_policy(upload); });
}

void Uploader::cancel_pending() { state_->cancel_all(); }

std::size_t Uploader::pending() const noexcept { return state_->pending; }

}  // namespace facegate::detail
