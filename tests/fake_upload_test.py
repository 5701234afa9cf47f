#!/usr/bin/python3
"""The temporary upload of tests/servers/fake_dashscope.py, as a client of the vendor sees it.

Usage: fake_upload_test.py

Starts two fakes on free 127.0.0.1 ports (one with an 11 MiB upload limit serving copies of
examples/, one whose policies expire after 1 s) and checks with urllib, http.client and a raw
socket: the getPolicy answer, its checks and its rate limit; every check of the POST form at the
upload host, in its order, in OSS's XML error shape; detect calls naming oss:// keys, judged as
the same image downloaded; the faults of POST /__fault; the /__policies, /__uploads and /__log
entries; /__reset. The multipart bodies are built by hand. Exits 1 when a check fails.
"""

import base64
import calendar
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree

KEY = "sk-test-fake-upload-6f1d2e90"
WAN = "wan2.2-s2v-detect"
EMOJI = "emoji-detect-v1"
EMO = "emo-detect-v1"
FACE_DETECT = "/api/v1/services/aigc/image2video/face-detect"
MIB = 1024 * 1024
LIMIT_MB = 11  # the first fake's --max-file-size-mb: above emoji-detect-v1's 10 MiB
SOURCE_ROOT = os.environ.get("FACEGATE_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), ".."))
FAKE = os.path.join(SOURCE_ROOT, "tests", "servers", "fake_dashscope.py")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UPLOAD_DIR = re.compile(r"^dashscope-instant/[0-9a-f]{32}/\d{4}-\d{2}-\d{2}/" + UUID + "$")
BOUNDARY = "----fakeUploadTest7d3a"
EXAMPLES = ("portrait-640x800.jpg", "small-300x300.png", "banner-1600x400.webp", "drawing.svg",
            "cut-short.jpg", "mono-480x640.bmp", "wide-7200x600.png", "animated-480x480.gif")

failed = []  # what each failed check says


def check(condition, what):
    """condition; when it is false, what is printed and counted as a failure."""
    if condition:
        return True
    print(f"FAIL {what}", flush=True)
    failed.append(what)
    return False


def example(name):
    with open(os.path.join(SOURCE_ROOT, "examples", name), "rb") as f:
        return f.read()


def png_header(width, height, size):
    """size bytes starting with a PNG signature and IHDR of width x height (PNG 11.2.2)."""
    ihdr = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    head = b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + ihdr + b"\x00" * 4
    return head + b"\x00" * (size - len(head))


# ---------------------------------------------------------------------------------------------
# HTTP plumbing

def request(url, data=None, headers=None, method=None):
    """(status, headers, body) of one urllib request, HTTP errors included."""
    prepared = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def multipart(parts, boundary=BOUNDARY):
    """A multipart/form-data body (RFC 7578) of [(name, value)], the file part named "file"."""
    body = b""
    for name, value in parts:
        value = value.encode() if isinstance(value, str) else value
        disposition = f'form-data; name="{name}"'
        if name == "file":
            disposition += '; filename="image"\r\nContent-Type: application/octet-stream'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def form_parts(issued, name, data, **changes):
    """The PostObject form for data under the upload_dir of the policy data issued + "/" + name,
    the parts named in changes replaced (x_ for x-; a value of None drops the part)."""
    parts = {
        "OSSAccessKeyId": issued["oss_access_key_id"], "Signature": issued["signature"],
        "policy": issued["policy"], "key": issued["upload_dir"] + "/" + name,
        "x-oss-object-acl": issued["x_oss_object_acl"],
        "x-oss-forbid-overwrite": issued["x_oss_forbid_overwrite"],
        "success_action_status": "200", "file": data,
    }
    for field, value in changes.items():
        parts[field.replace("_", "-") if field.startswith("x_") else field] = value
    return [(field, value) for field, value in parts.items() if value is not None]


class Fake:
    """fake_dashscope.py as a child process on a free port."""

    def __init__(self, *options):
        self.process = subprocess.Popen(["/usr/bin/python3", FAKE, "--key", KEY, "--port", "0",
                                         *options], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            sys.exit(f"fake_upload_test: the fake did not start: {line!r}")
        self.port = int(line.split()[1])
        self.root = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.process.kill()
        self.process.wait()

    def get_policy(self, model=WAN, key=KEY, query=None):
        """(status, headers, answer as JSON) of a getPolicy request."""
        query = f"action=getPolicy&model={model}" if query is None else query
        headers = {} if key is None else {"Authorization": "Bearer " + key}
        status, headers, body = request(f"{self.root}/api/v1/uploads?{query}", headers=headers)
        return status, headers, json.loads(body)

    def policy(self, model=WAN):
        status, _, answer = self.get_policy(model)
        if not check(status == 200, f"getPolicy {model}: status {status} {answer}"):
            raise SystemExit(1)
        return answer["data"]

    def upload(self, parts, content_type=None, host=None):
        content_type = content_type or f"multipart/form-data; boundary={BOUNDARY}"
        return request(host or f"{self.root}/__oss", data=multipart(parts),
                       headers={"Content-Type": content_type})

    def uploaded(self, model, name, data):
        """Uploads data under a new policy for model; its oss:// URL."""
        policy = self.policy(model)
        status, _, body = self.upload(form_parts(policy, name, data))
        check(status == 200 and body == b"", f"upload {name}: {status} {body[:300]!r}")
        return "oss://" + policy["upload_dir"] + "/" + name

    def detect(self, model, image_url, resolve=True):
        """(status, answer as JSON) of a detect request."""
        document = {"model": model, "input": {"image_url": image_url}}
        if model == EMOJI:
            document["parameters"] = {"ratio": "1:1"}
        headers = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
        if resolve:
            headers["X-DashScope-OssResourceResolve"] = "enable"
        status, _, body = request(self.root + FACE_DETECT, json.dumps(document).encode(), headers)
        return status, json.loads(body)

    def fault(self, target, kind, times=1):
        return request(f"{self.root}/__fault", json.dumps(
            {"target": target, "kind": kind, "times": times}).encode(),
            {"Content-Type": "application/json"})[0]

    def reset(self):
        request(f"{self.root}/__reset", b"", method="POST")

    def log(self, name):
        return json.loads(request(f"{self.root}/{name}")[2])


def oss_error(answer, status, code, message, what):
    """Checks an upload host's refusal: status and OSS's <Error> with code and message."""
    got_status, headers, body = answer
    check(got_status == status, f"{what}: status {got_status}, not {status}: {body[:300]!r}")
    check(headers.get("Content-Type") == "application/xml", f"{what}: not application/xml")
    check(body.startswith(b"<?xml "), f"{what}: no XML declaration: {body[:80]!r}")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return check(False, f"{what}: not XML: {body[:300]!r}")
    check(root.tag == "Error", f"{what}: root <{root.tag}>")
    check(root.findtext("Code") == code, f"{what}: code {root.findtext('Code')}, not {code}")
    got_message = root.findtext("Message") or ""
    check(message in got_message, f"{what}: message {got_message!r} lacks {message!r}")
    check(re.fullmatch(r"[0-9A-F]{24}", root.findtext("RequestId") or "") is not None,
          f"{what}: no RequestId")


def vendor_error(answer, status, code, what):
    """Checks a refusal in the vendor's {"code","message","request_id"} shape."""
    got_status, document = answer
    check(got_status == status, f"{what}: status {got_status}, not {status}: {document}")
    check(document.get("code") == code, f"{what}: code {document.get('code')}, not {code}")
    check(bool(document.get("message")), f"{what}: no message")
    check(re.fullmatch(UUID, document.get("request_id", "")) is not None, f"{what}: no request_id")
    check("usage" not in document, f"{what}: billed")


# ---------------------------------------------------------------------------------------------
# getPolicy

def test_policy_answer(fake, short_fake):
    status, _, answer = fake.get_policy(WAN)
    check(status == 200, f"getPolicy: status {status}")
    check(re.fullmatch(UUID, answer.get("request_id", "")) is not None, "getPolicy: request_id")
    data = answer["data"]
    fields = ("policy", "signature", "upload_dir", "upload_host", "expire_in_seconds",
              "max_file_size_mb", "capacity_limit_mb", "oss_access_key_id", "x_oss_object_acl",
              "x_oss_forbid_overwrite")
    check(sorted(data) == sorted(fields), f"getPolicy: fields {sorted(data)}")
    document = json.loads(base64.b64decode(data["policy"]))
    check(document.get("model") == WAN, f"getPolicy: the policy's model {document.get('model')}")
    expiration = calendar.timegm(time.strptime(document.get("expiration", ""),
                                               "%Y-%m-%dT%H:%M:%S.000Z"))
    check(abs(expiration - time.time() - 300) < 60,
          f"getPolicy: expiration {document.get('expiration')} is not 300 s ahead")
    check(UPLOAD_DIR.match(data["upload_dir"]) is not None, f"upload_dir {data['upload_dir']}")
    check(data["upload_host"] == f"{fake.root}/__oss", f"upload_host {data['upload_host']}")
    check(data["signature"] != "" and data["oss_access_key_id"] != "", "getPolicy: no signature")
    expected = {"expire_in_seconds": 300, "max_file_size_mb": LIMIT_MB,
                "capacity_limit_mb": 999999, "x_oss_object_acl": "private",
                "x_oss_forbid_overwrite": "true"}
    for field, value in expected.items():
        check(data[field] == value, f"getPolicy: {field} {data[field]!r} is not {value!r}")
    other = fake.policy(WAN)
    check(other["upload_dir"] != data["upload_dir"] and other["policy"] != data["policy"],
          "getPolicy: two policies share their upload_dir")
    short = short_fake.policy(EMOJI)
    check(short["expire_in_seconds"] == 1 and short["max_file_size_mb"] == 100,
          f"getPolicy --policy-ttl 1: {short['expire_in_seconds']}, {short['max_file_size_mb']}")


def test_policy_refusals(fake):
    for key, what in ((None, "no key"), ("sk-wrong", "a wrong key")):
        status, _, answer = fake.get_policy(WAN, key=key)
        vendor_error((status, answer), 401, "InvalidApiKey", f"getPolicy with {what}")
    for query, what in ((f"model={WAN}", "no action"), (f"action=list&model={WAN}", "action=list"),
                        ("action=getPolicy", "no model"),
                        ("action=getPolicy&model=wan9-detect", "an unknown model")):
        status, _, answer = fake.get_policy(query=query)
        vendor_error((status, answer), 400, "InvalidParameter", f"getPolicy with {what}")


def test_policy_rate(fake):
    """At most 100 admitted per second and model (sliding window); other models unaffected."""
    fake.reset()
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
    refused = None
    for _ in range(1000):
        connection.request("GET", f"/api/v1/uploads?action=getPolicy&model={EMOJI}",
                           headers={"Authorization": "Bearer " + KEY})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            refused = (response.status, json.loads(body))
            break
    connection.close()
    if not check(refused is not None, "getPolicy: 1,000 requests without a 429"):
        return
    vendor_error(refused, 429, "Throttling.RateQuota", "getPolicy beyond 100/s")
    check(fake.get_policy(WAN)[0] == 200, "getPolicy: another model is throttled too")
    log = [entry for entry in fake.log("__policies") if entry["model"] == EMOJI]
    admitted = [entry["t"] for entry in log if entry["status"] == 200]
    refusal = log[-1]
    check(refusal["status"] == 429 and len(admitted) == len(log) - 1,
          f"/__policies: {len(admitted)} admitted, then {refusal}")
    check(len(admitted) >= 100, f"getPolicy: refused after {len(admitted)} admitted")
    check(len([t for t in admitted if t > refusal["t"] - 1.0]) == 100,
          "getPolicy: the refusal came with other than 100 admitted in the second before it")
    busiest = max(len([t for t in admitted if start <= t < start + 1.0]) for start in admitted)
    check(busiest <= 100, f"getPolicy: {busiest} admitted within one second")


# ---------------------------------------------------------------------------------------------
# The upload host's checks, in their order

def test_form_shape(fake):
    fake.reset()
    policy = fake.policy(WAN)
    good = form_parts(policy, "shape.jpg", example("portrait-640x800.jpg"))
    form_type = f"multipart/form-data; boundary={BOUNDARY}"
    for content_type, what in (("application/x-www-form-urlencoded", "a urlencoded body"),
                               ("multipart/form-data", "no boundary"),
                               ("multipart/mixed; boundary=" + BOUNDARY, "multipart/mixed")):
        oss_error(fake.upload(good, content_type), 400, "InvalidArgument", "Content-Type",
                  f"upload with {what}")
    cut = multipart(good)[:-len(f"--{BOUNDARY}--\r\n")]
    oss_error(request(f"{fake.root}/__oss", cut, {"Content-Type": form_type}), 400,
              "InvalidArgument", "malformed", "upload without the close delimiter")
    no_disposition = f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    oss_error(request(f"{fake.root}/__oss", no_disposition.encode(), {"Content-Type": form_type}),
              400, "InvalidArgument", "malformed", "upload of a part without a name")
    file_first = [good[-1]] + good[:-1]
    for parts, what in ((good[:-1] + [("success_action_redirect", "x")] + good[-1:], "an extra field"),
                        (good[:3] + good[3:4] + good[3:], "key twice"),
                        ([part for part in good if part[0] != "Signature"], "no Signature"),
                        (good[:-1], "no file"),
                        (file_first, "the file first"),
                        ([("ossaccesskeyid", good[0][1])] + good[1:], "a lower-case field name")):
        oss_error(fake.upload(parts), 400, "InvalidArgument", "file last", f"upload with {what}")
    # The field check comes before the policy check.
    oss_error(fake.upload(form_parts(policy, "x.jpg", b"x", policy="forged")[:-1]), 400,
              "InvalidArgument", "file last", "upload with no file and a forged policy")


def test_policy_checks(fake, short_fake):
    policy, other = fake.policy(WAN), fake.policy(WAN)
    data = example("portrait-640x800.jpg")
    forged = base64.b64encode(json.dumps({"expiration": "2099-01-01T00:00:00.000Z",
                                          "model": WAN}).encode()).decode()
    for changes, what in (({"policy": forged}, "a forged policy"),
                          ({"Signature": other["signature"]}, "another policy's signature"),
                          ({"OSSAccessKeyId": "LTAI-other"}, "another access key id")):
        oss_error(fake.upload(form_parts(policy, "p.jpg", data, **changes)), 403, "AccessDenied",
                  "Invalid according to Policy", f"upload with {what}")
    expiring = short_fake.policy(WAN)
    time.sleep(1.2)
    # Expiry is checked before the ACL.
    oss_error(short_fake.upload(form_parts(expiring, "p.jpg", data, x_oss_object_acl="public-read")),
              403, "AccessDenied", "Policy expired.", "upload under an expired policy")
    for changes, what in (({"x_oss_object_acl": "public-read"}, "a public-read ACL"),
                          ({"x_oss_forbid_overwrite": "false"}, "forbid-overwrite false"),
                          ({"x_oss_forbid_overwrite": "True"}, "forbid-overwrite True")):
        oss_error(fake.upload(form_parts(policy, "p.jpg", data, **changes)), 403, "AccessDenied",
                  "Policy Condition failed", f"upload with {what}")
    # The ACL is checked before the key.
    oss_error(fake.upload(form_parts(policy, "p.jpg", data, x_oss_object_acl="public-read",
                                     key="elsewhere/p.jpg")),
              403, "AccessDenied", "x-oss-object-acl", "upload with a wrong ACL and key")
    for key, what in ((other["upload_dir"] + "/p.jpg", "another policy's upload_dir"),
                      (policy["upload_dir"] + "/", "no name after upload_dir"),
                      (policy["upload_dir"] + "p.jpg", "no slash after upload_dir"),
                      (policy["upload_dir"], "the upload_dir itself")):
        oss_error(fake.upload(form_parts(policy, "p.jpg", data, key=key)), 403, "AccessDenied",
                  "$key", f"upload with {what}")


def test_size_and_overwrite(fake):
    fake.reset()
    policy = fake.policy(WAN)
    at_limit = b"\x00" * (LIMIT_MB * MIB)
    oss_error(fake.upload(form_parts(policy, "big.bin", at_limit + b"\x00")), 400,
              "EntityTooLarge", "maximum allowed size", "upload one byte above the limit")
    status, _, body = fake.upload(form_parts(policy, "big.bin", at_limit))
    check(status == 200 and body == b"", f"upload at the limit: {status} {body[:200]!r}")
    key = policy["upload_dir"] + "/p.jpg"
    fake.upload(form_parts(policy, "p.jpg", example("portrait-640x800.jpg")))
    oss_error(fake.upload(form_parts(policy, "p.jpg", example("drawing.svg"))), 409,
              "FileAlreadyExists", "can not be overwritten", "upload over an uploaded key")
    # The size is checked before the overwrite.
    oss_error(fake.upload(form_parts(policy, "p.jpg", at_limit + b"\x00")), 400,
              "EntityTooLarge", "maximum allowed size", "upload too large over an uploaded key")
    status, answer = fake.detect(WAN, "oss://" + key)
    check(status == 200 and answer["output"].get("check_pass") is True,
          f"detect after a refused overwrite: {status} {answer}")


def test_success_status(fake):
    fake.reset()
    policy = fake.policy(WAN)
    for value, expected in (("200", 200), ("204", 204), ("201", 204)):
        status, headers, body = fake.upload(form_parts(policy, f"s{value}.jpg", b"x",
                                                       success_action_status=value))
        check(status == expected and body == b"",
              f"success_action_status {value}: {status} {body[:200]!r}, not {expected}")
        check(re.fullmatch(r"[0-9A-F]{24}", headers.get("x-oss-request-id", "")) is not None,
              f"success_action_status {value}: no x-oss-request-id")
        check(expected != 204 or headers.get("Content-Length") is None,
              "a 204 carries Content-Length")


def test_transfer_ways(fake):
    """A chunked body (http.client) and Expect: 100-continue (a raw socket) are stored too."""
    fake.reset()
    policy = fake.policy(WAN)
    body = multipart(form_parts(policy, "chunked.jpg", example("portrait-640x800.jpg")))
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
    connection.request("POST", "/__oss", body=iter([body[:100], body[100:]]),
                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                       encode_chunked=True)
    response = connection.getresponse()
    check(response.status == 200 and response.read() == b"", f"chunked upload: {response.status}")
    connection.close()
    body = multipart(form_parts(policy, "expect.jpg", example("portrait-640x800.jpg")))
    with socket.create_connection(("127.0.0.1", fake.port), timeout=30) as raw:
        raw.sendall((f"POST /__oss HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                     f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n").encode())
        interim = raw.recv(4096)
        check(interim.startswith(b"HTTP/1.1 100"), f"Expect: 100-continue answered {interim!r}")
        raw.sendall(body)
        final = raw.recv(4096)
        check(final.startswith(b"HTTP/1.1 200"), f"upload after 100-continue: {final[:100]!r}")
    for name in ("chunked.jpg", "expect.jpg"):
        status, answer = fake.detect(WAN, "oss://" + policy["upload_dir"] + "/" + name)
        check(status == 200, f"detect of the {name} upload: {status} {answer}")


# ---------------------------------------------------------------------------------------------
# Detect calls naming oss:// keys

def test_oss_refusals(fake):
    fake.reset()
    url = fake.uploaded(WAN, "portrait.jpg", example("portrait-640x800.jpg"))
    answer = fake.detect(WAN, url, resolve=False)
    vendor_error(answer, 400, "InvalidParameter", "oss:// without the resolve header")
    check("not resolved" in answer[1].get("message", ""), f"no resolve: message {answer[1]}")
    vendor_error(fake.detect(WAN, url + ".not"), 400, "InvalidURL", "oss:// of no upload")
    vendor_error(fake.detect(EMOJI, url), 400, "InvalidURL", "oss:// uploaded for another model")
    emo_url = fake.uploaded(EMO, "portrait.jpg", example("portrait-640x800.jpg"))
    vendor_error(fake.detect(EMO, emo_url), 400, "InvalidURL", "oss:// for emo-detect-v1")
    log = fake.log("__log")[-4:]
    check([entry["oss_resolve"] for entry in log] == [False, True, True, True],
          f"/__log oss_resolve: {[entry['oss_resolve'] for entry in log]}")
    check(all(entry["code"] for entry in log), "/__log: a refusal without its code")


def test_oss_judged_as_downloaded(fake, peer, images):
    """Every example, and a noface copy, gets the same answer from fake as an upload as from
    peer downloading it (two fakes, each reset: emoji-detect-v1 takes 1 request a second)."""
    for model in (WAN, EMOJI):
        for name in sorted(os.listdir(images)):
            fake.reset()
            peer.reset()
            with open(os.path.join(images, name), "rb") as f:
                url = fake.uploaded(model, name, f.read())
            by_oss = fake.detect(model, url)
            by_download = peer.detect(model, f"{fake.root}/files/{name}")
            for answer in (by_oss, by_download):
                answer[1].pop("request_id", None)
            check(by_oss == by_download, f"{model} {name}: {by_oss} as an upload, {by_download}")
    fake.reset()
    status, answer = fake.detect(WAN, fake.uploaded(WAN, "portrait-noface.jpg",
                                                    example("portrait-640x800.jpg")))
    check(status == 200 and answer["output"].get("check_pass") is False and
          answer.get("usage") == {"image_count": 1}, f"noface upload: {status} {answer}")
    status, answer = fake.detect(WAN, fake.uploaded(WAN, "portrait.jpg",
                                                    example("portrait-640x800.jpg")))
    check(status == 200 and answer["output"].get("check_pass") is True and
          answer.get("usage") == {"image_count": 1}, f"portrait upload: {status} {answer}")
    # The upload's size is the file's size: emoji-detect-v1 takes at most 10 MiB.
    large = fake.uploaded(EMOJI, "large.png", png_header(800, 800, 10 * MIB + 1))
    vendor_error(fake.detect(EMOJI, large), 400, "InvalidFile.Size", "an upload above 10 MiB")
    fake.reset()
    status, _ = fake.detect(EMOJI, fake.uploaded(EMOJI, "ten.png", png_header(800, 800, 10 * MIB)))
    check(status == 200, f"an upload of 10 MiB: {status}")


def test_oss_has_no_query(fake):
    fake.reset()
    url = fake.uploaded(WAN, "portrait.jpg?fault=500", example("portrait-640x800.jpg"))
    status, answer = fake.detect(WAN, url)
    check(status == 200 and answer["output"].get("check_pass") is True,
          f"oss:// key ending in ?fault=500: {status} {answer}")
    vendor_error(fake.detect(WAN, url[:-len("?fault=500")]), 400, "InvalidURL",
                 "oss:// of a key cut before its ?")


# ---------------------------------------------------------------------------------------------
# Faults, logs and /__reset

def test_policy_faults(fake):
    fake.reset()
    for kind, status, code in (("401", 401, "InvalidApiKey"), ("429", 429, "Throttling.RateQuota"),
                               ("500", 500, "InternalError")):
        check(fake.fault("policy", kind, 2) == 200, f"POST /__fault policy {kind}")
        for _ in range(2):
            got, headers, answer = fake.get_policy(WAN)
            vendor_error((got, answer), status, code, f"policy fault {kind}")
            check(kind != "429" or headers.get("Retry-After") == "1",
                  f"policy fault 429: Retry-After {headers.get('Retry-After')}")
        check(fake.get_policy(WAN)[0] == 200, f"policy fault {kind}: hit a third request")
    statuses = [entry["status"] for entry in fake.log("__policies")]
    check(statuses == [401, 401, 200, 429, 429, 200, 500, 500, 200], f"/__policies {statuses}")


def test_upload_faults(fake):
    fake.reset()
    policy = fake.policy(WAN)
    data = example("portrait-640x800.jpg")
    for kind, status, code, message in (("expired", 403, "AccessDenied", "Policy expired."),
                                        ("403", 403, "AccessDenied", "denied"),
                                        ("500", 500, "InternalError", "internal error")):
        check(fake.fault("upload", kind) == 200, f"POST /__fault upload {kind}")
        oss_error(fake.upload(form_parts(policy, "p.jpg", data)), status, code, message,
                  f"upload fault {kind}")
    check(fake.fault("upload", "reset") == 200, "POST /__fault upload reset")
    large = multipart(form_parts(policy, "p.jpg", data + b"\x00" * MIB))
    try:
        request(f"{fake.root}/__oss", large,
                {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        check(False, "upload fault reset: answered")
    except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
        pass
    status, _, body = fake.upload(form_parts(policy, "p.jpg", data))
    check(status == 200, f"upload after the faults (nothing stored): {status} {body[:200]!r}")
    log = fake.log("__uploads")
    check([entry["status"] for entry in log] == [403, 403, 500, None, 200],
          f"/__uploads statuses {[entry['status'] for entry in log]}")
    reset_entry, stored = log[3], log[4]
    check(reset_entry["key"] is None and reset_entry["fields"] == [],
          f"/__uploads: the reset upload {reset_entry}")
    check(stored["key"] == policy["upload_dir"] + "/p.jpg" and stored["size"] == len(data) and
          stored["fields"] == [name for name, _ in form_parts(policy, "p.jpg", data)],
          f"/__uploads: the stored upload {stored}")
    for body in (b"not json", b'{"target": "detect", "kind": "500"}',
                 b'{"target": "upload", "kind": "429"}', b'{"target": "policy", "kind": "500", '
                 b'"times": 0}', b'["policy", "500"]'):
        status = request(f"{fake.root}/__fault", body, {"Content-Type": "application/json"})[0]
        check(status == 400, f"POST /__fault {body!r}: {status}")


def test_upload_log_of_a_bad_form(fake):
    fake.reset()
    fake.upload([("key", "x")], "text/plain")
    policy = fake.policy(WAN)
    fake.upload(form_parts(policy, "p.jpg", b"abc", file=None) + [("file", b"abc"), ("x", "1")])
    log = fake.log("__uploads")
    check(log[0]["fields"] == [] and log[0]["key"] is None and log[0]["size"] is None and
          log[0]["status"] == 400, f"/__uploads of a text/plain body: {log[0]}")
    check(log[1]["fields"][-2:] == ["file", "x"] and log[1]["size"] is None and
          log[1]["key"] == policy["upload_dir"] + "/p.jpg" and log[1]["status"] == 400,
          f"/__uploads of a form with a part after the file: {log[1]}")
    check(all(log[i]["t"] < log[i + 1]["t"] for i in range(len(log) - 1)), "/__uploads: t order")


def test_reset(fake):
    policy = fake.policy(WAN)
    url = fake.uploaded(WAN, "before-reset.jpg", example("portrait-640x800.jpg"))
    fake.fault("upload", "500", 5)
    fake.fault("policy", "500", 5)
    fake.reset()
    check(all(fake.log(name) == [] for name in ("__log", "__uploads", "__policies")),
          "/__reset leaves a log")
    vendor_error(fake.detect(WAN, url), 400, "InvalidURL", "oss:// uploaded before /__reset")
    oss_error(fake.upload(form_parts(policy, "after.jpg", b"x")), 403, "AccessDenied",
              "Invalid according to Policy", "upload under a policy of before /__reset")
    status, _, body = fake.upload(form_parts(fake.policy(WAN), "after.jpg", b"x"))
    check(status == 200, f"upload after /__reset (faults cleared): {status} {body[:200]!r}")


def main():
    with tempfile.TemporaryDirectory(prefix="facegate-fake-upload-") as images:
        for name in EXAMPLES:
            shutil.copy(os.path.join(SOURCE_ROOT, "examples", name), images)
        shutil.copy(os.path.join(SOURCE_ROOT, "examples", "portrait-640x800.jpg"),
                    os.path.join(images, "portrait-noface.jpg"))
        fake = Fake("--files", images, "--max-file-size-mb", str(LIMIT_MB))
        short_fake = Fake("--policy-ttl", "1")
        try:
            test_policy_answer(fake, short_fake)
            test_policy_refusals(fake)
            test_policy_rate(fake)
            test_form_shape(fake)
            test_policy_checks(fake, short_fake)
            test_size_and_overwrite(fake)
            test_success_status(fake)
            test_transfer_ways(fake)
            test_oss_refusals(fake)
            test_oss_judged_as_downloaded(fake, short_fake, images)
            test_oss_has_no_query(fake)
            test_policy_faults(fake)
            test_upload_faults(fake)
            test_upload_log_of_a_bad_form(fake)
            test_reset(fake)
        finally:
            fake.stop()
            short_fake.stop()
    if failed:
        print(f"{len(failed)} checks failed", flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
