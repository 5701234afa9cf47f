#!/usr/bin/python3
"""The Python binding's overhead: facegate.probe against the C++ probe_file and probe_files,
and against Python imagesize, over the same 10,000 files in one run (bench/README.md).

Usage: bench/run_python.py --build BUILD_DIR [--corpus DIR] [--files N] [--repeat R]

The files and their warm page cache are run_local.py's (the test corpus hard-linked to at least
N files). Each tool runs R times (default 5), in turn, each round starting one tool further
on; the table gives each one's median run:

  C++ probe_files         facegate::probe_files on the whole list (BUILD/bench/probe_bench)
  C++ probe_file          facegate::probe_file on every file, one after another (same binary)
  Python facegate.probe   facegate.probe(path) on every file (BUILD/python on PYTHONPATH),
                          under /usr/bin/python3
  Python probe_files      one facegate.probe_files(paths) call
  Python imagesize        imagesize.get(path) (Debian python3-imagesize)

The binding's overhead per file is facegate.probe's time less probe_file's. Checks that every
facegate row reads the same dimensions as the C++ probe_files, and exits 1 when one does not.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

import run_local

CPP_BATCH = "C++ facegate::probe_files (a thread per core)"
CPP_ONE = "C++ facegate::probe_file (one file at a time)"
PY_PROBE = "Python facegate.probe (one call per file)"
PY_BATCH = "Python facegate.probe_files (one call)"
IMAGESIZE = run_local.IMAGESIZE
FACEGATE_ROWS = (CPP_ONE, PY_PROBE, PY_BATCH)


def tools(build, list_path, out):
    probe_bench = os.path.join(build, "bench", "probe_bench")
    peer = os.path.join(run_local.BENCH_DIR, "peer_facegate_python.py")
    package_env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"))
    python_row = lambda mode, answers: lambda: run_local.run_json(
        [run_local.DEBIAN_PYTHON, peer, mode, list_path, out(answers)], env=package_env)
    return {
        CPP_BATCH: lambda: run_local.run_json([probe_bench, "facegate-batch", list_path, out("cpp_batch.tsv")]),
        CPP_ONE: lambda: run_local.run_json([probe_bench, "facegate", list_path, out("cpp_one.tsv")]),
        PY_PROBE: python_row("probe", "py_probe.tsv"),
        PY_BATCH: python_row("probe_files", "py_batch.tsv"),
        IMAGESIZE: lambda: run_local.run_json([run_local.DEBIAN_PYTHON,
                                               os.path.join(run_local.BENCH_DIR, "peer_imagesize.py"),
                                               list_path, out("imagesize.tsv")]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    run_local.add_file_arguments(parser)
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    if not os.path.isdir(os.path.join(build, "python", "facegate")):
        sys.exit(f"run_python: {build}/python/facegate missing: meson setup -Dpython=enabled")
    work = tempfile.mkdtemp(prefix="facegate-bench-python-")
    try:
        _, _, paths, list_path, unique, copies = run_local.prepare(args, build, work)
        out = lambda name: os.path.join(work, name)
        runs = run_local.run_rounds(tools(build, list_path, out), args.repeat)
        reference = run_local.read_dimensions(out("cpp_batch.tsv"))
        answers = {CPP_ONE: run_local.read_dimensions(out("cpp_one.tsv")),
                   PY_PROBE: run_local.read_dimensions(out("py_probe.tsv")),
                   PY_BATCH: run_local.read_dimensions(out("py_batch.tsv")),
                   IMAGESIZE: run_local.read_dimensions(out("imagesize.tsv"))}
        print(run_local.machine_description())
        print(f"{len(paths)} files ({unique} corpus files x {copies} hard links), warm cache, "
              f"median of {args.repeat} runs; facegate read the dimensions of {len(reference)} files.\n")
        failed = report(runs, reference, answers, paths)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def report(runs, reference, answers, paths):
    n = len(paths)
    wall = {name: statistics.median(run["seconds"] for run in results) for name, results in runs.items()}
    cpu = {name: statistics.median(run["cpu_seconds"] for run in results) for name, results in runs.items()}
    comparisons = {name: run_local.compare(reference, answer, paths) for name, answer in answers.items()}
    print("| tool | files/s | µs/file wall | µs/file CPU | wall vs probe_file | size differs | no answer |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in runs:
        differs, _, _, missing = comparisons.get(name, (0, None, None, {}))
        print(f"| {name} | {n / wall[name]:,.0f} | {wall[name] / n * 1e6:.1f} | "
              f"{cpu[name] / n * 1e6:.1f} | {wall[name] / wall[CPP_ONE]:.2f}x | {differs} | "
              f"{sum(missing.values())} |")
    print()
    overhead = (wall[PY_PROBE] - wall[CPP_ONE]) / n * 1e6
    print(f"- the binding's overhead: {overhead:.1f} µs per facegate.probe call above "
          f"probe_file's {wall[CPP_ONE] / n * 1e6:.1f} µs; facegate.probe_files adds "
          f"{(wall[PY_BATCH] - wall[CPP_BATCH]) / n * 1e6:.1f} µs a file to probe_files")
    print(f"- facegate.probe takes {wall[PY_PROBE] / wall[IMAGESIZE]:.2f}x imagesize's wall time, "
          f"facegate.probe_files {wall[PY_BATCH] / wall[IMAGESIZE]:.2f}x")
    checks = []
    for name in FACEGATE_ROWS:
        differs, _, _, missing = comparisons[name]
        extra = len(answers[name]) - len(reference) + sum(missing.values())
        checks.append((f"{name} reads the same dimensions of the same files as {CPP_BATCH}",
                       differs == 0 and not missing and not extra,
                       f"{differs} differ, {sum(missing.values())} missing, {extra} more"))
    for title, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'} {title}: {detail}")
    return sum(not ok for _, ok, _ in checks)


if __name__ == "__main__":
    sys.exit(main())
