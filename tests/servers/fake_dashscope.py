#!/usr/bin/env python3
"""A fake of the DashScope face-detect API for facegate's tests (python3 standard library only).

It follows the service contract of docs/service.md, written down here independently of
lib/rules/models.json so that a mistake in the rules file shows up as a disagreement instead of
being copied.

Usage:
    fake_dashscope.py --key KEY [--port 0] [--files DIR]
                      [--input-fault request_error|failed_check] [--refuse-model MODEL=CODE ...]
                      [--policy-ttl SECONDS] [--max-file-size-mb M]

Listens on 127.0.0.1 (port 0: a free port) and prints "PORT <n>" on stdout once it accepts
connections. The base URL for the client is http://127.0.0.1:<n>/api/v1.

Endpoints:
    POST /api/v1/services/aigc/image2video/face-detect   wan2.2-s2v-detect, emo-detect-v1,
                                                         liveportrait-detect, emoji-detect-v1
    POST /api/v1/services/aigc/image2video/aa-detect     animate-anyone-detect-gen2
    GET  /api/v1/uploads?action=getPolicy&model=MODEL    a temporary-upload policy (below)
    POST /__oss              the policies' upload_host: the OSS PostObject form (below)
    GET  /files/<name>       a file of --files (the images under test), for the fake's own download
    GET  /__log              every detect request received, as a JSON array (see below)
    GET  /__policies         every policy request received, as a JSON array (see below)
    GET  /__uploads          every upload request received, as a JSON array (see below)
    POST /__fault            arms a fault for the next policy or upload requests (below)
    POST /__reset            clears the logs, the rate windows, the fault counters and armed
                             faults, the issued policies and the uploaded files

A detect request is answered by the first of these checks that applies:
    1. Authorization is "Bearer <KEY>":                401 InvalidApiKey
    2. no X-DashScope-Async header:                    403 AccessDenied
    3. Content-Type is application/json:               400 InvalidParameter
    4. the body is a JSON object with a string model and input.image_url:
                                                       400 InvalidParameter
    5. the model exists:                               404 ModelNotFound
       and is not named by --refuse-model MODEL=CODE:  CODE (ModelNotFound 404,
                                                       Model.AccessDenied 403,
                                                       AccessDenied.Unpurchased 403)
    6. the model is served at this endpoint:           400 InvalidParameter
    7. at most the model's RPS requests were admitted in the last second (sliding window;
       refused requests do not count):                 429 Throttling.RateQuota
    8. a fault asked for by the image URL (below; never for an oss:// URL)
    9. parameters: emo-detect-v1 ratio "1:1" or "3:4" (default "1:1"); emoji-detect-v1 ratio
       required and "1:1":                             400 InvalidParameter
   10. the image URL is http(s) on a loopback address: 400 InvalidURL
       or oss://KEY (see "Temporary upload"):
       a. the header X-DashScope-OssResourceResolve: enable was sent:
                                                       400 InvalidParameter
       b. the model takes oss:// URLs (wan2.2-s2v-detect and emoji-detect-v1 only):
                                                       400 InvalidURL
       c. KEY was uploaded:                            400 InvalidURL
       d. under a policy for this model:               400 InvalidURL
   11. the download (urllib, 5 s): refused -> 400 InvalidURL.ConnectionRefused,
       timeout -> 400 InvalidURL.Timeout, HTTP error -> 400 InvalidURL
       (an oss:// URL: the uploaded bytes instead, their size the file's size)
   12. the format by magic bytes is one the model accepts:
                                                       400 InvalidParameter.UnsupportedFileFormat
   13. the pixel, aspect and size limits of the model (width/height from the PNG IHDR, JPEG SOF,
       BMP info header or WebP VP8/VP8L/VP8X header; size from Content-Length):
                                                       400 InvalidFile.Resolution /
                                                       InvalidFile.AspectRatio / InvalidFile.Size
   14. the face rule: a file name (of the URL's path or the oss key) containing "noface" fails
       the check in the model's documented shape (HTTP 200, billed); anything else passes in the
       model's documented shape.
Refusals (1-13) have the shape {"code","message","request_id"} and no usage: not billed.

Input faults (12 and 13: the image itself is wrong) are answered one of the two ways the vendor
documents, because it does not say which one an input fault gets (docs/service.md#billing):
    request_error  (the default) the refusal above: HTTP 400 {"code","message"}, not billed
    failed_check   a completed check that failed: HTTP 200, output in the model's failed shape
                   carrying the code and message (liveportrait-detect and animate-anyone-detect-gen2
                   have no code field: the message only), usage.image_count 1: billed
chosen by --input-fault for the whole run, or by input_fault=<way> in the image URL's query for
one request (not for an oss:// URL, which has no query).

Faults, chosen by the query string of input.image_url (the download ignores the query):
    fault=500          500 InternalError
    fault=503          503 ModelUnavailable
    fault=429          429 Throttling.RateQuota
    fault=html502      502 with an HTML body
    fault=timeout_url  400 InvalidURL.Timeout
    fault=slow         wait delay=<seconds> (default 3), then answer normally, or with the
                       fault then=<fault> (one of those below)
    fault=malformed    200 with a body that is not JSON
    fault=truncated    200 with the normal answer cut in half (Content-Length matches the cut)
    fault=wrong_type   200 with the normal answer, every value in output and usage a string
    fault=fail400      the model's failed check, delivered as HTTP 400 with output.code
                       (InvalidFile.NoHuman where the model's failed shape has no code)
    fault=short_body   200 announcing more bytes than it sends, then closes (reset mid-answer)
    fault=reset        reads the request, then resets the connection without answering
    fault=echo_key     400 InvalidParameter whose message quotes the Authorization header
    fault=refuse_model the model-level refusal code=<CODE> (default ModelNotFound), as
                       --refuse-model gives it
  with
    times=<n>             the fault hits only the first n requests for this exact image URL
    retry_after=<s>       Retry-After: <s> on 429/503
    retry_after_date=<s>  Retry-After as an HTTP-date <s> seconds ahead, on 429/503

Temporary upload (docs/service.md#temporary-upload): a local file becomes an oss:// URL.
  GET /api/v1/uploads?action=getPolicy&model=MODEL is answered by the first check that applies:
    1. a fault armed for "policy" (POST /__fault)
    2. Authorization is "Bearer <KEY>":                401 InvalidApiKey (as a detect request)
    3. action is getPolicy and model is one of the five models:
                                                       400 InvalidParameter
    4. at most 100 policy requests for this model were admitted in the last second (sliding
       window; refused requests do not count):         429 Throttling.RateQuota
    5. 200 {"request_id", "data": {"policy": base64 of the JSON policy document {"expiration":
       ISO 8601 UTC, "model", "conditions": [...]}, "signature": base64 HMAC-SHA1 of the policy,
       "upload_dir": "dashscope-instant/<md5 of the key>/<UTC date>/<uuid>" (new per policy),
       "upload_host": "http://127.0.0.1:<port>/__oss", "expire_in_seconds": --policy-ttl
       (default 300), "max_file_size_mb": --max-file-size-mb (default 100),
       "capacity_limit_mb": 999999, "oss_access_key_id", "x_oss_object_acl": "private",
       "x_oss_forbid_overwrite": "true"}}
  POST /__oss (Content-Length or chunked; Expect: 100-continue is answered) is answered by the
  first check that applies, a failure in OSS's shape (Content-Type application/xml)
  <?xml version="1.0" encoding="UTF-8"?><Error><Code/><Message/><RequestId/></Error>:
    1. a fault armed for "upload" (POST /__fault)
    2. Content-Type is multipart/form-data with a boundary, and the body is well formed:
                                                       400 InvalidArgument
    3. the parts are exactly OSSAccessKeyId, Signature, policy, key, x-oss-object-acl,
       x-oss-forbid-overwrite, success_action_status and file, each once (names compared
       exactly), file the last one:                    400 InvalidArgument
    4. policy is one the fake issued (since the last /__reset) and Signature and
       OSSAccessKeyId are those it was issued with:    403 AccessDenied "Invalid according to
                                                       Policy"
    5. the policy has not expired (--policy-ttl):      403 AccessDenied "Policy expired."
    6. x-oss-object-acl is the policy's ("private"):   403 AccessDenied
    7. x-oss-forbid-overwrite is "true":               403 AccessDenied
    8. key is the policy's upload_dir + "/" + a non-empty name:
                                                       403 AccessDenied
    9. the file is at most max_file_size_mb MiB:       400 EntityTooLarge
   10. key was not uploaded before:                    409 FileAlreadyExists
   11. the bytes are kept in memory under key, for the policy's model; success_action_status
       "200": 200 with an empty body, any other value: 204.
  The detect request then names oss://KEY (checks 10 and 11 above). The URLs' 48 hours and the
  account are not modelled: an upload is good until /__reset, for the one key of the run.

POST /__fault with {"target": "policy"|"upload", "kind": K, "times": n (default 1)} makes the
next n requests to that target fail (a new one replaces the armed one of its target):
    policy  "401"      401 InvalidApiKey
            "429"      429 Throttling.RateQuota with Retry-After: 1
            "500"      500 InternalError
    upload  "expired"  403 AccessDenied "Policy expired."
            "403"      403 AccessDenied (another message)
            "500"      500 InternalError
            "reset"    reads the headers and part of the body, then resets the connection
A faulted request is logged but stores nothing. An invalid body is answered 400.

GET /__log answers a JSON array, in arrival order, of
    {"t": CLOCK_MONOTONIC seconds at arrival, "client_port": the connection's port, "path",
     "model", "image_url", "parameters", "headers" (Authorization replaced by "<redacted>"),
     "auth": "valid" / "invalid" / "missing", "status", "code", "fault",
     "oss_resolve": whether X-DashScope-OssResourceResolve: enable was sent}
GET /__policies answers, in arrival order, {"t", "model" (null if none), "status"};
GET /__uploads answers, in arrival order, {"t", "key" (null if none), "size" (bytes of the
file part, null if none), "status" (null for a reset), "fields": the part names in order}.
The API key itself is never logged.
"""

