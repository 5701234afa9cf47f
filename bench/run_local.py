#!/usr/bin/env python3
"""Local benchmark: facegate against a read-only baseline and two peers, warm cache, one run.

Usage: bench/run_local.py --build BUILD_DIR [--corpus DIR] [--files N] [--repeat R] [--keep]
                          [--syscall-tax N] [--sweep]

Builds the corpus (tests/corpus/build_corpus.py: libjxl-testdata and its WebP and BMP
conversions) unless --corpus names one, multiplies it with hard links to at least N files
(default 10,000) in a temporary directory, reads every file once to warm the page cache, then
runs each tool R times (default 5), in turn (each round starting one tool further on), and
reports each one's median run:

  facegate probe_files  facegate::probe_files on the whole list with the default options: one
                        thread per core (BUILD_DIR/bench/probe_bench); the reference of the
                        comparisons
  ... 1 thread          the same with FileProbeOptions::threads = 1
  ... io_uring rings    the same with io_uring = always: one ring per thread
  ... one ring          io_uring = always and threads = 1: the default before issue 9
  facegate probe_file   facegate::probe_file on every file, one after another (same binary)
  facegate CLI          `facegate probe --json @LIST`, the whole process (BUILD_DIR/tools/facegate)
  baseline              open, read the first 4 KiB, close, on one thread (same binary as
                        probe_file); and the same plus the fstat that gives the file size
                        probe_file reports
  Python imagesize      imagesize.get(path), Debian python3-imagesize under /usr/bin/python3
  npm image-size 2.x    `await imageSizeFromFile(path)` one file after another (the package's
                        file API), and imageSize(fs.readFileSync(path)); bench/node_modules,
                        installed with npm on the first run

--syscall-tax N runs the probe_bench rows (not the CLI or the peers) with N instructions of
seccomp BPF on every system call (probe_bench --syscall-tax): a kernel where system calls cost
more, as on the VM of the first benchmarks. The table's header says what a system call then
costs. --sweep instead times the first 8 to 4,096 files of the list, 1 thread against 2, and
loops against rings (at the --syscall-tax given), to place the thresholds of
lib/probe_batch.cc.

Bytes read per file is the kernel's rchar (proc(5)) over the timed loop: what the process got
from read system calls, whatever the library asked for. rchar does not count io_uring READs, so
for the rings it is the sum of ProbeResult::bytes_read, what those READs returned (for
probe_file the two agree); for the CLI, the sum of the records' bytes_read. CPU time is every
thread's, the kernel's io_uring workers included (they are threads of the process).
Disagreements are counted over the files where facegate read dimensions: "size differs" when a
peer answers other dimensions, "no answer" when it gives none; known peer bugs are named below
the table. Prints a markdown table and the acceptance checks of issue 9 item 7 (probe_files
with its threads takes less wall time than the single-threaded baseline; every facegate row
reads the same dimensions), and exits 1 when one fails.
"""

import argparse
import collections
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(BENCH_DIR)
DEBIAN_PYTHON = "/usr/bin/python3"  # python3-imagesize is installed for Debian's interpreter

FACEGATE = "facegate probe_files (default: a thread per core)"
ONE_THREAD = "facegate probe_files, 1 thread"
RINGS = "facegate probe_files, io_uring (a ring per thread)"
ONE_RING = "facegate probe_files, io_uring (one ring)"
PROBE_FILE = "facegate probe_file (one file at a time)"
CLI = "facegate CLI (probe --json @list)"
BASELINE = "baseline: open, read 4 KiB, close"
BASELINE_FSTAT = "baseline + fstat (file size)"
IMAGESIZE = "Python imagesize 1.4 (imagesize.get)"
IMAGE_SIZE = "npm image-size 2.x (await imageSizeFromFile)"
IMAGE_SIZE_READFILE = "npm image-size 2.x (readFileSync + imageSize)"


def run_json(command, env=None):
    """Runs probe_bench or a peer script and returns the JSON object it prints last."""
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"run_local: {' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_cli(facegate, list_path, out_path):
    """Times the whole `facegate probe --json @LIST` process; bytes from its records."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(out_path, "w") as out:
        result = subprocess.run([facegate, "probe", "--json", "@" + list_path], stdout=out,
                                stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime -
                                                                cpu_before.ru_stime)
    if result.returncode not in (0, 1):  # 1: some input failed, which is an answer
        sys.exit(f"run_local: facegate probe failed ({result.returncode}):\n{result.stderr}")
    with open(out_path) as f:
        bytes_read = sum(json.loads(line).get("bytes_read") or 0 for line in f)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "rchar": bytes_read}


def ensure_image_size():
    if not os.path.isdir(os.path.join(BENCH_DIR, "node_modules", "image-size")):
        # npm ci: exactly the versions of bench/package-lock.json
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=BENCH_DIR)


def corpus_files(corpus):
    """Relative paths of the corpus's images, from its MANIFEST.tsv."""
    with open(os.path.join(corpus, "MANIFEST.tsv")) as f:
        next(f)
        return [line.split("\t", 1)[0] for line in f if line.strip()]


