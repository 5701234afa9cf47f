// The temporary upload on the shared TransferLoop (docs/service.md#temporary-upload): one
// policy per model, asked for when needed and reused until shortly before it expires; files
// wait for it, then are posted as multipart/form-data, streamed from disk.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "facegate/detect.hpp"
#include "facegate/upload.hpp"
#include "net/loop.hpp"

namespace facegate::detail {

/// One local file to upload for one model.
struct UploadTask {
  std::string model;       ///< the policy's model: the oss:// URL is valid for it alone
  std::string path;        ///< the file
  std::uint64_t size = 0;  ///< its size when its identity was taken
  std::string sha256;      ///< its SHA-256 then (hex): the bytes posted must have it
};

/// Called once per submitted file, from the loop.
using UploadDone = std::function<void(UploadFacts facts)>;

/// Uploads files, streamed (never read whole into memory), each checked on the way against the
/// size and hash its identity saw: a file changed since it was judged is not used.
///
/// Policies: a model's policy is asked for (GET, with the key) when a file needs one and none
/// is valid for kPolicyMargin more; one request at a time per model, the files waiting for it.
/// A 429, a 5xx or a connection failure is asked again (DetectOptions' attempts and backoff); any
/// other refusal (401, 400) fails the files waiting and every later one of that model.
///
/// Uploads: at most max_posts at once, each form signed with the model's policy when its post
/// starts; the form's fields in upload_form_fields() order, `file` last; the key never goes to
/// the upload host. 200 is success. 409 FileAlreadyExists is too: the object's name holds the
/// file's hash (upload_object_name), so what is there is these bytes, posted before under the
/// same policy (unless this run stored other bytes under it; then it fails). A 403 "Policy expired"
/// asks for a new policy, once per file. A 5xx or a broken connection is tried again, up to
/// DetectOptions::max_attempts (uploads are not billed).
///
/// Not thread-safe: use it from the loop's thread; the loop must outlive it.
class Uploader {
 public:
  /// An uploader asking policies of `base_url` with `key`; `now` dates the oss:// URLs' expiry;
  /// at most `max_posts` posts are on the loop at once (the others wait here, unsigned).
  Uploader(TransferLoop& loop, ApiKey key, DetectOptions options, std::string base_url,
           std::function<std::chrono::system_clock::time_point()> now, unsigned max_posts);
  ~Uploader();
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  /// Uploads `task`; `on_done` gets its facts exactly once, from the loop (never inside submit).
  void submit(UploadTask task, UploadDone on_done);
  /// Ends every upload not finished, policy requests and posts in flight included, as failed.
  void cancel_pending();
  /// Files submitted whose callback has not run yet.
  std::size_t pending() const noexcept;

  /// A policy is used for a new upload only while it has this long left to live.
  static constexpr std::chrono::seconds kPolicyMargin{60};

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace facegate::detail