import argparse
import base64
import collections
import email.message
import email.parser
import email.utils
import hashlib
import hmac
import ipaddress
import json
import os
import posixpath
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FACE_DETECT = "/api/v1/services/aigc/image2video/face-detect"
AA_DETECT = "/api/v1/services/aigc/image2video/aa-detect"
UPLOADS = "/api/v1/uploads"
OSS_UPLOAD = "/__oss"
DOWNLOAD_BYTES = 64 * 1024
DOWNLOAD_TIMEOUT = 5.0

# The temporary upload (docs/service.md#temporary-upload).
POLICY_RPS = 100
CAPACITY_LIMIT_MB = 999999
MIB = 1024 * 1024
OSS_ACCESS_KEY_ID = "LTAI5tFakeDashScopeOssKey"
OSS_SECRET = b"fake-dashscope-oss-secret"  # signs the policies (HMAC-SHA1, as OSS PostObject V1)
OBJECT_ACL = "private"
UPLOAD_FIELDS = ("OSSAccessKeyId", "Signature", "policy", "key", "x-oss-object-acl",
                 "x-oss-forbid-overwrite", "success_action_status", "file")
RESET_AFTER_BYTES = 64 * 1024  # how much of an upload the "reset" fault reads first

# POST /__fault: target -> kind -> (status, code, message, headers); "reset" resets instead.
FAULTS = {
    "policy": {
        "401": (401, "InvalidApiKey", "Invalid API-key provided.", {}),
        "429": (429, "Throttling.RateQuota", "Requests rate limit exceeded.", {"Retry-After": "1"}),
        "500": (500, "InternalError", "An internal error has occurred.", {}),
    },
    "upload": {
        "expired": (403, "AccessDenied", "Policy expired.", {}),
        "403": (403, "AccessDenied", "fake: the upload is denied on purpose.", {}),
        "500": (500, "InternalError", "We encountered an internal error. Please try again.", {}),
        "reset": None,
    },
}

