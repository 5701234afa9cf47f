#!/usr/bin/env python3
"""Fails when a source file of the project cites something outside the repository.

The project explains itself with what it ships (docs/service.md, docs/design.md, README.md):
a comment that sends the reader to a file the repository does not have is a dead end. This
script reads every tracked text file (git ls-files; every file under the root when git is not
there) and reports, as "path:line: citation: why", each
  - Markdown file (name.md) that exists neither next to the citing file nor from the root;
  - relative path with a directory and a source-like extension (lib/rules/models.json) that
    is no file from the root or next to the citing file, and not the end of a tracked path
    (an include path such as rules/builtin.hpp);
  - path that climbs out of the repository (../) or names the machine's /work tree;
  - section anchor (docs/service.md#billing) that is not a heading of that Markdown file.
URLs, #include lines, absolute system paths (/usr/share/...) and paths under an upper-case
placeholder (OUTPUT_DIR/MANIFEST.tsv) are not citations of the project's files and are left
alone.

Usage: check_citations.py SOURCE_ROOT        exit status 0: no finding, 1: findings
"""

import os
import pathlib
import re
import subprocess
import sys

TEXT_SUFFIXES = {".cc", ".hpp", ".h", ".py", ".build", ".md", ".sh", ".json", ".dict", ".in",
                 ".mjs", ".txt", ".tsv"}
SKIPPED_PREFIXES = ("fuzz/corpus/", "tests/data/", "examples/")
SKIPPED_NAMES = {"package-lock.json"}
# What a citation of a repository file ends in (system headers, images and URLs are not).
CITED_SUFFIXES = r"md|cc|hpp|py|json|build|sh|dict|tsv|mjs|in|txt"
PATH = re.compile(r"(?<![\w./-])((?:\.\./|[\w.-]+/)*[\w.-]+\.(?:" + CITED_SUFFIXES +
                  r"))(#[\w-]+)?(?![\w/-])")
THIS_SCRIPT = pathlib.Path(__file__).resolve()  # its examples are not citations
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*")
WORK_TREE = re.compile(r"/work/\S*")


def tracked_files(root):
    try:
        listing = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True,
                                 capture_output=True).stdout.decode()
        return [pathlib.Path(name) for name in listing.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for directory, subdirectories, names in os.walk(root):
            subdirectories[:] = [d for d in subdirectories
                                 if not d.startswith((".", "build")) and d != "subprojects"]
            files += [pathlib.Path(directory, name).relative_to(root) for name in names]
        return files


def is_source(path):
    text = path.as_posix()
    return (path.suffix in TEXT_SUFFIXES and path.name not in SKIPPED_NAMES
            and not text.startswith(SKIPPED_PREFIXES))


def heading_anchors(markdown):
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            title = re.sub(r"[^\w\s-]", "", match.group(1).lower())
            anchors.add(re.sub(r"\s", "-", title))
    return anchors


def resolve(root, files, citing, cited):
    """The cited file inside the repository, or None."""
    for base in (root / citing.parent, root):
        candidate = (base / cited).resolve()
        if candidate.is_file() and candidate.is_relative_to(root):
            return candidate
    if not cited.startswith("../"):
        for path in files:
            if path.as_posix().endswith("/" + cited):
                return root / path
    return None


def is_placeholder(cited):
    directories = cited.split("/")[:-1]
    return any(re.fullmatch(r"[A-Z][A-Z0-9_]*(\.partial)?", part) for part in directories)


def findings_in(root, files, path):
    try:
        text = (root / path).read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#include"):
            continue
        for match in WORK_TREE.finditer(line):
            yield number, match.group(0), "a path of the machine, outside the repository"
        line = URL.sub(" ", WORK_TREE.sub(" ", line))
        for match in PATH.finditer(line):
            cited, anchor = match.group(1), match.group(2)
            if ("/" not in cited and not cited.endswith(".md")) or is_placeholder(cited):
                continue  # a bare file name or a placeholder: a mention, not a path
            target = resolve(root, files, path, cited)
            if target is None:
                yield number, match.group(0), "no such file in the repository"
            elif anchor and target.suffix == ".md" and \
                    anchor[1:] not in heading_anchors(target.read_text(encoding="utf-8")):
                yield number, match.group(0), "no such section in " + cited


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1]).resolve()
    count = 0
    files = sorted(tracked_files(root))
    for path in files:
        if not is_source(path) or not (root / path).is_file() or \
                (root / path).resolve() == THIS_SCRIPT:
            continue
        for number, citation, why in findings_in(root, files, path):
            print(f"{path}:{number}: {citation}: {why}")
            count += 1
    print(f"{count} citation(s) of something outside the repository", file=sys.stderr)
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
