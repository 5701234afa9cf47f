#!/usr/bin/python3
"""The temporary upload of a large local file: `facegate check` online against the fake service
(tests/servers/fake_dashscope.py), beside curl posting the same file as multipart/form-data to
the same upload host, in one run. Prints each one's wall time and peak resident size (the
child's ru_maxrss), the median of --runs runs.

facegate's run also hashes the file twice (its identity, and again while it posts) and makes
the policy request and the detect call; curl only posts. The fake refuses curl's form (it
lacks the policy's fields) after reading the whole body, so both send every byte.

Usage: bench/upload_bench.py --build BUILD [--mib 256] [--runs 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-upload-0f3a9c"


def start_fake(max_mib):
    fake = subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "tests/servers/fake_dashscope.py"), "--key", KEY,
         "--port", "0", "--max-file-size-mb", str(max_mib)],
        stdout=subprocess.PIPE, text=True)
    line = fake.stdout.readline()
    if not line.startswith("PORT "):
        sys.exit("the fake did not start")
    return fake, int(line.split()[1])


def timed(argv, env=None):
    """Wall seconds and peak RSS (MiB) of one child; fails when it does not exit as expected."""
    start = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode, child.stderr.read().decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", required=True, type=Path)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    facegate = args.build / "tools/facegate/facegate"
    fake, port = start_fake(args.mib + 1)
    try:
        with tempfile.TemporaryDirectory(prefix="facegate-upload-bench-") as work:
            image = Path(work) / "large-portrait.jpg"
            image.write_bytes((ROOT / "examples/portrait-640x800.jpg").read_bytes())
            with open(image, "r+b") as f:  # the header intact, then zeros
                f.truncate(args.mib << 20)
            # Page cache warm for both, read by another process: a child's ru_maxrss counts
            # what it inherited from this one before exec.
            subprocess.run(["cat", str(image)], stdout=subprocess.DEVNULL, check=True)
            env = dict(os.environ, DASHSCOPE_API_KEY=KEY)
            rows = {"facegate check (policy, upload, call)": [], "curl -F (upload only)": []}
            for _ in range(args.runs):
                wall, rss, code, err = timed(
                    [str(facegate), "check", "--no-ledger", "--model", "wan2.2-s2v-detect",
                     "--base-url", f"http://127.0.0.1:{port}/api/v1", str(image)], env)
                if code != 0 or "uploads: 1 (" not in err:
                    sys.exit(f"facegate failed ({code}): {err}")
                rows["facegate check (policy, upload, call)"].append((wall, rss))
                wall, rss, code, err = timed(
                    ["curl", "-sS", "-o", "/dev/null", "-F", f"file=@{image}",
                     f"http://127.0.0.1:{port}/__oss"])
                if code != 0:
                    sys.exit(f"curl failed ({code}): {err}")
                rows["curl -F (upload only)"].append((wall, rss))
    finally:
        fake.terminate()
        fake.wait()
    print(f"a {args.mib} MiB local file, median of {args.runs} runs")
    print(f"| tool | wall s | MiB/s | peak RSS MiB |\n|---|---:|---:|---:|")
    for name, runs in rows.items():
        wall = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        print(f"| {name} | {wall:.2f} | {args.mib / wall:.0f} | {rss:.1f} |")


if __name__ == "__main__":
    main()
