#!/usr/bin/python3
"""`facegate serve` with real clients: curl and Python's urllib and http.client.

Usage: serve_test.py FACEGATE CURL

Starts tests/servers/fake_dashscope.py (serving copies of examples/) and `facegate serve` in
front of it, both on free 127.0.0.1 ports, and checks, as a caller of the vendor's API sees it:
the vendor's curl example with DASHSCOPE_HTTP_BASE_URL pointing at the gateway; local rejects
answered in the vendor's 400 shape with nothing sent upstream; passes answered byte for byte as
the upstream answers them; bad requests (not JSON, no input.image_url, an unknown model, a
10 MB body, a slowloris client) refused while other clients are served; a bounded load (2,000
requests from 32 keep-alive clients) with no connection error, the upstream never above the
model's rate, the queue limit turning into 429s; the access log; SIGTERM finishing the request
in flight and exiting 0. Exits 1 when a check fails.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

KEY = "sk-test-serve-3e9a51c7"
MODEL = "wan2.2-s2v-detect"
RPS = 5  # wan2.2-s2v-detect's documented rate (docs/service.md#rate-limits)
ENDPOINT = "/api/v1/services/aigc/image2video/face-detect"
SOURCE_ROOT = os.environ.get("FACEGATE_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), ".."))
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The vendor's curl example (README, "facegate serve"), run by /bin/sh.
VENDOR_CURL = """curl --silent --show-error --location \
"$DASHSCOPE_HTTP_BASE_URL/services/aigc/image2video/face-detect" \
--header "Authorization: Bearer $DASHSCOPE_API_KEY" \
--header 'Content-Type: application/json' \
--data '{"model": "wan2.2-s2v-detect", "input": {"image_url": "'"$IMAGE_URL"'"}}' \
--write-out '\\n%{http_code}'"""

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAIL {what}", flush=True)
    return condition


def start(argv, **kwargs):
    """A child process whose first stdout line announces its port; (process, port)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **kwargs)
    line = process.stdout.readline()
    match = re.search(r"(?:PORT |127\.0\.0\.1:)(\d+)", line)
    if not match:
        process.kill()
        sys.exit(f"serve_test: {argv[0]} did not start: {line!r}")
    return process, int(match.group(1))


def body_for(image_url, model=MODEL):
    return json.dumps({"model": model, "input": {"image_url": image_url}}).encode()


def post(port, body, headers=None, path=ENDPOINT):
    """(status, headers, body) of one urllib POST, HTTP errors included."""
    all_headers = {"Content-Type": "application/json", "Authorization": "Bearer " + KEY}
    all_headers.update(headers or {})
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers=all_headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.status, response.read()


def fake_log(fake_port):
    return json.loads(get(fake_port, "/__log")[1])


def vendor_error(status, body, code, what):
    """Checks the vendor's request-failure shape {"code","message","request_id"}."""
    try:
        answer = json.loads(body)
    except ValueError:
        return check(False, f"{what}: not JSON: {body[:200]!r}")
    ok = check(answer.get("code") == code, f"{what}: code {answer.get('code')} is not {code}")
    ok &= check(isinstance(answer.get("message"), str) and answer["message"] != "",
                f"{what}: no message")
    ok &= check(UUID.match(answer.get("request_id", "")) is not None, f"{what}: no request_id")
    return ok


def without_request_id(body):
    return re.sub(rb'"request_id": ?"[^"]*"', b'"request_id":""', body)


def served_meanwhile(port, files_url, what):
    """Another client is served while something else holds the gateway."""
    status, _, body = post(port, body_for(files_url + "small-300x300.png"))
    check(status == 400 and b"InvalidFile.Resolution" in body, f"{what}: another client not served")


def test_vendor_curl(curl, port, fake_port, files_url, peer_port):
    environment = dict(os.environ, DASHSCOPE_HTTP_BASE_URL=f"http://127.0.0.1:{port}/api/v1",
                       DASHSCOPE_API_KEY=KEY)
    before = len(fake_log(fake_port))
    answers = {}
    for image in ("portrait-640x800.jpg", "small-300x300.png"):
        environment["IMAGE_URL"] = files_url + image
        done = subprocess.run(["/bin/sh", "-c", VENDOR_CURL.replace("curl", curl, 1)],
                              env=environment, capture_output=True, timeout=60)
        check(done.returncode == 0, f"curl {image}: exit {done.returncode} {done.stderr!r}")
        body, _, status = done.stdout.rpartition(b"\n")
        answers[image] = (int(status or 0), body)
    status, body = answers["portrait-640x800.jpg"]
    check(status == 200, f"curl pass: status {status}")
    straight = post(peer_port, body_for(files_url + "portrait-640x800.jpg"))
    check(without_request_id(body) == without_request_id(straight[2]),
          f"curl pass: {body!r} is not the upstream's {straight[2]!r}")
    status, body = answers["small-300x300.png"]
    check(status == 400, f"curl reject: status {status}")
    vendor_error(status, body, "InvalidFile.Resolution", "curl reject")
    sent = [entry["image_url"] for entry in fake_log(fake_port)[before:]]
    check(sent == [files_url + "portrait-640x800.jpg"], f"curl: the upstream saw {sent}")


