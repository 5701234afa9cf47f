#!/usr/bin/python3
"""`facegate serve` beside the service it fronts (bench/README.md, "facegate serve").

Usage: serve_bench.py --facegate FACEGATE [--rejects N] [--clients C] [--forwards N]

Starts tests/servers/fake_dashscope.py (serving copies of examples/) and `facegate serve` in
front of it on free 127.0.0.1 ports, then, in one run:
  1. local rejects: N requests for a 300x300 image (wan2.2-s2v-detect wants 400 px a side)
     from C keep-alive clients, to the gateway, then the same requests straight to the fake
     (which refuses beyond the model's rate with 429, as the service does, and downloads and
     refuses the image within it): answers per second of each, and their statuses;
  2. forwarded calls: N passing requests, each sent to the gateway and then straight to the
     fake, alternately, spaced so that neither meets the model's rate limit: the latency of
     each (median, p90) and the gateway's added latency (the difference of the medians).
The fake is a Python server: it bounds both sides of (1) and is the whole of the straight
side of (2). Nothing is asserted; the figures go to stdout.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

KEY = "sk-bench-serve-0c4d7e21"
MODEL = "wan2.2-s2v-detect"
ENDPOINT = "/api/v1/services/aigc/image2video/face-detect"
SOURCE_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer " + KEY}


def start(argv):
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"(?:PORT |127\.0\.0\.1:)(\d+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"serve_bench: {argv[0]} did not start: {line!r}")
    return process, int(match.group(1))


def body_for(image_url):
    return json.dumps({"model": MODEL, "input": {"image_url": image_url}})


def answers_per_second(port, body, count, clients):
    """Sends `count` requests from `clients` keep-alive connections: answers per second and
    the count of each status."""
    shares = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    statuses = {}
    lock = threading.Lock()

    def client(share):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(share):
            connection.request("POST", ENDPOINT, body=body, headers=HEADERS)
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return count / elapsed, statuses


def one_call_ms(port, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    connection.request("POST", ENDPOINT, body=body, headers=HEADERS)
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    if response.status != 200:
        raise SystemExit(f"serve_bench: a forwarded call got {response.status}")
    return elapsed


def summary(values):
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--facegate", required=True)
    parser.add_argument("--rejects", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--forwards", type=int, default=20)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facegate-serve-bench-") as images:
        for name in ("portrait-640x800.jpg", "small-300x300.png"):
            shutil.copy(os.path.join(SOURCE_ROOT, "examples", name), images)
        fake, fake_port = start(["/usr/bin/python3",
                                 os.path.join(SOURCE_ROOT, "tests", "servers", "fake_dashscope.py"),
                                 "--key", KEY, "--port", "0", "--files", images])
        gateway, port = start([arguments.facegate, "serve", "--listen", "127.0.0.1:0",
                               "--upstream", f"http://127.0.0.1:{fake_port}/api/v1",
                               "--allow-private-network"])
        try:
            files = f"http://127.0.0.1:{fake_port}/files/"
            reject = body_for(files + "small-300x300.png")
            through, through_statuses = answers_per_second(port, reject, arguments.rejects,
                                                           arguments.clients)
            straight, straight_statuses = answers_per_second(fake_port, reject, arguments.rejects,
                                                             arguments.clients)
            print(f"local rejects, {arguments.rejects} requests from {arguments.clients} clients: "
                  f"gateway {through:.0f} answers/s {through_statuses}, straight to the fake "
                  f"{straight:.0f} answers/s {straight_statuses} (the fake answers 429 beyond "
                  f"the model's rate, as the service does)")
            passing = body_for(files + "portrait-640x800.jpg")
            gateway_ms, fake_ms = [], []
            time.sleep(1.5)  # the fake's rate window forgets the straight rejects
            for _ in range(arguments.forwards):
                gateway_ms.append(one_call_ms(port, passing))
                fake_ms.append(one_call_ms(fake_port, passing))
                time.sleep(0.5)  # 2 calls per 0.5 s: under the model's 5 RPS at the fake
            (g_median, g_p90), (f_median, f_p90) = summary(gateway_ms), summary(fake_ms)
            print(f"forwarded calls, {arguments.forwards} each: through the gateway median "
                  f"{g_median:.1f} ms (p90 {g_p90:.1f}), straight median {f_median:.1f} ms "
                  f"(p90 {f_p90:.1f}); added by the gateway {g_median - f_median:.1f} ms")
        finally:
            gateway.terminate()
            gateway.wait()
            fake.kill()
            fake.wait()


if __name__ == "__main__":
    main()
