#!/usr/bin/env python3
"""Memory and time of `facegate check --offline --json @LIST` over a long list of local paths.

Usage: bench/run_memory.py --facegate BUILD/tools/facegate/facegate [--peer PEER_EXE]
                           [--inputs N] [--order input|completion]

Writes a list of N paths (default 1,000,000: the bundled examples/ repeated), runs each binary
once over it with stdout to /dev/null, and prints its peak RSS (wait4's ru_maxrss), wall time and
record count. The peer is another facegate build, e.g. the last one before the Checker
(`git worktree add /tmp/old 40bd366` and build it), which held every record until the end.
Exits 1 when the current build's peak RSS is 100 MB or more, or a record is missing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(exe, list_path, order):
    """One run; `order` None for a peer that predates --order and --no-progress."""
    args = [exe, "check", "--offline", "--json", "--model", "wan2.2-s2v-detect", "@" + list_path]
    if order:
        args[4:4] = ["--order", order, "--no-progress"]
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        records = sum(1 for _ in out)
    return usage.ru_maxrss / 1024.0, wall, records, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--facegate", required=True)
    parser.add_argument("--peer")
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--order", default="input")
    args = parser.parse_args()
    examples = sorted(os.path.join(SOURCE_ROOT, "examples", name)
                      for name in os.listdir(os.path.join(SOURCE_ROOT, "examples")))
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        for i in range(args.inputs):
            listing.write(examples[i % len(examples)] + "\n")
    try:
        rows = [("facegate (this build)", args.facegate)]
        if args.peer:
            rows.append(("peer: " + args.peer, args.peer))
        print(f"{args.inputs:,} local paths, `check --offline --json @LIST`, one run each\n")
        print("| build | peak RSS MB | wall s | µs/input | records |")
        print("|---|--:|--:|--:|--:|")
        failed = False
        for index, (name, exe) in enumerate(rows):
            rss, wall, records, _ = run(exe, listing.name, args.order if index == 0 else None)
            print(f"| {name} | {rss:.1f} | {wall:.2f} | {wall * 1e6 / args.inputs:.1f} | {records:,} |")
            if index == 0:
                failed = rss >= 100 or records != args.inputs
        print("\ncheck: peak RSS under 100 MB and one record per input:", "FAIL" if failed else "ok")
        return 1 if failed else 0
    finally:
        os.unlink(listing.name)


if __name__ == "__main__":
    sys.exit(main())