def test_urllib(port, fake_port, files_url, peer_port):
    before = len(fake_log(fake_port))
    status, headers, body = post(port, body_for(files_url + "small-300x300.png"))
    check(status == 400, f"urllib reject: status {status}")
    vendor_error(status, body, "InvalidFile.Resolution", "urllib reject")
    check(headers.get("X-Facegate-Decision") == "reject", "urllib reject: no decision header")
    check("size.width_below_min" in headers.get("X-Facegate-Findings", ""), "urllib reject: findings")
    check(json.loads(body)["facegate"]["decision"] == "reject", "urllib reject: no facegate field")
    check(len(fake_log(fake_port)) == before, "urllib reject: the upstream saw it")
    for image in ("portrait-640x800.jpg", "portrait-noface.jpg"):
        status, headers, body = post(port, body_for(files_url + image))
        straight = post(peer_port, body_for(files_url + image))
        check(status == straight[0] == 200, f"urllib {image}: status {status}")
        check(without_request_id(body) == without_request_id(straight[2]),
              f"urllib {image}: {body!r} is not the upstream's {straight[2]!r}")
        check(headers.get("X-Facegate-Decision") == "pass", f"urllib {image}: decision header")


def test_bad_requests(port, files_url):
    cases = [
        ("not JSON", b"{not json", 400, "InvalidParameter"),
        ("no input.image_url", json.dumps({"model": MODEL, "input": {}}).encode(), 400,
         "InvalidParameter"),
        ("unknown model", body_for(files_url + "portrait-640x800.jpg", "no-such-detect"), 404,
         "ModelNotFound"),
        ("a 10 MB body", b"{" + b" " * (10 * 1024 * 1024) + b"}", 413, "InvalidParameter"),
    ]
    for what, body, status_wanted, code in cases:
        status, _, answer = post(port, body)
        check(status == status_wanted, f"{what}: status {status}, not {status_wanted}")
        vendor_error(status, answer, code, what)
        served_meanwhile(port, files_url, what)


def test_slowloris(port, files_url, timeout):
    """A client that sends half a request and stalls is cut off after the connection timeout;
    others are served meanwhile."""
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(f"POST {ENDPOINT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le".encode())
    started = time.monotonic()
    served_meanwhile(port, files_url, "slowloris")
    slow.settimeout(timeout + 5)
    try:
        closed = slow.recv(4096) == b""
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        closed = False
    waited = time.monotonic() - started
    check(closed and waited < timeout + 4, f"slowloris: not cut off ({waited:.1f} s)")
    slow.close()


def test_load(port, fake_port, files_url):
    """2,000 requests from 32 keep-alive clients: mostly local rejects, one in ten a pass."""
    before = len(fake_log(fake_port))
    rejects = [("small-300x300.png", MODEL), ("drawing.svg", MODEL),
               ("banner-1600x400.webp", "liveportrait-detect")]
    work = []
    for i in range(2000):
        if i % 10 == 0:
            work.append(("portrait-640x800.jpg", MODEL))
        else:
            work.append(rejects[i % 3])
    answers = []
    errors = []
    lock = threading.Lock()

    def client(share):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for image, model in share:
                connection.request("POST", ENDPOINT, body=body_for(files_url + image, model),
                                   headers={"Content-Type": "application/json",
                                            "Authorization": "Bearer " + KEY})
                response = connection.getresponse()
                answer = (image, response.status, response.getheader("Retry-After"),
                          response.read())
                with lock:
                    answers.append(answer)
        except (OSError, http.client.HTTPException) as error:
            with lock:
                errors.append(repr(error))
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(work[i::32],)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"load: {len(answers)} answers in {elapsed:.1f} s", flush=True)
    check(not errors, f"load: connection errors {errors[:3]}")
    check(len(answers) == 2000, f"load: {len(answers)} answers, not 2000")
    statuses = {}
    for image, status, retry_after, body in answers:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            output = json.loads(body)
            check("output" in output and output["usage"]["image_count"] == 1, f"load: 200 {body!r}")
        elif status == 429:
            vendor_error(status, body, "Throttling.RateQuota", "load 429")
            check(retry_after is not None and retry_after.isdigit(), "load 429: no Retry-After")
            check(image == "portrait-640x800.jpg", "load: a local reject was throttled")
            check(json.loads(body)["message"].startswith("facegate:"), "load: the upstream's own 429")
        else:
            check(status == 400 and image != "portrait-640x800.jpg", f"load: {image} got {status}")
            vendor_error(status, body, json.loads(body).get("code"), "load 400")
    print(f"load: statuses {statuses}", flush=True)
    check(statuses.get(429, 0) > 0, "load: the queue limit never answered 429")
    arrivals = sorted(entry["t"] for entry in fake_log(fake_port)[before:])
    check(len(arrivals) == statuses.get(200, 0), f"load: upstream saw {len(arrivals)}, 200s differ")
    busiest = max((sum(1 for t in arrivals[i:] if t - arrivals[i] < 1.0)
                   for i in range(len(arrivals))), default=0)
    check(busiest <= RPS, f"load: the upstream saw {busiest} requests within one second")
    return statuses