def link_corpus(corpus, target, minimum_files):
    """Hard links to the corpus files, repeated up to minimum_files; and the list file."""
    files = corpus_files(corpus)
    copies = math.ceil(minimum_files / len(files))
    paths = []
    for copy in range(copies):
        directory = os.path.join(target, f"copy{copy:03d}")
        os.makedirs(directory)
        for name in files:
            link = os.path.join(directory, name.replace("/", "__"))
            try:
                os.link(os.path.join(corpus, name), link)
            except OSError:  # another file system: a copy reads the same
                shutil.copyfile(os.path.join(corpus, name), link)
            paths.append(link)
    list_path = os.path.join(target, "list.txt")
    with open(list_path, "w") as f:
        f.writelines(path + "\n" for path in paths)
    return paths, list_path, len(files), copies


def warm_cache(corpus, paths):
    """Every corpus byte and every link's directory entry in memory before timing."""
    for name in corpus_files(corpus):
        with open(os.path.join(corpus, name), "rb") as f:
            while f.read(1 << 20):
                pass
    for path in paths:
        os.stat(path)


def read_dimensions(path):
    dimensions = {}
    with open(path) as f:
        for line in f:
            name, width, height = line.rstrip("\n").split("\t")
            dimensions[name] = (int(width), int(height))
    return dimensions


def read_cli_dimensions(path):
    dimensions = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if not record.get("error") and record.get("width"):
                dimensions[record["source"]] = (record["width"], record["height"])
    return dimensions


def corpus_kind(path):
    """The corpus subdirectory a link came from ("webp-lossy", "bmp3", ...)."""
    return os.path.basename(path).split("__", 1)[0]


def is_vp8x_webp(path):
    with open(path, "rb") as f:
        head = f.read(16)
    return head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X"


def known_peer_bug(path, ours, theirs):
    """Why a peer's different answer is the peer's bug, or None."""
    # WebP container spec, "Extended File Format": the VP8X chunk stores canvas width - 1 and
    # height - 1 (24 bits each). imagesize 1.4.1 returns the stored values without the + 1.
    if theirs == (ours[0] - 1, ours[1] - 1) and is_vp8x_webp(path):
        return "WebP VP8X canvas size without the + 1 of the WebP container spec"
    return None


def compare(reference, peer, paths):
    """Disagreements of a peer with facegate over the files where facegate read dimensions.

    Returns (differs, explained: Counter of reason, unexplained: examples, no answer: Counter
    of corpus kind)."""
    differs = 0
    explained = collections.Counter()
    unexplained = []
    no_answer = collections.Counter()
    for path in paths:
        if path not in reference:
            continue
        if path not in peer:
            no_answer[corpus_kind(path)] += 1
            continue
        if peer[path] == reference[path]:
            continue
        differs += 1
        reason = known_peer_bug(path, reference[path], peer[path])
        if reason:
            explained[reason] += 1
        else:
            unexplained.append(f"{path}: facegate {reference[path]}, peer {peer[path]}")
    return differs, explained, unexplained, no_answer


def machine_description():
    """CPU count and model, kernel and load: the timings mean little without them."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"Machine: {os.cpu_count()} x {model}, Linux {os.uname().release}, "
            f"load average {load} after the runs.")


# The probe_bench rows: name -> (probe_bench arguments before the mode, mode, answers file).
PROBE_BENCH_ROWS = {
    FACEGATE: ([], "facegate-batch", "facegate.tsv"),
    ONE_THREAD: (["--threads", "1"], "facegate-batch", "one_thread.tsv"),
    RINGS: (["--io-uring", "always"], "facegate-batch", "rings.tsv"),
    ONE_RING: (["--io-uring", "always", "--threads", "1"], "facegate-batch", "one_ring.tsv"),
    PROBE_FILE: ([], "facegate", "probe_file.tsv"),
    BASELINE: ([], "baseline", None),
    BASELINE_FSTAT: ([], "baseline-fstat", None),
}
ROW_ORDER = (FACEGATE, ONE_THREAD, RINGS, ONE_RING, PROBE_FILE, CLI, BASELINE, BASELINE_FSTAT,
             IMAGESIZE, IMAGE_SIZE, IMAGE_SIZE_READFILE)
# Rows that read the same dimensions as FACEGATE by construction: a disagreement is a bug.
FACEGATE_ROWS = (ONE_THREAD, RINGS, ONE_RING, PROBE_FILE, CLI)


def prepare(args, build, work):
    """The binaries, the linked corpus and its list, the page cache warm."""
    probe_bench = os.path.join(build, "bench", "probe_bench")
    facegate = os.path.join(build, "tools", "facegate", "facegate")
    for binary in (probe_bench, facegate):
        if not os.access(binary, os.X_OK):
            sys.exit(f"run_local: {binary} missing: ninja -C {build}")
    corpus = args.corpus and os.path.abspath(args.corpus)
    if not corpus:
        corpus = os.path.join(work, "corpus")
        builder = os.path.join(SOURCE_ROOT, "tests", "corpus", "build_corpus.py")
        subprocess.run([sys.executable, builder, corpus], check=True)
    paths, list_path, unique, copies = link_corpus(corpus, os.path.join(work, "files"), args.files)
    warm_cache(corpus, paths)
    return probe_bench, facegate, paths, list_path, unique, copies


def run_rounds(tools, repeat):
    """Each tool's results over `repeat` rounds, every tool once a round."""
    runs = {name: [] for name in tools}
    names = list(tools)
    for repetition in range(repeat):
        # A new order each time, so that no tool always runs right after the same other one
        # (npm image-size reads 1.1 MB a file and leaves the CPU caches cold for the next).
        for name in names[repetition % len(names):] + names[:repetition % len(names)]:
            runs[name].append(tools[name]())
    return runs


