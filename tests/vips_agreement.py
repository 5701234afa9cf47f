#!/usr/bin/python3
"""`facegate probe --json` reads every image that libvips's vipsheader or Pillow reads.

Usage: vips_agreement.py FACEGATE_BINARY [--vipsheader PATH] [DIR ...]

Never reject what a decoder accepts: an image a mainstream decoder reads is never an error for
facegate, and its size is the decoder's. DIR defaults to /usr/share/libjxl-testdata (Debian's
libjxl-testdata); the tests also give tests/data/crafted and the corpus of tests/corpus. Every
regular file under the directories is probed by one `facegate probe --json` run, then:

- vipsheader (libjpeg-turbo, libpng, libwebp, and ImageMagick for BMP) reads it, one run for
  many files, which prints the same width and height as `vipsheader -f width FILE`, `-f height`
  (a disagreement is confirmed with those). A file is compared when vipsheader reads it and
  either facegate names it one of the formats it parses (jpeg, png, bmp, webp) or vips loads it
  as JPEG, PNG or WebP; then facegate must succeed with vipsheader's width and height, unless
  the file is one of VIPSHEADER_ONLY: vipsheader reads its header, but neither vips (`vips avg`)
  nor Pillow decodes the image, which the check confirms.
- Pillow opens it (Image.open, which reads the header). Where facegate gives another answer
  than Pillow's size, Pillow must fail to decode the image (Image.load): an image that Pillow
  decodes, facegate reads with its size. Pillow reads some headers libpng refuses (see
  lib/formats/png.cc), and some it cannot decode.

vipsheader and Pillow report the stored dimensions without applying the EXIF orientation: the
check first proves that on a JPEG vipsheader writes with orientation 6, which facegate must
report too. Exits 1 on any disagreement.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings

try:
    from PIL import Image
except ImportError:
    sys.exit("vips_agreement: Pillow is missing (apt-get install python3-pil; run the script "
             "with /usr/bin/python3)")

DEFAULT_DIRECTORY = "/usr/share/libjxl-testdata"
PARSED_FORMATS = {"jpeg", "png", "bmp", "webp"}
# vips's own loaders of those formats (vips 8.14 reads BMP through magickload, with others).
VIPS_LOADERS_OF_PARSED_FORMATS = {"jpegload", "pngload", "webpload"}
# Pillow's names of those formats (MPO: a JPEG with a multi-picture APP2 segment).
PILLOW_FORMATS_PARSED = {"JPEG", "MPO", "PNG", "BMP", "WEBP"}
# A JPEG of the test data that is not square, so a rotation would show.
ORIENTATION_SAMPLE = "jxl/flower/flower.png.im_q85_420.jpg"
# Files (by name) whose header vipsheader reads although no decoder decodes them, so facegate
# calls them malformed: the reason, checked to hold (vips and Pillow fail to decode them).
VIPSHEADER_ONLY = {
    "webp-vp8-chunk-too-small.webp":
        "libwebp reads the 10 bytes of the VP8 frame header across the end of a 9-byte chunk "
        "(the 10th is the RIFF pad byte); dwebp, vips, ImageMagick and Pillow cannot decode it "
        "(dwebp: NOT_ENOUGH_DATA)",
}


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


def vips_decodes(path):
    """True when vips decodes the whole image (`vips avg` reads every pixel)."""
    return subprocess.run(["vips", "avg", path], capture_output=True).returncode == 0


def pillow_read(path, decode):
    """(width, height, format) when Pillow opens the file (and decodes it, with `decode`), else
    None. Its warnings (large images, odd EXIF data) are not this check's business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as image:
                if decode:
                    image.load()
                return image.width, image.height, image.format
        except Exception:  # Pillow raises many kinds for files it cannot read
            return None


def pillow_headers(paths):
    """path -> (width, height, format) for each file Pillow opens as one of the parsed formats."""
    headers = {}
    for path in paths:
        header = pillow_read(path, decode=False)
        if header is not None and header[2] in PILLOW_FORMATS_PARSED:
            headers[path] = header
    return headers


def pillow_decodes(path):
    """True when Pillow decodes the whole image (Image.load)."""
    return pillow_read(path, decode=True) is not None


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
    args = parser.parse_intermixed_args()  # directories may follow --vipsheader

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
    pillow = pillow_headers(paths)
    compared = 0
    not_compared = {}   # vipsheader reads it; facegate names a format it does not parse
    facegate_only = []  # facegate parses it; vipsheader cannot read it
    header_only = []    # vipsheader reads the header of a VIPSHEADER_ONLY file
    pillow_compared = 0
    pillow_header_only = []  # Pillow opens it with another answer than facegate's, decodes not
    for path in paths:
        record = records[path]
        parsed = record.get("format") in PARSED_FORMATS
        ours = None if record.get("error") else (record.get("width"), record.get("height"))
        if path in pillow and (parsed or pillow[path][2] in PILLOW_FORMATS_PARSED):
            pillow_compared += 1
            width, height, pillow_format = pillow[path]
            if ours != (width, height):
                if pillow_decodes(path):
                    problems.append(f"{path}: Pillow decodes it, {width}x{height} "
                                    f"({pillow_format}), facegate {json.dumps(record)}")
                else:
                    pillow_header_only.append(f"{path} (Pillow {width}x{height}, facegate "
                                              f"{ours or record['error']['code']})")
        if path not in vips:
            if parsed and ours:
                facegate_only.append(path)
            continue
        width, height, loader = vips[path]
        # A file vips loads as JPEG, PNG or WebP is compared whatever facegate took it for.
        if not parsed and loader not in VIPS_LOADERS_OF_PARSED_FORMATS:
            key = f"{record.get('format') or 'unrecognized'} ({loader})"
            not_compared[key] = not_compared.get(key, 0) + 1
            continue
        compared += 1
        reason = VIPSHEADER_ONLY.get(os.path.basename(path))
        if reason is not None:
            header_only.append(path)
            if ours is not None:
                problems.append(f"{path}: listed in VIPSHEADER_ONLY, but facegate reads it now "
                                f"({ours}): remove it from the list")
            elif vips_decodes(path) or pillow_decodes(path):
                problems.append(f"{path}: listed in VIPSHEADER_ONLY, but a decoder decodes it: "
                                f"{reason}?")
            continue
        if ours != (width, height):
            confirmed = vips_dimensions(args.vipsheader, path)
            problems.append(f"{path}: vipsheader {width}x{height} ({loader}; -f width/height: "
                            f"{confirmed}), facegate {json.dumps(record)}")

    print(f"vips_agreement: {len(paths)} files, {len(vips)} read by vipsheader, {compared} "
          f"compared (read by vipsheader, a format facegate parses), {len(facegate_only)} parsed "
          f"by facegate only; {len(pillow)} opened by Pillow, {pillow_compared} compared")
    for key in sorted(not_compared):
        print(f"  not compared, read by vipsheader, facegate format {key}: {not_compared[key]}")
    for path in header_only:
        print(f"  vipsheader reads the header only: {path}: "
              f"{VIPSHEADER_ONLY[os.path.basename(path)]}")
    for line in pillow_header_only:
        print(f"  Pillow reads the header only, cannot decode it: {line}")
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
