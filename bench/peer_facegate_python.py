"""Times the Python package over a list of files; run by run_python.py.

Usage: /usr/bin/python3 peer_facegate_python.py probe|probe_files LISTFILE DIMENSIONS_OUT

probe: facegate.probe(path) on each file, one call per file, as a user of the module would;
probe_files: one facegate.probe_files(paths) call on the whole list. The package is the one
on PYTHONPATH (BUILD/python). Prints one JSON object like probe_bench's (reported_bytes: the
sum of the results' bytes_read); DIMENSIONS_OUT receives "path<TAB>width<TAB>height" for each
file whose dimensions it read.
"""

import json
import sys
import time

import facegate


def main():
    mode, list_path, dimensions_path = sys.argv[1:4]
    with open(list_path) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    start = time.perf_counter()
    cpu_start = time.process_time()
    if mode == "probe":
        results = [facegate.probe(path) for path in paths]
    else:
        results = facegate.probe_files(paths)
    cpu_seconds = time.process_time() - cpu_start
    seconds = time.perf_counter() - start
    with open(dimensions_path, "w") as out:
        for result in results:
            if result.ok and result.width:
                out.write(f"{result.source}\t{result.width}\t{result.height}\n")
    print(json.dumps({"mode": mode, "files": len(paths), "seconds": seconds,
                      "cpu_seconds": cpu_seconds,
                      "reported_bytes": sum(result.bytes_read for result in results),
                      "errors": sum(not result.ok for result in results)}))


if __name__ == "__main__":
    main()