ALL_FORMATS = ("jpeg", "png", "bmp", "webp")
INPUT_FAULT_WAYS = ("request_error", "failed_check")

# Refusals of the model itself, whatever the image (docs/service.md#request-failures).
MODEL_REFUSALS = {
    "ModelNotFound": (404, "Model not exist."),
    "Model.AccessDenied": (403, "Model access denied."),
    "AccessDenied.Unpurchased": (403, "Access denied: the model has not been purchased."),
}

# docs/service.md#input-rules.
MODELS = {
    "wan2.2-s2v-detect": dict(
        path=FACE_DETECT, shape="wan", rps=5, formats=ALL_FORMATS, oss=True,
        min_width=400, max_width=7000, min_height=400, max_height=7000),
    "emo-detect-v1": dict(
        path=FACE_DETECT, shape="emo", rps=5, formats=ALL_FORMATS,
        min_short=400, max_long=7000, ratio=("1:1", "3:4"), ratio_default="1:1"),
    "liveportrait-detect": dict(
        path=FACE_DETECT, shape="liveportrait", rps=5, formats=ALL_FORMATS,
        max_long=4096, max_aspect=2, size_below=10485760),
    "emoji-detect-v1": dict(
        path=FACE_DETECT, shape="emoji", rps=1, formats=ALL_FORMATS, oss=True,
        min_width=400, max_width=7000, min_height=400, max_height=7000,
        size_at_most=10485760, ratio=("1:1",), ratio_default=None),
    "animate-anyone-detect-gen2": dict(
        path=AA_DETECT, shape="aa", rps=5, formats=("jpeg", "png", "bmp"),
        max_long=4096, max_aspect=2, size_below=5242880),
}


class Refusal(Exception):
    """A request failure: {"code","message","request_id"} under an HTTP error status."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class InputFault(Refusal):
    """A fault of the image itself (format, resolution, aspect, size): see "Input faults"."""

    def __init__(self, code, message):
        super().__init__(400, code, message)


class OssError(Exception):
    """A refusal of the upload host, in OSS's XML error shape."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def model_refusal(code):
    status, message = MODEL_REFUSALS[code]
    return Refusal(status, code, message)


# ---------------------------------------------------------------------------------------------
# Image headers (only what the size rules need)

