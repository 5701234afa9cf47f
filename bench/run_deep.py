#!/usr/bin/python3
"""`facegate check --deep DIR` beside `facegate check DIR`, the whole CLI, in one run.

Usage: bench/run_deep.py --facegate build/tools/facegate/facegate [--runs 5] [--threads 1] DIR

Runs the two commands alternately, --runs times each (offline, JSON records to /dev/null, the
page cache warmed by a first untimed run of each), and prints a Markdown table: per command
the records, the wall-clock and CPU (user + system) microseconds per input (medians) and the
peak resident set size of the process (the highest over the runs, from wait4's ru_maxrss).
Every file under DIR is an input (the corpus has a few GIFs, rejected by the header check).
A benchmark, not a test: it fails only when a run fails or the two disagree on the count.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def run_once(argv):
    """(wall s, cpu s, peak RSS KiB, records) of one run of argv."""
    start = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    records = sum(1 for _ in process.stdout)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)}: exit code {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facegate", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="--threads of facegate (0: per core)")
    parser.add_argument("directory")
    args = parser.parse_args()
    base = [args.facegate, "check", "--offline", "--json", "--model", "wan2.2-s2v-detect",
            "--threads", str(args.threads)]
    commands = {"header only (`check DIR`)": base + [args.directory],
                "`check --deep DIR`": base + ["--deep", args.directory]}
    results = {name: [] for name in commands}
    for argv in commands.values():
        run_once(argv)  # warm the page cache
    for _ in range(args.runs):
        for name, argv in commands.items():
            results[name].append(run_once(argv))
    counts = {runs[0][3] for runs in results.values()}
    if len(counts) != 1:
        sys.exit(f"the commands disagree on the number of records: {counts}")
    records = counts.pop()
    print("| command | inputs | µs/input wall (median) | µs/input CPU (median) | peak RSS MB |")
    print("|---|--:|--:|--:|--:|")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs) * 1e6 / records
        cpu = statistics.median(r[1] for r in runs) * 1e6 / records
        rss = max(r[2] for r in runs) / 1024
        print(f"| {name} | {records} | {wall:.1f} | {cpu:.1f} | {rss:.1f} |")


if __name__ == "__main__":
    main()
