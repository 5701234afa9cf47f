"""Times Python imagesize (Debian python3-imagesize) over a list of files; run by run_local.py.

Usage: /usr/bin/python3 peer_imagesize.py LISTFILE DIMENSIONS_OUT

Calls imagesize.get(path) on each file, as a user of the module would. Prints one JSON object
like probe_bench's; DIMENSIONS_OUT receives "path<TAB>width<TAB>height" for each file that it
answered ((-1, -1) or an exception means it could not read the file).
"""

import json
import sys
import time

import imagesize


def bytes_read_by_process():
    """rchar of /proc/self/io: bytes this process got from read system calls (proc(5))."""
    with open("/proc/self/io") as f:
        for line in f:
            key, value = line.split()
            if key == "rchar:":
                return int(value)
    return 0


def main():
    list_path, dimensions_path = sys.argv[1], sys.argv[2]
    with open(list_path) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    answers = [None] * len(paths)
    errors = 0
    rchar_before = bytes_read_by_process()
    start = time.perf_counter()
    cpu_start = time.process_time()
    for i, path in enumerate(paths):
        try:
            answers[i] = imagesize.get(path)
        except Exception:  # the module raises ValueError and struct.error on files it rejects
            errors += 1
    cpu_seconds = time.process_time() - cpu_start
    seconds = time.perf_counter() - start
    rchar = bytes_read_by_process() - rchar_before
    with open(dimensions_path, "w") as out:
        for path, answer in zip(paths, answers):
            if answer and answer != (-1, -1):
                out.write(f"{path}\t{answer[0]}\t{answer[1]}\n")
    print(json.dumps({"mode": "imagesize", "files": len(paths), "seconds": seconds,
                      "cpu_seconds": cpu_seconds, "rchar": rchar, "errors": errors}))


if __name__ == "__main__":
    main()
