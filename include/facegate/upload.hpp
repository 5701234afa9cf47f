// facegate: local files reach the detector through the vendor's temporary upload
// (docs/service.md#temporary-upload).
//
// The service fetches only URLs. For a local file that passes the local check, facegate asks
// for an upload policy (GET {base}/uploads?action=getPolicy&model=M), posts the file to the
// policy's host as multipart/form-data, and sends the detect call with "oss://" + the object's
// key and the header X-DashScope-OssResourceResolve: enable. A rejected file is never uploaded.
// The Checker does this (CheckerOptions::upload); these are the facts it records.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facegate/export.h"

FACEGATE_PUBLIC_BEGIN
namespace facegate {

/// How long an oss:// URL of the temporary upload is valid (docs/service.md#temporary-upload:
/// 48 hours, for the model named in the policy and the same account).
inline constexpr std::chrono::hours kOssUrlLifetime{48};

/// What became of a local file's upload.
enum class UploadOutcome : std::uint8_t {
  uploaded,  ///< posted in this run: the object exists and `oss_url` names it
  reused,    ///< an earlier upload of the same bytes, model and account, from the ledger
  failed,    ///< no oss:// URL (`error` says why): the detector was not called
};

/// Stable snake_case name of an outcome ("uploaded", "reused", "failed").
std::string_view upload_outcome_name(UploadOutcome outcome) noexcept;

/// One local file's upload, as its record shows it (remote.upload).
struct UploadFacts {
  UploadOutcome outcome = UploadOutcome::failed;  ///< what happened
  std::string oss_url;         ///< "oss://" + the object's key; empty when failed
  std::uint64_t bytes = 0;     ///< file bytes posted in this run (retries included)
  std::uint32_t attempts = 0;  ///< upload POSTs made in this run, retries included
  /// When the oss:// URL stops being valid (uploaded, reused); empty for an object that was
  /// already there (409 FileAlreadyExists), whose age is unknown.
  std::optional<std::chrono::system_clock::time_point> expires_at;
  /// failed: the policy's or the upload's failure; else empty, or why the ledger could not
  /// remember the upload.
  std::string error;
};

/// Dry run: the requests an upload would make. Nothing is sent, so the policy's answer (its
/// upload host and directory) is shown as placeholders.
struct UploadPlan {
  std::string policy_url;   ///< GET {base}/uploads?action=getPolicy&model=MODEL
  std::string path;         ///< the local file
  std::uint64_t bytes = 0;  ///< its size
  std::string object_name;  ///< the name after the policy's upload_dir ("{sha256}-face.jpg")
  /// The oss:// URL the detect call would use ("oss://{upload_dir}/" + object_name).
  std::string oss_url() const;
};

/// The plan as text for `--dry-run`: the policy request (Authorization shown as sk-***) and the
/// multipart POST with its fields in order, `file` last. Ends with a newline.
std::string render_upload_plan(const UploadPlan& plan, bool has_api_key);

/// The same as a JSON object {"policy_request": {"method","url","headers"}, "upload":
/// {"method","url","fields":[...],"file","bytes"}} for JSONL records.
std::string upload_plan_json(const UploadPlan& plan, bool has_api_key);

/// The form fields of the upload POST in the order they are sent; `file` is last, as the
/// service requires (docs/service.md#temporary-upload).
std::vector<std::string_view> upload_form_fields();

}  // namespace facegate
FACEGATE_PUBLIC_END
