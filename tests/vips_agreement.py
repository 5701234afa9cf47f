#!/usr/bin/env python3
"""`facegate probe --json` agrees with libvips's vipsheader on every image both can read.

Usage: vips_agreement.py FACEGATE_BINARY [--vipsheader PATH] [DIR ...]

DIR defaults to /usr/share/libjxl-testdata (Debian's libjxl-testdata). Every regular file under
the directories is probed by one `facegate probe --json` run and read by vipsheader (one run for
many files, which prints the same width and height as `vipsheader -f width FILE`, `-f height`;
a disagreement is confirmed with those). A file is compared when vipsheader reads it and either
facegate names it one of the formats it parses (jpeg, png, bmp, webp) or vips loads it as JPEG,
PNG or WebP; then facegate must succeed with vipsheader's width and height. vipsheader reports
the stored dimensions without applying the EXIF orientation: the check first proves that on a
JPEG it writes with orientation 6, which facegate must report too. Exits 1 on any disagreement.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

DEFAULT_DIRECTORY = "/usr/share/libjxl-testdata"
PARSED_FORMATS = {"jpeg", "png", "bmp", "webp"}
# vips's own loaders of those formats (vips 8.14 reads BMP through magickload, with others).
VIPS_LOADERS_OF_PARSED_FORMATS = {"jpegload", "pngload", "webpload"}
# A JPEG of the test data that is not square, so a rotation would show.
ORIENTATION_SAMPLE = "jxl/flower/flower.png.im_q85_420.jpg"


def vips_dimensions(vipsheader, path):
    """(width, height) from `vipsheader -f width PATH` and `-f height`, or None when it fails."""
    answers = []
    for field in ("width", "height"):
        result = subprocess.run([vipsheader, "-f", field, path], capture_output=True, text=True)
        if result.returncode != 0:
            return None
        answers.append(int(result.stdout.strip()))
    return tuple(answers)


def vips_headers(vipsheader, paths):
    """path -> (width, height, loader) for each file vipsheader reads, in one run per 200 files.

    Given several files, vipsheader prints "PATH: WxH FORMAT, N bands, SPACE, LOADER" for each
    file it reads (the same width and height as -f width / -f height) and an error on stderr for
    each other file, and goes on."""
    headers = {}
    for start in range(0, len(paths), 200):
        batch = paths[start:start + 200]
        result = subprocess.run([vipsheader, *batch], capture_output=True, text=True)
        lines = result.stdout.splitlines()
        for path in batch:
            prefix = path + ": "
            line = next((line for line in lines if line.startswith(prefix)), None)
            if line is None:
                continue
            size, _, rest = line[len(prefix):].partition(" ")
            width, _, height = size.partition("x")
            headers[path] = (int(width), int(height), rest.rsplit(", ", 1)[-1])
    return headers


def facegate_records(facegate, paths):
    """source -> the JSON record of `facegate probe --json` for each path."""
    result = subprocess.run([facegate, "probe", "--json", *paths], capture_output=True, text=True)
    records = {}
    for line in result.stdout.splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["source"]] = record
    missing = [path for path in paths if path not in records]
    if missing:
        sys.exit(f"vips_agreement: facegate (exit {result.returncode}) printed no record for "
                 f"{len(missing)} of {len(paths)} inputs, e.g. {missing[0]}\n{result.stderr}")
    return records


def exif_orientation_segment(orientation):
    """A JPEG APP1 segment holding an Exif TIFF header with one IFD0 entry, Orientation (0x0112).

    Layout from CIPA DC-008 (Exif 2.3) 4.5 and TIFF 6.0 section 2: "Exif\\0\\0", "II*\\0",
    IFD offset 8, one 12-byte entry (tag, type SHORT=3, count 1, value), next IFD 0."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def check_orientation_is_not_applied(facegate, vipsheader, directory):
    """Both tools report stored dimensions for a rotated JPEG; facegate reads the orientation."""
    sample = os.path.join(directory, ORIENTATION_SAMPLE)
    if not os.path.isfile(sample):
        return []
    with open(sample, "rb") as f:
        jpeg = f.read()
    stored = vips_dimensions(vipsheader, sample)
    if stored is None or stored[0] == stored[1]:
        return [f"{sample}: vipsheader cannot read it or it is square"]
    with tempfile.TemporaryDirectory() as temporary:
        rotated = os.path.join(temporary, "orientation6.jpg")
        with open(rotated, "wb") as f:
            # After SOI (ITU T.81 B.2.1), before the JFIF APP0: decoders accept either order.
            f.write(jpeg[:2] + exif_orientation_segment(6) + jpeg[2:])
        problems = []
        vips = vips_dimensions(vipsheader, rotated)
        if vips != stored:
            problems.append(f"vipsheader reports {vips} for orientation 6, stored {stored}: "
                            "it applies the orientation, compare swapped dimensions")
        record = facegate_records(facegate, [rotated])[rotated]
        ours = (record.get("width"), record.get("height"))
        if record.get("error") or ours != stored or record.get("orientation") != 6:
            problems.append(f"facegate on a JPEG with EXIF orientation 6 and stored size {stored}: "
                            f"{json.dumps(record)}")
    return problems