def measure(args, build, work):
    probe_bench, facegate, paths, list_path, unique, copies = prepare(args, build, work)
    out = lambda name: os.path.join(work, name)
    tax = ["--syscall-tax", str(args.syscall_tax)]
    tools = {}
    for name, (options, mode, answers_file) in PROBE_BENCH_ROWS.items():
        command = [probe_bench] + tax + options + [mode, list_path]
        if answers_file:
            command.append(out(answers_file))
        tools[name] = lambda command=command: run_json(command)
    if not args.syscall_tax:  # the tax is probe_bench's: the others run untaxed
        ensure_image_size()
        peer_image_size = os.path.join(BENCH_DIR, "peer_image_size.mjs")
        tools.update({
            CLI: lambda: run_cli(facegate, list_path, out("cli.jsonl")),
            IMAGESIZE: lambda: run_json([DEBIAN_PYTHON,
                                         os.path.join(BENCH_DIR, "peer_imagesize.py"),
                                         list_path, out("imagesize.tsv")]),
            IMAGE_SIZE: lambda: run_json(["node", peer_image_size, "fromFile", list_path,
                                          out("image-size.tsv")]),
            IMAGE_SIZE_READFILE: lambda: run_json(["node", peer_image_size, "readFile",
                                                   list_path, out("image-size-readfile.tsv")]),
        })
    runs = run_rounds(tools, args.repeat)
    for name in (FACEGATE, ONE_THREAD, RINGS, ONE_RING):
        for run in runs[name]:
            run["rchar"] = run["reported_bytes"]  # io_uring READs are not in rchar
    answers = {name: read_dimensions(out(answers_file))
               for name, (_, _, answers_file) in PROBE_BENCH_ROWS.items()
               if answers_file and name != FACEGATE}
    if CLI in tools:
        answers.update({
            CLI: read_cli_dimensions(out("cli.jsonl")),
            IMAGESIZE: read_dimensions(out("imagesize.tsv")),
            IMAGE_SIZE: read_dimensions(out("image-size.tsv")),
            IMAGE_SIZE_READFILE: read_dimensions(out("image-size-readfile.tsv")),
        })
    reference = read_dimensions(out("facegate.tsv"))
    syscall_ns = statistics.median(run["syscall_ns"] for run in runs[BASELINE])
    print(machine_description())
    print(f"{len(paths)} files ({unique} corpus files x {copies} hard links), warm cache, median "
          f"of {args.repeat} runs; facegate read the dimensions of {len(reference)} files. "
          f"A system call (getppid) costs {syscall_ns:.0f} ns in probe_bench"
          + (f", with a tax of {args.syscall_tax} BPF instructions." if args.syscall_tax else ".")
          + "\n")
    return report(runs, reference, answers, paths)


