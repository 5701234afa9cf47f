#!/usr/bin/env python3
"""Builds the image corpus that tests/corpus_test.cc and bench/ run over.

Usage: build_corpus.py OUTPUT_DIR [--source DIR] [--jobs N]

From every file under the source tree (default /usr/share/libjxl-testdata) whose magic bytes
say JPEG, PNG, BMP, WebP or GIF, it writes into OUTPUT_DIR:

  original/        the file itself
  webp-lossy/      cwebp -metadata all                  (JPEG and PNG sources)
  webp-lossless/   cwebp -lossless -z 0 -metadata all   (JPEG and PNG sources)
  webp-animated/   gif2webp                             (GIF sources)
  bmp3/            convert -define bmp:format=bmp3      (BMPv3: 40-byte info header)
  bmp/             convert, ImageMagick's default BMP   (BMPv4/v5 info header)

File names are the source's path relative to the source tree with '/' replaced by '__', so a
run is deterministic: same sources and tool versions, same files. A source that a converter
cannot read is skipped and counted. The corpus is built in OUTPUT_DIR.partial and renamed to
OUTPUT_DIR only when complete; OUTPUT_DIR/MANIFEST.tsv lists every file with its kind
("original" or the subdirectory), its source and the source's format. A missing converter is
an error, not a reason to skip.
"""

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys

DEFAULT_SOURCE = "/usr/share/libjxl-testdata"

# Magic bytes: ITU T.81 (SOI + marker), PNG spec 5.2, BMP "BM", RIFF/WEBP, GIF87a/GIF89a.
def sniff(head: bytes):
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"GIF87a") or head.startswith(b"GIF89a"):
        return "gif"
    return None


def find_sources(source_root):
    """(relative path, format) of every image under source_root, sorted by path."""
    found = []
    for directory, subdirs, files in os.walk(source_root):
        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as f:
                image_format = sniff(f.read(12))
            if image_format:
                found.append((os.path.relpath(path, source_root), image_format))
    found.sort()
    return found


def flat_name(relative_path):
    return relative_path.replace(os.sep, "__")


def require_tools():
    """Full paths of the converters; exits when one is missing or is not ImageMagick."""
    tools = {}
    for name in ("cwebp", "gif2webp", "convert"):
        path = shutil.which(name)
        if path is None:
            sys.exit(f"build_corpus: {name} not found (apt-get install webp imagemagick)")
        tools[name] = path
    version = subprocess.run([tools["convert"], "-version"], capture_output=True, text=True)
    if "ImageMagick" not in version.stdout:
        sys.exit(f"build_corpus: {tools['convert']} is not ImageMagick "
                 "(apt-get install imagemagick)")
    return tools


# ImageMagick's OpenMP threads only fight the other converter for the cores.
CONVERTER_ENVIRONMENT = dict(os.environ, MAGICK_THREAD_LIMIT="1", OMP_NUM_THREADS="1")


def conversions(tools, source, relative, image_format):
    """(command, {subdirectory: output path relative to the corpus}) for each converter run."""
    stem = flat_name(relative)
    webp = {kind: f"{kind}/{stem}.webp"
            for kind in ("webp-lossy", "webp-lossless", "webp-animated")}
    bmp = {kind: f"{kind}/{stem}.bmp" for kind in ("bmp", "bmp3")}
    runs = []
    if image_format in ("jpeg", "png"):
        runs.append(([tools["cwebp"], "-quiet", "-metadata", "all", source,
                      "-o", webp["webp-lossy"]], {"webp-lossy": webp["webp-lossy"]}))
        runs.append(([tools["cwebp"], "-quiet", "-lossless", "-z", "0", "-metadata", "all", source,
                      "-o", webp["webp-lossless"]], {"webp-lossless": webp["webp-lossless"]}))
    if image_format == "gif":
        runs.append(([tools["gif2webp"], "-quiet", source, "-o", webp["webp-animated"]],
                     {"webp-animated": webp["webp-animated"]}))
    # One decode, two writes: the default BMP, then BMP3 (the -define applies to the writes after
    # it; the bytes equal those of two separate runs). [0]: an animated GIF's first frame only.
    runs.append(([tools["convert"], source + "[0]", "-write", bmp["bmp"],
                  "-define", "bmp:format=bmp3", bmp["bmp3"]], bmp))
    return runs


def run_conversion(command, outputs, corpus):
    """The subdirectories whose output the converter wrote (non-empty); removes the others."""
    result = subprocess.run(command, capture_output=True, cwd=corpus, env=CONVERTER_ENVIRONMENT)
    written = []
    for subdir, out in outputs.items():
        path = os.path.join(corpus, out)
        if result.returncode == 0 and os.path.isfile(path) and os.path.getsize(path) > 0:
            written.append(subdir)
        elif os.path.exists(path):
            os.remove(path)
    return written


def build(source_root, output, jobs):
    tools = require_tools()
    sources = find_sources(source_root)
    if not sources:
        sys.exit(f"build_corpus: no JPEG/PNG/BMP/WebP/GIF files under {source_root}")
    partial = output.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(os.path.join(partial, "original"))
    manifest = []
    runs = []
    for relative, image_format in sources:
        source = os.path.join(source_root, relative)
        name = flat_name(relative)
        shutil.copyfile(source, os.path.join(partial, "original", name))
        manifest.append(("original/" + name, "original", relative, image_format))
        for command, outputs in conversions(tools, source, relative, image_format):
            for subdir in outputs:
                os.makedirs(os.path.join(partial, subdir), exist_ok=True)
            runs.append((command, outputs, relative, image_format))

    skipped = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_conversion, command, outputs, partial)
                   for command, outputs, _, _ in runs]
        for (_, outputs, relative, image_format), future in zip(runs, futures):
            written = future.result()
            for subdir, out in outputs.items():
                if subdir in written:
                    manifest.append((out, subdir, relative, image_format))
                else:
                    skipped.setdefault(subdir, []).append(relative)

    manifest.sort()
    with open(os.path.join(partial, "MANIFEST.tsv"), "w") as f:
        f.write("file\tkind\tsource\tsource_format\n")
        for row in manifest:
            f.write("\t".join(row) + "\n")
    shutil.rmtree(output, ignore_errors=True)
    os.rename(partial, output)

    print(f"build_corpus: {len(sources)} sources from {source_root}, "
          f"{len(manifest)} files in {output}")
    for subdir in sorted(skipped):
        names = skipped[subdir]
        print(f"build_corpus: skipped {len(names)} sources the {subdir} converter cannot read: "
              + ", ".join(names))
    if not skipped:
        print("build_corpus: skipped 0 sources")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="corpus directory to create (replaced if it exists)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="tree of source images")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="converters run at once (default: 2)")
    args = parser.parse_args()
    build(os.path.abspath(args.source), os.path.abspath(args.output), max(1, args.jobs))


if __name__ == "__main__":
    main()