def _jpeg_size(data):
    # ITU T.81 B.1.1.2 / B.2.2: markers 0xFF xx; SOFn (C0-CF but C4 DHT, C8 JPG, CC DAC) holds
    # P (1 byte), Y (2), X (2); standalone markers (TEM, RSTn, SOI) have no length.
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def image_info(data):
    """(format, width, height); width/height None when the header is incomplete."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        # PNG 11.2.2: IHDR first, width and height big-endian at offsets 16 and 20.
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return ("png",) + struct.unpack(">II", data[16:24])
        return "png", None, None
    if data.startswith(b"\xff\xd8"):
        size = _jpeg_size(data)
        return ("jpeg",) + (size if size else (None, None))
    if data.startswith(b"BM") and len(data) >= 26:
        # BITMAPCOREHEADER (12 bytes) has 16-bit sizes; later headers signed 32-bit,
        # a negative height meaning top-down rows.
        header_size = struct.unpack("<I", data[14:18])[0]
        if header_size == 12:
            return ("bmp",) + struct.unpack("<HH", data[18:22])
        width, height = struct.unpack("<ii", data[18:26])
        return "bmp", abs(width), abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # RFC 6386 9.1
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and data[20] == 0x2F:  # WebP lossless 3.2: 14-bit sizes minus 1
            bits = struct.unpack("<I", data[21:25])[0]
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":  # WebP container: 24-bit canvas sizes minus 1
            return ("webp", 1 + int.from_bytes(data[24:27], "little"),
                    1 + int.from_bytes(data[27:30], "little"))
        return "webp", None, None
    if data[:4] in (b"GIF8",):
        return "gif", None, None
    return "unknown", None, None


# ---------------------------------------------------------------------------------------------
# The model's judgement

def check_limits(rules, width, height, size):
    if width is None or height is None:
        raise InputFault("InvalidFile.Resolution", "Unable to read the image resolution.")
    short, long_ = min(width, height), max(width, height)
    pixel_rules = (
        ("min_width", width, lambda v, b: v >= b), ("max_width", width, lambda v, b: v <= b),
        ("min_height", height, lambda v, b: v >= b), ("max_height", height, lambda v, b: v <= b),
        ("min_short", short, lambda v, b: v >= b), ("max_long", long_, lambda v, b: v <= b),
    )
    for name, value, ok in pixel_rules:
        if name in rules and not ok(value, rules[name]):
            raise InputFault("InvalidFile.Resolution",
                             f"The image resolution {width}x{height} is out of range.")
    if "max_aspect" in rules and long_ > rules["max_aspect"] * short:
        raise InputFault("InvalidFile.AspectRatio",
                         f"The aspect ratio of {width}x{height} is above {rules['max_aspect']}.")
    if size is not None:
        if ("size_below" in rules and size >= rules["size_below"]) or (
                "size_at_most" in rules and size > rules["size_at_most"]):
            raise InputFault("InvalidFile.Size", f"The image file size {size} is too large.")


def passed_output(shape, width, height):
    face = [width // 4, height // 4, 3 * width // 4, 3 * height // 4]
    whole = [0, 0, width, height]
    return {
        "wan": {"check_pass": True, "humanoid": True},
        "emo": {"check_pass": True, "face_bbox": face, "ext_bbox": whole},
        "liveportrait": {"pass": True, "message": "success"},
        "emoji": {"bbox_face": face, "ext_bbox_face": whole},
        "aa": {"check_pass": True, "bodystyle": "half" if height < 2 * width else "full"},
    }[shape]


def failed_output(shape):
    return {
        "wan": {"check_pass": False, "code": "InvalidFile.NoHuman",
                "message": "No human detected."},
        "emo": {"check_pass": False, "code": "InvalidFile.NoHuman",
                "message": "No human face detected."},
        "liveportrait": {"pass": False, "message": "No human face detected."},
        "emoji": {"code": "InvalidFile.FacePose", "message": "No frontal face detected."},
        "aa": {"check_pass": False, "reason": "No complete human body detected."},
    }[shape]


def fault_output(shape, code, message):
    """A completed check that failed for an input fault, in the model's failed shape."""
    output = failed_output(shape)
    for field in ("code", "message", "reason"):
        if field in output:
            output[field] = code if field == "code" else message
    return output


def completed(output):
    return {"output": output, "usage": {"image_count": 1}, "request_id": str(uuid.uuid4())}


def stringify_values(value):
    if isinstance(value, dict):
        return {k: stringify_values(v) for k, v in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, list)) else value


# ---------------------------------------------------------------------------------------------
# State shared by the handler threads

