// The temporary upload's policy: where a file may be posted, with which signed fields, until
// when (docs/service.md#temporary-upload).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "facegate/detect.hpp"

namespace facegate::detail {

/// A policy as getPolicy answers it, for one model.
struct UploadPolicy {
  std::string policy;                ///< data.policy (base64), sent back as the field "policy"
  std::string signature;             ///< data.signature: the field "Signature"
  std::string access_key_id;         ///< data.oss_access_key_id: the field "OSSAccessKeyId"
  std::string upload_dir;            ///< data.upload_dir: object keys are upload_dir + "/" + name
  std::string upload_host;           ///< data.upload_host: the URL the form is posted to
  std::string object_acl;            ///< data.x_oss_object_acl, sent back unchanged
  std::string forbid_overwrite;      ///< data.x_oss_forbid_overwrite, sent back unchanged
  std::uint64_t max_file_bytes = 0;  ///< data.max_file_size_mb in bytes (MiB); 0: not stated
  std::chrono::steady_clock::time_point expires;  ///< fetch time + data.expire_in_seconds
};

/// getPolicy's answer read: a policy, or why there is none.
struct PolicyAnswer {
  std::optional<UploadPolicy> policy;  ///< set on success
  std::string error;                   ///< why not: "HTTP 401 InvalidApiKey: ..."
  /// The failure may pass (429, 5xx): ask again after a backoff. Else every upload of the
  /// model would fail alike (a bad key, a model without uploads).
  bool transient = false;
};

/// Reads getPolicy's answer: HTTP `status`, `body` (JSON; may be cut short or not JSON at all),
/// received at `fetched_at`. A 200 whose data lacks a field, or whose upload_host is not an
/// http(s) URL, is an error too.
PolicyAnswer parse_policy_answer(int status, std::string_view body,
                                 std::chrono::steady_clock::time_point fetched_at);

/// GET {base}/uploads?action=getPolicy&model=MODEL, the model percent-encoded.
std::string policy_url(std::string_view base_url, std::string_view model);

/// The object name of a file after the policy's upload_dir: the first 16 hex digits of its
/// SHA-256, '-', and its base name with every byte but [A-Za-z0-9._-] replaced by '_' (at most
/// 100 of them). Two files with one base name get two objects, one file always the same:
/// so a repeated upload under a policy that forbids overwriting (409) is the same bytes.
std::string upload_object_name(std::string_view path, std::string_view sha256_hex);

/// `bytes` as lower-case hex digits, two per byte.
std::string lower_hex(const unsigned char* bytes, std::size_t length);

/// What an upload's oss:// URL is valid for beyond its model: the account (the first 16 hex
/// digits of the key's SHA-256: the ledger never holds the key) and the base URL (keys are
/// region-bound), as one text for the ledger's UploadKey::scope.
std::string upload_scope(const ApiKey& key, std::string_view base_url);

}  // namespace facegate::detail