def test_metrics(port, statuses):
    _, text = get(port, "/metrics")
    text = text.decode()
    rejects = sum(int(value) for value in re.findall(
        r'^facegate_local_rejects_total\{[^}]*\} (\d+)$', text, re.M))
    check(rejects >= statuses.get(400, 0), f"metrics: {rejects} local rejects")
    check(re.search(r'^facegate_queue_depth\{model="wan2.2-s2v-detect"\} 0$', text, re.M),
          "metrics: no queue depth")
    check("# TYPE facegate_billed_total counter" in text, "metrics: no billed family")


def test_sigterm(gateway, port, files_url):
    """SIGTERM while a forwarded call is in flight: the call is answered, the process exits 0."""
    result = {}
    # The load test's last calls fill the rate window (1 s plus the 250 ms margin), longer than
    # --queue-wait: let it pass, or this call is throttled instead of sent.
    time.sleep(1.5)

    def slow_call():
        result["answer"] = post(port, body_for(files_url + "portrait-640x800.jpg?fault=slow&delay=2"))

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.7)
    gateway.send_signal(signal.SIGTERM)
    caller.join(30)
    check(result.get("answer", (0,))[0] == 200, f"sigterm: the call in flight got {result}")
    try:
        code = gateway.wait(20)
    except subprocess.TimeoutExpired:
        gateway.kill()
        code = "still running"
    check(code == 0, f"sigterm: exit {code}")


def test_ledger_refused(facegate, directory):
    """A --ledger that is not a ledger stops the gateway before it listens, naming the file."""
    not_a_ledger = os.path.join(directory, "not-a-ledger.txt")
    with open(not_a_ledger, "w") as f:
        f.write("plain text, not SQLite\n")
    done = subprocess.run([facegate, "serve", "--listen", "127.0.0.1:0", "--ledger", not_a_ledger],
                          capture_output=True, text=True, timeout=30)
    check(done.returncode == 2, f"--ledger not a ledger: exit {done.returncode}")
    check(not_a_ledger in done.stderr and "not a SQLite database" in done.stderr,
          f"--ledger not a ledger: {done.stderr!r}")
    with open(not_a_ledger) as f:
        check(f.read() == "plain text, not SQLite\n", "--ledger not a ledger: the file changed")
    done = subprocess.run([facegate, "serve", "--ledger", not_a_ledger, "--no-ledger"],
                          capture_output=True, text=True, timeout=30)
    check(done.returncode != 0, "--ledger with --no-ledger: accepted")


def test_access_log(log_text):
    lines = log_text.splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    check(len(records) >= 2000, f"access log: {len(records)} lines")
    check(all({"time", "client", "method", "path", "status", "us"} <= set(r) for r in records),
          "access log: a line without its fields")
    check(KEY not in log_text and "Bearer" not in log_text, "access log: the key is logged")


def main():
    facegate, curl = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="facegate-serve-") as directory:
        images = os.path.join(directory, "images")
        os.mkdir(images)
        for name in ("portrait-640x800.jpg", "small-300x300.png", "drawing.svg",
                     "banner-1600x400.webp"):
            shutil.copy(os.path.join(SOURCE_ROOT, "examples", name), images)
        shutil.copy(os.path.join(SOURCE_ROOT, "examples", "portrait-640x800.jpg"),
                    os.path.join(images, "portrait-noface.jpg"))
        fake_argv = ["/usr/bin/python3",
                     os.path.join(SOURCE_ROOT, "tests", "servers", "fake_dashscope.py"),
                     "--key", KEY, "--port", "0", "--files", images]
        fake, fake_port = start(fake_argv)
        files_url = f"http://127.0.0.1:{fake_port}/files/"
        # A second fake, asked straight: the answer the gateway must pass on, byte for byte
        # but for the request_id (the fake behind the gateway keeps its own rate window).
        peer, peer_port = start(fake_argv)
        log_path = os.path.join(directory, "access.log")
        timeout = 2
        with open(log_path, "w") as log:
            gateway, port = start([facegate, "serve", "--listen", "127.0.0.1:0",
                                   "--upstream", f"http://127.0.0.1:{fake_port}/api/v1",
                                   "--allow-private-network", "--queue", "4",
                                   "--queue-wait", "1000", "--rate-margin", "250",
                                   "--connection-timeout", str(timeout)], stderr=log)
        try:
            test_vendor_curl(curl, port, fake_port, files_url, peer_port)
            test_urllib(port, fake_port, files_url, peer_port)
            test_bad_requests(port, files_url)
            test_slowloris(port, files_url, timeout)
            statuses = test_load(port, fake_port, files_url)
            test_metrics(port, statuses)
            test_sigterm(gateway, port, files_url)
        finally:
            if gateway.poll() is None:
                gateway.kill()
                gateway.wait()
            for server in (fake, peer):
                server.kill()
                server.wait()
        with open(log_path) as log:
            test_access_log(log.read())
        test_ledger_refused(facegate, directory)
    print(f"serve_test: {len(failures)} failed checks", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