class State:
    def __init__(self, key, files, input_fault, refused_models, policy_ttl, max_file_size_mb):
        self.key, self.files = key, files
        self.input_fault, self.refused_models = input_fault, refused_models
        self.policy_ttl, self.max_file_size_mb = policy_ttl, max_file_size_mb
        self.account = hashlib.md5(key.encode()).hexdigest()  # the upload_dir's account part
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.log, self.policy_log, self.upload_log = [], [], []
            self.windows = collections.defaultdict(collections.deque)
            self.fault_hits = collections.Counter()
            self.armed_faults = {}  # target -> [kind, requests left]
            self.policies = {}      # policy (base64) -> what it was issued with
            self.uploads = {}       # key -> (bytes, model)

    def admit(self, window_name, limit, now):
        """A sliding 1-second window of at most limit requests; refused requests do not count."""
        with self.lock:
            window = self.windows[window_name]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return False
            window.append(now)
            return True

    def arm_fault(self, target, kind, times):
        with self.lock:
            self.armed_faults[target] = [kind, times]

    def take_fault(self, target):
        """The kind of the fault armed for target, counted as used; None when none is armed."""
        with self.lock:
            armed = self.armed_faults.get(target)
            if armed is None:
                return None
            armed[1] -= 1
            if armed[1] == 0:
                del self.armed_faults[target]
            return armed[0]

    def issue_policy(self, model, upload_host):
        """A new policy for model: the "data" of the getPolicy answer."""
        expires = time.time() + self.policy_ttl
        upload_dir = "/".join(("dashscope-instant", self.account,
                               time.strftime("%Y-%m-%d", time.gmtime()), str(uuid.uuid4())))
        document = {
            "expiration": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(expires)),
            "model": model,
            "conditions": [
                ["content-length-range", 0, self.max_file_size_mb * MIB],
                ["starts-with", "$key", upload_dir + "/"],
                {"x-oss-object-acl": OBJECT_ACL},
                {"x-oss-forbid-overwrite": "true"},
            ],
        }
        policy = base64.b64encode(json.dumps(document).encode()).decode()
        signature = base64.b64encode(
            hmac.new(OSS_SECRET, policy.encode(), hashlib.sha1).digest()).decode()
        with self.lock:
            self.policies[policy] = dict(
                signature=signature, access_key_id=OSS_ACCESS_KEY_ID, model=model,
                upload_dir=upload_dir, expires=time.monotonic() + self.policy_ttl)
        return {
            "policy": policy, "signature": signature, "upload_dir": upload_dir,
            "upload_host": upload_host, "expire_in_seconds": self.policy_ttl,
            "max_file_size_mb": self.max_file_size_mb, "capacity_limit_mb": CAPACITY_LIMIT_MB,
            "oss_access_key_id": OSS_ACCESS_KEY_ID, "x_oss_object_acl": OBJECT_ACL,
            "x_oss_forbid_overwrite": "true",
        }

    def issued_policy(self, policy, signature, access_key_id):
        """What policy was issued with, if the fake issued it with that signature and key id."""
        with self.lock:
            issued = self.policies.get(policy)
        if issued is None or not hmac.compare_digest(issued["signature"], signature) or \
                issued["access_key_id"] != access_key_id:
            return None
        return issued

    def store_upload(self, key, data, model):
        """False when key is stored already (x-oss-forbid-overwrite)."""
        with self.lock:
            if key in self.uploads:
                return False
            self.uploads[key] = (data, model)
            return True

    def stored_upload(self, key):
        with self.lock:
            return self.uploads.get(key)

    def fault_applies(self, image_url, times):
        with self.lock:
            self.fault_hits[image_url] += 1
            return times is None or self.fault_hits[image_url] <= times


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dashscope/1"
    # The headers and the body are two writes: without TCP_NODELAY the second waits for the
    # client's delayed ACK (40 ms a request on a kept-alive connection).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: the tests read /__log
        pass

    def handle(self):
        try:
            super().handle()
        except (OSError, ValueError):
            pass  # the connection was reset on purpose or by the client

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # the connection was reset on purpose or by the client

    # -- plumbing ------------------------------------------------------------------------------

    def send_bytes(self, status, body, content_type="application/json", headers=None,
                   content_length=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if content_length is None
                                               else content_length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def send_json(self, status, document, headers=None):
        self.send_bytes(status, json.dumps(document).encode(), headers=headers)

    def send_refusal(self, refusal):
        self.send_json(refusal.status, {"code": refusal.code, "message": refusal.message,
                                        "request_id": str(uuid.uuid4())}, refusal.headers)

    def read_body(self):
        """The request body, by Content-Length or chunked."""
        if self.headers.get("Transfer-Encoding", "").strip().lower() == "chunked":
            return self.read_chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def read_chunked_body(self):
        # RFC 9112 7.1: hex size [; extensions] CRLF, data CRLF, ..., 0 CRLF, trailers, CRLF.
        chunks = []
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)
        while self.rfile.readline(8192).strip():
            pass
        return b"".join(chunks)

    def reset_connection(self):
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self):
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        logs = {"/__log": "log", "/__policies": "policy_log", "/__uploads": "upload_log"}
        if path in logs:
            with state.lock:
                body = json.dumps(getattr(state, logs[path])).encode()
            self.send_bytes(200, body)
        elif path == UPLOADS:
            self.answer_policy_request()
        elif self.path.startswith("/files/") and state.files:
            name = os.path.basename(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
            try:
                with open(os.path.join(state.files, name), "rb") as f:
                    data = f.read()
            except OSError:
                self.send_bytes(404, b"not found", "text/plain")
                return
            self.send_bytes(200, data, "application/octet-stream")
        else:
            self.send_bytes(404, b"not found", "text/plain")

    def do_POST(self):
        arrival = time.monotonic()
        state = self.server.state
        if self.path.rstrip("/") == OSS_UPLOAD:
            self.answer_upload(arrival)
            return
        body = self.read_body()
        if self.path == "/__reset":
            state.reset()
            self.send_json(200, {"reset": True})
            return
        if self.path == "/__fault":
            self.arm_fault(body)
            return
        record = self.new_record(arrival)
        try:
            self.answer(record, body)
        except Refusal as refusal:
            record["status"], record["code"] = refusal.status, refusal.code
            self.send_refusal(refusal)

    def new_record(self, arrival):
        state = self.server.state
        headers = {k: ("<redacted>" if k.lower() == "authorization" else v)
                   for k, v in self.headers.items()}
        record = {"t": arrival, "client_port": self.client_address[1], "path": self.path,
                  "model": None, "image_url": None,
                  "parameters": None, "headers": headers, "auth": self.auth(),
                  "status": None, "code": None, "fault": None,
                  "oss_resolve": self.oss_resolve()}
        with state.lock:
            state.log.append(record)
        return record

    def auth(self):
        """The Authorization header: "missing", "valid" or "invalid"."""
        auth = self.headers.get("Authorization")
        if auth is None:
            return "missing"
        return "valid" if auth == "Bearer " + self.server.state.key else "invalid"

    def oss_resolve(self):
        return self.headers.get("X-DashScope-OssResourceResolve", "").strip().lower() == "enable"

    def arm_fault(self, body):
        try:
            request = json.loads(body)
            target, kind, times = request["target"], request["kind"], request.get("times", 1)
            valid = (kind in FAULTS[target] and type(times) is int and times >= 1)
        except (ValueError, KeyError, TypeError):
            valid = False
        if not valid:
            self.send_json(400, {"error": "expected {\"target\", \"kind\", \"times\" >= 1} with "
                                          f"a target and kind of {json.dumps(list(FAULTS))}"})
            return
        self.server.state.arm_fault(target, kind, times)
        self.send_json(200, {"target": target, "kind": kind, "times": times})

    # -- the temporary upload ------------------------------------------------------------------

    def answer_policy_request(self):
        state = self.server.state
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        record = {"t": time.monotonic(), "model": query.get("model", [None])[0], "status": None}
        with state.lock:
            state.policy_log.append(record)
        try:
            data = self.policy(record, query)
        except Refusal as refusal:
            record["status"] = refusal.status
            self.send_refusal(refusal)
            return
        record["status"] = 200
        self.send_json(200, {"request_id": str(uuid.uuid4()), "data": data})

    def policy(self, record, query):
        """The "data" of a getPolicy answer; raises the Refusal of the first check that fails."""
        state = self.server.state
        fault = state.take_fault("policy")
        if fault is not None:
            raise Refusal(*FAULTS["policy"][fault])
        require_key(self.auth())
        model = record["model"]
        if query.get("action") != ["getPolicy"] or model is None:
            raise Refusal(400, "InvalidParameter", "action=getPolicy and model are required.")
        if model not in MODELS:
            raise Refusal(400, "InvalidParameter", f"Unknown model: {model}")
        if not state.admit(("policy", model), POLICY_RPS, record["t"]):
            raise Refusal(429, "Throttling.RateQuota", "Requests rate limit exceeded.")
        upload_host = f"http://127.0.0.1:{self.server.server_address[1]}{OSS_UPLOAD}"
        return state.issue_policy(model, upload_host)

    def answer_upload(self, arrival):
        state = self.server.state
        record = {"t": arrival, "key": None, "size": None, "status": None, "fields": []}
        with state.lock:
            state.upload_log.append(record)
        fault = state.take_fault("upload")
        if fault == "reset":
            self.read_part_of_body()
            self.reset_connection()
            return
        body = self.read_body()
        try:
            parts = parse_form(self.headers.get("Content-Type", ""), body)
        except OssError as error:
            parts, form_error = [], error
        else:
            form_error = None
        names = [name for name, _ in parts]
        record.update(fields=names, key=part_text(parts, "key"),
                      size=len(parts[-1][1]) if names and names[-1] == "file" else None)
        try:
            if fault is not None:
                raise OssError(*FAULTS["upload"][fault][:3])
            if form_error is not None:
                raise form_error
            record["status"] = self.store_upload(parts)
        except OssError as error:
            record["status"] = error.status
            self.send_oss_error(error)
            return
        self.send_empty(record["status"])

    def store_upload(self, parts):
        """Stores the file of a PostObject form; its status, or raises the first check's OssError."""
        state = self.server.state
        fields = form_fields(parts)
        issued = state.issued_policy(fields["policy"], fields["Signature"],
                                     fields["OSSAccessKeyId"])
        if issued is None:
            raise OssError(403, "AccessDenied", "Invalid according to Policy")
        if time.monotonic() >= issued["expires"]:
            raise OssError(403, "AccessDenied", "Policy expired.")
        for name, value in (("x-oss-object-acl", OBJECT_ACL), ("x-oss-forbid-overwrite", "true")):
            if fields[name] != value:
                raise OssError(403, "AccessDenied", "Invalid according to Policy: Policy Condition "
                               f'failed: ["eq", "${name}", "{value}"]')
        key, prefix = fields["key"], issued["upload_dir"] + "/"
        if not key.startswith(prefix) or key == prefix:
            raise OssError(403, "AccessDenied", "Invalid according to Policy: Policy Condition "
                           f'failed: ["starts-with", "$key", "{prefix}"]')
        if len(fields["file"]) > state.max_file_size_mb * MIB:
            raise OssError(400, "EntityTooLarge",
                           "Your proposed upload exceeds the maximum allowed size.")
        if not state.store_upload(key, fields["file"], issued["model"]):
            raise OssError(409, "FileAlreadyExists",
                           "The object you specified already exists and can not be overwritten.")
        return 200 if fields["success_action_status"] == "200" else 204

    def read_part_of_body(self):
        """Reads half the body (at most RESET_AFTER_BYTES): an upload about to be cut off."""
        length = self.headers.get("Content-Length")
        if length is not None:
            self.rfile.read(min(int(length) // 2, RESET_AFTER_BYTES))
        else:
            self.rfile.read1(RESET_AFTER_BYTES)

    def send_oss_error(self, error):
        request_id = uuid.uuid4().hex[:24].upper()
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
                f"  <Code>{xml_text(error.code)}</Code>\n"
                f"  <Message>{xml_text(error.message)}</Message>\n"
                f"  <RequestId>{request_id}</RequestId>\n</Error>\n").encode()
        self.send_bytes(error.status, body, "application/xml", {"x-oss-request-id": request_id})

    def send_empty(self, status):
        """An answer without a body (204 has no Content-Length: RFC 9110 8.6)."""
        self.send_response(status)
        self.send_header("x-oss-request-id", uuid.uuid4().hex[:24].upper())
        if status != 204:
            self.send_header("Content-Length", "0")
        self.end_headers()

    # -- the detect API ------------------------------------------------------------------------

    def answer(self, record, body):
        self.note_request(record, body)
        if self.path not in (FACE_DETECT, AA_DETECT):
            raise Refusal(404, "NotFound", "Not found.")
        require_key(record["auth"])
        if self.headers.get("X-DashScope-Async") is not None:
            raise Refusal(403, "AccessDenied",
                          "current user api does not support asynchronous calls")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise Refusal(400, "InvalidParameter", "Content-Type must be application/json.")
        request = self.parse_request_body(body)
        model, image_url = request["model"], request["input"]["image_url"]
        if model not in MODELS:
            raise Refusal(404, "ModelNotFound", f"Model not exist: {model}")
        if model in self.server.state.refused_models:
            raise model_refusal(self.server.state.refused_models[model])
        rules = MODELS[model]
        if rules["path"] != self.path:
            raise Refusal(400, "InvalidParameter", f"Model {model} is not served at {self.path}")
        if not self.server.state.admit(model, rules["rps"], record["t"]):
            raise Refusal(429, "Throttling.RateQuota", "Requests rate limit exceeded.")
        if self.inject_fault(record, rules, image_url):
            return
        check_parameters(rules, request.get("parameters") or {})
        try:
            output = judge(rules, *self.image_of(model, rules, image_url))
        except InputFault as fault:
            if self.input_fault_way(image_url) == "request_error":
                raise
            record["code"] = fault.code
            output = fault_output(rules["shape"], fault.code, fault.message)
        record["status"] = 200
        self.send_json(200, completed(output))

    def image_of(self, model, rules, image_url):
        """(bytes, size, file name) of the image: an upload for oss://KEY, else downloaded."""
        if not image_url.startswith("oss://"):
            return download(image_url)
        if not self.oss_resolve():
            raise Refusal(400, "InvalidParameter", "The oss resource is not resolved: "
                          "X-DashScope-OssResourceResolve: enable is required for oss:// URLs.")
        if not rules.get("oss"):
            raise Refusal(400, "InvalidURL", f"Model {model} does not take oss:// URLs.")
        key = image_url[len("oss://"):]
        stored = self.server.state.stored_upload(key)
        if stored is None:
            raise Refusal(400, "InvalidURL", "The oss resource does not exist.")
        data, upload_model = stored
        if upload_model != model:
            raise Refusal(400, "InvalidURL", "The oss resource was uploaded for another model.")
        return data, len(data), posixpath.basename(key)

    def input_fault_way(self, image_url):
        query = url_query(image_url)
        way = query.get("input_fault", [self.server.state.input_fault])[0]
        if way not in INPUT_FAULT_WAYS:
            raise Refusal(400, "InvalidParameter", f"fake: unknown input_fault {way}")
        return way

    @staticmethod
    def note_request(record, body):
        """Logs what the body names, before any check can refuse it."""
        try:
            request = json.loads(body)
            record.update(model=request.get("model"), image_url=request["input"].get("image_url"),
                          parameters=request.get("parameters"))
        except (ValueError, AttributeError, KeyError, TypeError):
            pass

    @staticmethod
    def parse_request_body(body):
        try:
            request = json.loads(body)
        except ValueError:
            raise Refusal(400, "InvalidParameter", "The request body is not valid JSON.")
        if not (isinstance(request, dict) and isinstance(request.get("model"), str)
                and isinstance(request.get("input"), dict)
                and isinstance(request["input"].get("image_url"), str)):
            raise Refusal(400, "InvalidParameter", "model and input.image_url are required.")
        if not isinstance(request.get("parameters", {}), dict):
            raise Refusal(400, "InvalidParameter", "parameters must be an object.")
        return request

    def inject_fault(self, record, rules, image_url):
        """Applies the fault of the image URL's query string; True when it answered."""
        query = url_query(image_url)
        fault = query.get("fault", [None])[0]
        times = int(query["times"][0]) if "times" in query else None
        if fault is None or not self.server.state.fault_applies(image_url, times):
            return False
        record["fault"] = fault
        retry_headers = {}
        if "retry_after" in query:
            retry_headers["Retry-After"] = query["retry_after"][0]
        if "retry_after_date" in query:
            when = time.time() + float(query["retry_after_date"][0])
            retry_headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
        if fault == "slow":
            time.sleep(float(query.get("delay", ["3"])[0]))
            fault = query.get("then", [None])[0]
            if fault is None:
                return False
            record["fault"] = fault
        if fault == "500":
            raise Refusal(500, "InternalError", "An internal error has occurred.")
        if fault == "503":
            raise Refusal(503, "ModelUnavailable", "The model is unavailable.", retry_headers)
        if fault == "429":
            raise Refusal(429, "Throttling.RateQuota", "Requests rate limit exceeded.",
                          retry_headers)
        if fault == "timeout_url":
            raise Refusal(400, "InvalidURL.Timeout", "Download the media resource timed out.")
        if fault == "echo_key":
            raise Refusal(400, "InvalidParameter",
                          f"Bad request from {self.headers.get('Authorization')}")
        if fault == "refuse_model":
            code = query.get("code", ["ModelNotFound"])[0]
            if code not in MODEL_REFUSALS:
                raise Refusal(400, "InvalidParameter", f"fake: unknown model refusal {code}")
            raise model_refusal(code)
        record["status"] = {"html502": 502, "fail400": 400}.get(fault, 200)
        if fault == "html502":
            self.send_bytes(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif fault == "malformed":
            self.send_bytes(200, b'{"output": {check_pass: true}, "usage": {"image_count": 1}}')
        elif fault == "truncated":
            text = json.dumps(completed(passed_output(rules["shape"], 800, 800))).encode()
            self.send_bytes(200, text[:len(text) // 2])
        elif fault == "wrong_type":
            document = completed(passed_output(rules["shape"], 800, 800))
            document["output"] = stringify_values(document["output"])
            document["usage"] = stringify_values(document["usage"])
            self.send_json(200, document)
        elif fault == "fail400":
            output = failed_output(rules["shape"])
            output.setdefault("code", "InvalidFile.NoHuman")
            self.send_json(400, completed(output))
        elif fault == "short_body":
            text = json.dumps(completed(passed_output(rules["shape"], 800, 800))).encode()
            self.send_bytes(200, text[:20], content_length=len(text))
            self.reset_connection()
        elif fault == "reset":
            record["status"] = None
            self.reset_connection()
        else:
            raise Refusal(400, "InvalidParameter", f"fake: unknown fault {fault}")
        return True


def parse_form(content_type, body):
    """[(name, bytes)] of a multipart/form-data body (RFC 7578, RFC 2046 5.1.1), in order."""
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) \
            or not boundary:
        raise OssError(400, "InvalidArgument",
                       "The Content-Type must be multipart/form-data with a boundary.")
    malformed = OssError(400, "InvalidArgument", "The multipart/form-data body is malformed.")
    # Every delimiter is CRLF "--" boundary; the first may open the body.
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        raise malformed
    parts = []
    for piece in pieces[1:-1]:
        head, separator, content = piece.lstrip(b" \t").partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n"):
            raise malformed
        headers = email.parser.BytesHeaderParser().parsebytes(head[2:] + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if headers.get_content_disposition() != "form-data" or not isinstance(name, str):
            raise malformed
        parts.append((name, content))
    return parts


def part_text(parts, name):
    """The first part called name as text; None when there is none or it is not UTF-8."""
    for part_name, content in parts:
        if part_name == name:
            try:
                return content.decode()
            except UnicodeDecodeError:
                return None
    return None


def form_fields(parts):
    """{name: value} of a PostObject form with exactly UPLOAD_FIELDS, each once, file last; the
    values text but the file's."""
    names = [name for name, _ in parts]
    if sorted(names) != sorted(UPLOAD_FIELDS) or names[-1] != "file":
        raise OssError(400, "InvalidArgument", "The form must hold each of "
                       f"{', '.join(UPLOAD_FIELDS)} once, file last; it holds {', '.join(names)}.")
    fields = {name: part_text(parts, name) for name in names[:-1]}
    if None in fields.values():
        raise OssError(400, "InvalidArgument", "A form field is not UTF-8 text.")
    fields["file"] = parts[-1][1]
    return fields


def xml_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def check_parameters(rules, parameters):
    if "ratio" not in rules:
        return
    ratio = parameters.get("ratio", rules["ratio_default"])
    if ratio is None:
        raise Refusal(400, "InvalidParameter", "parameters.ratio is required.")
    if ratio not in rules["ratio"]:
        raise Refusal(400, "InvalidParameter", f"parameters.ratio must be one of {rules['ratio']}")


def require_key(auth):
    """Refuses a request whose Authorization (Handler.auth) is not the key."""
    if auth == "missing":
        raise Refusal(401, "InvalidApiKey", "No API-key provided.")
    if auth != "valid":
        raise Refusal(401, "InvalidApiKey", "Invalid API-key provided.")


def url_query(image_url):
    """The query of an http(s) image URL as parse_qs gives it; an oss:// URL has none."""
    if image_url.startswith("oss://"):
        return {}
    return urllib.parse.parse_qs(urllib.parse.urlsplit(image_url).query)


def download(image_url):
    """(bytes, size, file name) of the image (loopback only; the first DOWNLOAD_BYTES)."""
    parts = urllib.parse.urlsplit(image_url)
    if parts.scheme not in ("http", "https") or not is_loopback(parts.hostname):
        raise Refusal(400, "InvalidURL", "The image URL is not reachable (fake: loopback only).")
    download_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    try:
        with urllib.request.urlopen(download_url, timeout=DOWNLOAD_TIMEOUT) as response:
            data = response.read(DOWNLOAD_BYTES)
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as error:
        raise Refusal(400, "InvalidURL", f"Download the media resource failed: HTTP {error.code}")
    except (TimeoutError, socket.timeout):
        raise Refusal(400, "InvalidURL.Timeout", "Download the media resource timed out.")
    except urllib.error.URLError as error:
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise Refusal(400, "InvalidURL.Timeout", "Download the media resource timed out.")
        raise Refusal(400, "InvalidURL.ConnectionRefused", "Download the media resource failed.")
    return data, int(length) if length else len(data), os.path.basename(parts.path)


def judge(rules, data, size, name):
    """Applies the model's rules to the image's bytes, size and file name; the output object."""
    image_format, width, height = image_info(data)
    if image_format not in rules["formats"]:
        raise InputFault("InvalidParameter.UnsupportedFileFormat",
                         "Input files format not supported.")
    check_limits(rules, width, height, size)
    if "noface" in name:
        return failed_output(rules["shape"])
    return passed_output(rules["shape"], width, height)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except (ValueError, TypeError):
        return False


def refused_model(text):
    model, _, code = text.partition("=")
    if model not in MODELS or code not in MODEL_REFUSALS:
        raise argparse.ArgumentTypeError(
            f"expected MODEL=CODE with a known model and one of {', '.join(MODEL_REFUSALS)}")
    return model, code


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True, help="the API key the fake accepts")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--files", default=None, help="directory served at /files/")
    parser.add_argument("--input-fault", choices=INPUT_FAULT_WAYS, default="request_error",
                        help="how an input fault is answered (see the module's docstring)")
    parser.add_argument("--refuse-model", type=refused_model, action="append", default=[],
                        metavar="MODEL=CODE", help="refuse every request for MODEL with CODE")
    parser.add_argument("--policy-ttl", type=int, default=300, metavar="SECONDS",
                        help="how long an upload policy is good for")
    parser.add_argument("--max-file-size-mb", type=int, default=100, metavar="M",
                        help="the largest upload, in MiB")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.key, args.files, args.input_fault, dict(args.refuse_model),
                         args.policy_ttl, args.max_file_size_mb)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