def regular_files(directories):
    paths = []
    for directory in directories:
        for root, subdirs, files in os.walk(directory):
            subdirs.sort()
            paths.extend(os.path.join(root, name) for name in sorted(files)
                         if os.path.isfile(os.path.join(root, name)))
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("facegate", help="the facegate binary")
    parser.add_argument("directories", nargs="*", default=[DEFAULT_DIRECTORY])
    parser.add_argument("--vipsheader", default="vipsheader")
    args = parser.parse_args()

    for directory in args.directories:
        if not os.path.isdir(directory):
            sys.exit(f"vips_agreement: no directory {directory} (apt-get install libjxl-testdata)")
    paths = regular_files(args.directories)
    if not paths:
        sys.exit("vips_agreement: no files to compare")
    records = facegate_records(args.facegate, paths)

    problems = check_orientation_is_not_applied(args.facegate, args.vipsheader,
                                                args.directories[0])
    vips = vips_headers(args.vipsheader, paths)
    compared = 0
    not_compared = {}   # vipsheader reads it; facegate names a format it does not parse
    facegate_only = []  # facegate parses it; vipsheader cannot read it
    for path in paths:
        record = records[path]
        parsed = record.get("format") in PARSED_FORMATS
        if path not in vips:
            if parsed and not record.get("error"):
                facegate_only.append(path)
            continue
        width, height, loader = vips[path]
        # A file vips loads as JPEG, PNG or WebP is compared whatever facegate took it for.
        if not parsed and loader not in VIPS_LOADERS_OF_PARSED_FORMATS:
            key = f"{record.get('format') or 'unrecognized'} ({loader})"
            not_compared[key] = not_compared.get(key, 0) + 1
            continue
        compared += 1
        ours = (record.get("width"), record.get("height"))
        if record.get("error") or ours != (width, height):
            confirmed = vips_dimensions(args.vipsheader, path)
            problems.append(f"{path}: vipsheader {width}x{height} ({loader}; -f width/height: "
                            f"{confirmed}), facegate {json.dumps(record)}")

    print(f"vips_agreement: {len(paths)} files, {len(vips)} read by vipsheader, {compared} "
          f"compared (read by vipsheader, a format facegate parses), {len(facegate_only)} parsed "
          f"by facegate only")
    for key in sorted(not_compared):
        print(f"  not compared, read by vipsheader, facegate format {key}: {not_compared[key]}")
    for path in facegate_only:
        print(f"  parsed by facegate only: {path}")
    for problem in problems:
        print(f"DISAGREE {problem}")
    if compared == 0:
        problems.append("nothing compared")
    print(f"vips_agreement: {'FAILED, ' + str(len(problems)) + ' problems' if problems else 'OK'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