def report(runs, reference, answers, paths):
    """Prints the table and the acceptance checks; returns the number of failed checks."""
    n = len(paths)
    wall = {name: statistics.median(run["seconds"] for run in results)
            for name, results in runs.items()}
    cpu = {name: statistics.median(run["cpu_seconds"] for run in results)
           for name, results in runs.items()}
    comparisons = {name: compare(reference, answer, paths) for name, answer in answers.items()}
    print("| tool | files/s | µs/file wall | µs/file CPU | bytes read/file "
          "| wall time vs facegate | CPU time vs facegate | size differs | no answer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in [name for name in ROW_ORDER if name in runs]:
        results = runs[name]
        rchar = statistics.median(run["rchar"] for run in results)
        differs = missing = "–"
        if name in comparisons:
            differs = str(comparisons[name][0])
            missing = str(sum(comparisons[name][3].values()))
        elif name == FACEGATE:
            differs = missing = "0"
        print(f"| {name} | {n / wall[name]:,.0f} | {wall[name] / n * 1e6:.1f} | "
              f"{cpu[name] / n * 1e6:.1f} | {rchar / n:,.0f} | "
              f"{wall[name] / wall[FACEGATE]:.2f}x | {cpu[name] / cpu[FACEGATE]:.2f}x | "
              f"{differs} | {missing} |")
    print()
    for name, (_, explained, unexplained, no_answer) in comparisons.items():
        for reason, count in explained.items():
            print(f"- {name}: {count} differ, all {reason} (a peer bug)")
        if no_answer:
            kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(no_answer.items()))
            print(f"- {name}: no answer for {kinds}")
        for example in unexplained[:5]:
            print(f"- {name}: UNEXPLAINED {example}")
    print()

    # Issue 9 item 7: wall time, the caller's wait, which the threads shorten; CPU time is
    # printed beside it.
    checks = [(f"{FACEGATE} takes less wall time than the single-threaded {BASELINE}",
               wall[FACEGATE] < wall[BASELINE],
               f"{wall[FACEGATE] / wall[BASELINE]:.2f}x wall, "
               f"{cpu[FACEGATE] / cpu[BASELINE]:.2f}x CPU")]
    for name in FACEGATE_ROWS:
        if name not in comparisons:
            continue
        differs, _, _, missing = comparisons[name]
        extra = len(answers[name]) - len(reference) + sum(missing.values())
        checks.append((f"{name} reads the same dimensions of the same files as {FACEGATE}",
                       differs == 0 and not missing and not extra,
                       f"{differs} differ, {sum(missing.values())} missing, {extra} more"))
    for name, (_, _, unexplained, _) in comparisons.items():
        checks.append((f"no unexplained size disagreement: {name}", not unexplained,
                       f"{len(unexplained)}"))
    for title, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'} {title}: {detail}")
    return sum(not ok for _, ok, _ in checks)


# --sweep: the ways of probe_files compared, name -> probe_bench options.
SWEEP_WAYS = {
    "1 thread": ["--threads", "1", "--io-uring", "never"],
    "2 threads": ["--threads", "2", "--io-uring", "never"],
    "1 ring": ["--threads", "1", "--io-uring", "always"],
    "2 rings": ["--threads", "2", "--io-uring", "always"],
    "default": [],
}
SWEEP_COUNTS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def sweep(args, build, work):
    """Prints, for batches of the first 8 to 4,096 files, each way's time per call."""
    probe_bench, _, paths, list_path, _, _ = prepare(args, build, work)
    tax = ["--syscall-tax", str(args.syscall_tax)]
    print(machine_description())
    # The fastest run: on a shared machine the slower ones measure the neighbours.
    print(f"probe_files on the first N files of the list, µs per call (fastest of "
          f"{args.repeat} runs, each the median of many calls); syscall tax "
          f"{args.syscall_tax}.\n")
    print("| files | " + " | ".join(SWEEP_WAYS) + " | syscall ns |")
    print("|---:|" + "---:|" * (len(SWEEP_WAYS) + 1))
    for count in [count for count in SWEEP_COUNTS if count <= len(paths)]:
        iterations = str(max(5, 40_000 // count))
        times = {way: [] for way in SWEEP_WAYS}
        syscall_ns = []
        for _ in range(args.repeat):
            for way, options in SWEEP_WAYS.items():
                run = run_json([probe_bench] + tax + options + [
                    "--first", str(count), "--iterations", iterations, "facegate-batch",
                    list_path])
                times[way].append(run["seconds"])
                syscall_ns.append(run["syscall_ns"])
        cells = " | ".join(f"{min(times[way]) * 1e6:,.0f}" for way in SWEEP_WAYS)
        print(f"| {count} | {cells} | {statistics.median(syscall_ns):.0f} |")
    return 0


def add_file_arguments(parser):
    """--build, --corpus, --files and --repeat: the options of prepare() and run_rounds()."""
    parser.add_argument("--build", required=True, help="meson build directory of facegate")
    parser.add_argument("--corpus", help="an existing corpus (build_corpus.py output)")
    parser.add_argument("--files", type=int, default=10_000, help="at least this many files")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each tool")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_file_arguments(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--syscall-tax", type=int, default=0,
                        help="BPF instructions added to every system call of probe_bench")
    parser.add_argument("--sweep", action="store_true",
                        help="time batch sizes and ways of probe_files instead of the table")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="facegate-bench-")
    try:
        run = sweep if args.sweep else measure
        failed = run(args, os.path.abspath(args.build), work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
