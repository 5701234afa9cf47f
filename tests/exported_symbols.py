"""The shared library exports the public API and nothing of the internals.

Usage: exported_symbols.py NM LIBRARY

Reads the dynamic symbol table (nm -D --defined-only, demangled) and fails on a symbol of the
internals: facegate::detail, an anonymous namespace, the private State types of public classes,
or a C symbol outside the facegate_ prefix (stb_image, say). Also fails when a function of the
C API or of the public C++ API is missing, so that hiding too much fails as well.
"""
import re
import subprocess
import sys

INTERNAL = [
    (re.compile(r"facegate::detail::"), "facegate::detail"),
    (re.compile(r"\(anonymous namespace\)"), "an anonymous namespace"),
    (re.compile(r"facegate::\w+::State\b"), "a private State type"),
]
EXPECTED = [
    "facegate_probe_file",
    "facegate_checker_create",
    "facegate_strerror",
    "facegate::probe_file(",
    "facegate::Checker::create(",
    "facegate::to_json[abi:cxx11](",
]


def main() -> int:
    nm, library = sys.argv[1], sys.argv[2]
    listing = subprocess.run([nm, "-D", "--defined-only", "-C", library], check=True,
                             capture_output=True, text=True).stdout
    names = [line.split(" ", 2)[2] for line in listing.splitlines() if line.count(" ") >= 2]
    problems = []
    for name in names:
        for pattern, what in INTERNAL:
            if pattern.search(name):
                problems.append(f"exports {what}: {name}")
        is_cxx = "::" in name or " " in name
        if not is_cxx and not name.startswith("facegate_"):
            problems.append(f"exports a C symbol outside the API: {name}")
    for expected in EXPECTED:
        if not any(name.startswith(expected) for name in names):
            problems.append(f"does not export {expected}")
    for problem in problems:
        print(problem)
    print(f"{len(names)} exported symbols, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
