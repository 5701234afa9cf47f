#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets, fuzz/corpus/<target>/.

Seeds are small (a few KB at most): tiny images made with ImageMagick's convert and libwebp's
cwebp, img2webp and webpmux from a 64-pixel photo of Debian's libjxl-testdata, a few files of
that package (PngSuite, a JPEG with EXIF and XMP), and header variants crafted here, each
following its format's specification (cited next to it). Files named crash-* are regression
inputs found by fuzzing: this script never writes or removes them.

Usage: fuzz/make_corpus.py [CORPUS_DIR]      (default: the corpus/ next to this script)
"""

import copy
import json
import pathlib
import struct
import subprocess
import sys
import tempfile
import zlib

TESTDATA = pathlib.Path("/usr/share/libjxl-testdata")
PHOTO = TESTDATA / "external/wesaturate/64px/Nikon-D3-14bit_srgb8.png"
PNGSUITE = TESTDATA / "external/pngsuite"
MAX_SEED_SIZE = 6000


def run(*command, stdin=None):
    return subprocess.run(command, input=stdin, check=True, capture_output=True).stdout


def convert(*args, source=PHOTO, size="16x12"):
    """The photo scaled to `size`, metadata stripped, written by ImageMagick (last arg: fmt:-)."""
    return run("convert", str(source), "-strip", "-resize", size + "!", "+repage", *args)


# --- JPEG (ITU T.81) -------------------------------------------------------------------------


def jpeg_segments(data):
    """[(marker, payload)] from SOI up to SOS, and the bytes from SOS on (T.81 B.1.1.4)."""
    assert data[:2] == b"\xff\xd8"
    segments, i = [], 2
    while data[i + 1] != 0xDA:
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        segments.append((data[i + 1], data[i + 4:i + 2 + length]))
        i += 2 + length
    return segments, data[i:]


def jpeg_join(segments, rest):
    out = b"\xff\xd8"
    for marker, payload in segments:
        out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return out + rest


def jpeg_edit_sof(data, marker=None, precision=None, height=None, width=None):
    """Changes the SOFn marker or its fields (T.81 B.2.2: P, Y, X)."""
    segments, rest = jpeg_segments(data)
    edited = []
    for m, payload in segments:
        if m in (0xC0, 0xC1, 0xC2):
            p, y, x = payload[0], *struct.unpack(">HH", payload[1:5])
            payload = struct.pack(">BHH", precision if precision is not None else p,
                                  height if height is not None else y,
                                  width if width is not None else x) + payload[5:]
            m = marker if marker is not None else m
        edited.append((m, payload))
    return jpeg_join(edited, rest)


def exif_orientation(orientation, big_endian):
    """An APP1 Exif payload whose IFD0 holds only Orientation (tag 0x0112, SHORT; TIFF 6.0 §2,
    Exif 2.3 §4.6.4)."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(e + "I", 0)
    return b"Exif\0\0" + tiff


def jpeg_insert(data, marker, payload, position=0):
    segments, rest = jpeg_segments(data)
    segments.insert(position, (marker, payload))
    return jpeg_join(segments, rest)


def jpeg_seeds():
    base = convert("-quality", "40", "jpeg:-")
    seeds = {
        "baseline-420.jpg": base,
        "baseline-444.jpg": convert("-quality", "40", "-sampling-factor", "1x1", "jpeg:-"),
        "progressive.jpg": convert("-quality", "40", "-interlace", "Plane", "jpeg:-"),
        "gray.jpg": convert("-quality", "40", "-colorspace", "Gray", "jpeg:-"),
        "cmyk-adobe.jpg": convert("-quality", "40", "-colorspace", "CMYK", "jpeg:-"),
        "restart.jpg": convert("-quality", "40", "-define", "jpeg:restart-interval=1", "jpeg:-"),
        "comment.jpg": convert("-quality", "40", "-comment", "facegate seed", "jpeg:-"),
        "odd-size-7x3.jpg": convert("-quality", "40", "jpeg:-", size="7x3"),
        "exif-xmp-1x1.jpg": (TESTDATA / "jxl/jpeg_reconstruction/1x1_exif_xmp.jpg").read_bytes(),
        # Header variants (T.81 B.1.1.3: SOF1 extended, SOF3 lossless, SOF9 arithmetic).
        "sof1-12bit.jpg": jpeg_edit_sof(base, marker=0xC1, precision=12),
        "sof3-lossless.jpg": jpeg_edit_sof(base, marker=0xC3),
        "sof9-arithmetic.jpg": jpeg_edit_sof(base, marker=0xC9),
        "largest-65535.jpg": jpeg_edit_sof(base, height=65535, width=65535),
        # Height 0: defined later by a DNL marker (T.81 B.2.2, B.2.5).
        "height-0-dnl.jpg": jpeg_edit_sof(base, height=0),
        "exif-orientation-6-le.jpg": jpeg_insert(base, 0xE1, exif_orientation(6, False), 1),
        "exif-orientation-8-be.jpg": jpeg_insert(base, 0xE1, exif_orientation(8, True), 1),
        # An EXIF thumbnail: a whole JPEG inside APP1, whose SOF is not the image's.
        "exif-thumbnail.jpg": jpeg_insert(
            base, 0xE1, exif_orientation(3, False) + convert("-quality", "10", "jpeg:-", size="4x3"), 1),
        # Fill bytes: any marker may be preceded by 0xFF (T.81 B.1.1.2).
        "fill-bytes.jpg": base[:2] + b"\xff\xff\xff" + base[2:],
        "header-only.jpg": base[:base.index(b"\xff\xda")],
    }
    sof = base.index(b"\xff\xc0")
    seeds["truncated-in-sof.jpg"] = base[:sof + 7]
    seeds["truncated-after-sof.jpg"] = base[:sof + 2 + struct.unpack(">H", base[sof + 2:sof + 4])[0]]
    return seeds


# --- PNG (ISO/IEC 15948, W3C PNG third edition) ------------------------------------------------


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_chunks(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        chunks.append((data[i + 4:i + 8], data[i + 8:i + 8 + length]))
        i += 12 + length
    return chunks


def png_join(chunks):
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(k, p) for k, p in chunks)


def png_with_ihdr(data, width=None, height=None, length=13):
    chunks = png_chunks(data)
    kind, payload = chunks[0]
    w, h = struct.unpack(">II", payload[:8])
    payload = struct.pack(">II", width if width is not None else w, height if height is not None else h) + payload[8:]
    chunks[0] = (kind, (payload + b"\0" * 13)[:length])
    return png_join(chunks)


def png_insert(data, kind, payload, position):
    chunks = png_chunks(data)
    chunks.insert(position, (kind, payload))
    return png_join(chunks)


def apng(first, second):
    """Two frames (APNG specification: acTL after IHDR; fcTL before each frame's data; the second
    frame's data in fdAT chunks; one sequence number across fcTL and fdAT)."""
    chunks = png_chunks(first)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    frame_control = lambda sequence: struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, 10, 0, 0)
    idat = [p for k, p in png_chunks(second) if k == b"IDAT"]
    out = [chunks[0], (b"acTL", struct.pack(">II", 2, 0)), (b"fcTL", frame_control(0))]
    out += [c for c in chunks[1:] if c[0] != b"IEND"]
    out += [(b"fcTL", frame_control(1))]
    out += [(b"fdAT", struct.pack(">I", 2 + i) + data) for i, data in enumerate(idat)]
    return png_join(out + [(b"IEND", b"")])


def png_seeds():
    base = convert("png24:-")
    seeds = {
        "rgb.png": base,
        "gray-1bit.png": convert("-colorspace", "Gray", "-depth", "1", "png:-"),
        "palette-trns.png": convert("-transparent", "white", "-colors", "8", "png8:-"),
        "rgba-16bit.png": convert("-alpha", "on", "-depth", "16", "png64:-"),
        "interlaced.png": convert("-interlace", "PNG", "png:-"),
        "apng.png": apng(convert("png24:-", size="8x6"), convert("-negate", "png24:-", size="8x6")),
        # Apple's CgBI chunk comes before IHDR in iOS-optimized PNGs (not in the standard).
        "cgbi.png": png_insert(base, b"CgBI", b"\x50\x00\x20\x02", 0),
        "largest-2p24.png": png_with_ihdr(base, width=1 << 24, height=1 << 24),
        "too-large.png": png_with_ihdr(base, width=(1 << 24) + 1),
        "zero-width.png": png_with_ihdr(base, width=0),
        "ihdr-length-12.png": png_with_ihdr(base, length=12),
        # acTL must come before the first IDAT (APNG specification, "acTL").
        "actl-after-idat.png": png_insert(base, b"acTL", struct.pack(">II", 2, 0), -1),
        "header-only.png": base[:33],
    }
    for path in sorted(PNGSUITE.glob("*.png")):
        seeds["pngsuite-" + path.name] = path.read_bytes()
    return seeds


# --- BMP (Microsoft BITMAPFILEHEADER, BITMAPCOREHEADER, BITMAPINFOHEADER, V4, V5) -----------


def bmp_variant(base, info_size, width=None, height=None):
    """`base` (a 40-byte-header BMP) with its width or height changed, or its info header grown
    to `info_size` bytes (zeros: the V4/V5 and OS/2 2.x fields after the first 40)."""
    file_header, info, pixels = base[:14], base[14:54], base[54:]
    w, h = struct.unpack("<ii", info[4:12])
    info = struct.pack("<Iii", info_size, width if width is not None else w,
                       height if height is not None else h) + info[12:]
    info = (info + b"\0" * info_size)[:info_size]
    offset = 14 + info_size
    file_header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return file_header + info + pixels


def bmp_seeds():
    base = convert("-type", "TrueColor", "bmp3:-", size="8x6")
    return {
        "v3-24bit.bmp": base,
        "v2-core-12.bmp": convert("-type", "TrueColor", "bmp2:-", size="8x6"),
        "v5-rgba.bmp": convert("-alpha", "on", "bmp:-", size="8x6"),
        "palette-1bit.bmp": convert("-monochrome", "bmp3:-", size="8x6"),
        "rle8.bmp": convert("-colors", "16", "-compress", "RLE", "bmp3:-", size="8x6"),
        "bitfields-16bit.bmp": convert("-define", "bmp:subtype=RGB565", "bmp:-", size="8x6"),
        # A negative height: rows stored top-down (BITMAPINFOHEADER, biHeight).
        "top-down.bmp": bmp_variant(base, 40, height=-6),
        "negative-width.bmp": bmp_variant(base, 40, width=-8),
        "v3-alpha-56.bmp": bmp_variant(base, 56),
        "os2-v2-64.bmp": bmp_variant(base, 64),
        "v4-108.bmp": bmp_variant(base, 108),
        "header-size-7.bmp": bmp_variant(base, 7),
        "largest-2p24.bmp": bmp_variant(base, 40, width=1 << 24, height=-(1 << 24)),
        "header-only.bmp": base[:54],
    }


# --- WebP (RFC 9649) -------------------------------------------------------------------------


def riff(chunks):
    body = b"WEBP" + chunks
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_chunks(data):
    chunks, i = [], 12
    while i + 8 <= len(data):
        kind, length = data[i:i + 4], struct.unpack("<I", data[i + 4:i + 8])[0]
        chunks.append((kind, data[i + 8:i + 8 + length]))
        i += 8 + length + (length & 1)
    return chunks


def webp_join(chunks):
    out = b""
    for kind, payload in chunks:
        out += kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    return riff(out)


def webp_tool(tool, *args, source_args=(), size="16x12", suffix=".webp"):
    with tempfile.TemporaryDirectory() as tmp:
        png = pathlib.Path(tmp) / "in.png"
        png.write_bytes(convert(*source_args, "png:-", size=size))
        out = pathlib.Path(tmp) / ("out" + suffix)
        run(tool, *[a.replace("IN", str(png)).replace("OUT", str(out)) for a in args])
        return out.read_bytes()


def webp_animated():
    with tempfile.TemporaryDirectory() as tmp:
        frames = []
        for i, extra in enumerate(([], ["-negate"])):
            frame = pathlib.Path(tmp) / f"{i}.png"
            frame.write_bytes(convert(*extra, "png:-", size="8x6"))
            frames.append(str(frame))
        out = pathlib.Path(tmp) / "out.webp"
        run("img2webp", "-lossy", "-q", "10", *frames, "-o", str(out))
        return out.read_bytes()


def webp_set_vp8x_canvas(data, width, height):
    """VP8X canvas width and height minus one, 24 bits each (RFC 9649 §2.7)."""
    chunks = webp_chunks(data)
    kind, payload = chunks[0]
    assert kind == b"VP8X"
    chunks[0] = (kind, payload[:4] + struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3])
    return webp_join(chunks)


def webp_seeds():
    lossy = webp_tool("cwebp", "-q", "10", "IN", "-o", "OUT")
    lossless = webp_tool("cwebp", "-lossless", "-q", "0", "IN", "-o", "OUT")
    alpha = webp_tool("cwebp", "-q", "10", "-alpha_q", "10", "IN", "-o", "OUT",
                      source_args=("-alpha", "on", "-channel", "A", "-evaluate", "set", "50%", "+channel"))
    with tempfile.TemporaryDirectory() as tmp:
        plain = pathlib.Path(tmp) / "plain.webp"
        plain.write_bytes(lossy)
        exif = pathlib.Path(tmp) / "exif.bin"
        exif.write_bytes(exif_orientation(6, False)[6:])
        out = pathlib.Path(tmp) / "exif.webp"
        run("webpmux", "-set", "exif", str(exif), str(plain), "-o", str(out))
        with_exif = out.read_bytes()
    lossy_chunks = webp_chunks(lossy)
    vp8 = lossy_chunks[0][1]
    # VP8 key frame header: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height
    # each with a 2-bit scale above them (RFC 6386 §9.1).
    scaled = vp8[:6] + bytes([vp8[6], vp8[7] | 0x40, vp8[8], vp8[9] | 0xC0]) + vp8[10:]
    vp8l = webp_chunks(lossless)[0][1]
    # VP8L: signature 0x2f, 14-bit width-1, 14-bit height-1, alpha bit, 3-bit version (must be 0).
    vp8l_version_1 = vp8l[:4] + bytes([vp8l[4] | 0x20]) + vp8l[5:]
    return {
        "lossy.webp": lossy,
        "lossless.webp": lossless,
        "alpha-vp8x.webp": alpha,
        "animated.webp": webp_animated(),
        "exif-orientation-6.webp": with_exif,
        "odd-size-7x3.webp": webp_tool("cwebp", "-q", "10", "IN", "-o", "OUT", size="7x3"),
        "vp8-scale-bits.webp": webp_join([(b"VP8 ", scaled)]),
        "vp8l-version-1.webp": webp_join([(b"VP8L", vp8l_version_1)]),
        "vp8x-largest-2p24.webp": webp_set_vp8x_canvas(alpha, 1 << 24, 1 << 24),
        "vp8x-canvas-mismatch.webp": webp_set_vp8x_canvas(alpha, 17, 12),
        "riff-size-odd.webp": lossy[:4] + struct.pack("<I", struct.unpack("<I", lossy[4:8])[0] + 1) + lossy[8:],
        "unknown-chunk-first.webp": webp_join([(b"XYZW", b"abc")] + lossy_chunks),
        "header-only.webp": lossy[:30],
    }


# --- Whole probe: every magic the sniffer knows, and near misses -----------------------------


def probe_seeds(jpeg, png, bmp, webp):
    ftyp = lambda major, compatible: struct.pack(">I", 16 + 4 * len(compatible)) + b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
    return {
        "jpeg.jpg": jpeg["baseline-420.jpg"],
        "png.png": png["rgb.png"],
        "bmp.bmp": bmp["v3-24bit.bmp"],
        "webp.webp": webp["alpha-vp8x.webp"],
        "gif.gif": convert("gif:-", size="4x3"),
        "tiff-le.tif": convert("-define", "tiff:endian=lsb", "tiff:-", size="4x3"),
        "tiff-be.tif": convert("-define", "tiff:endian=msb", "tiff:-", size="4x3")[:512],
        "bigtiff.tif": b"II\x2b\x00\x08\x00\x00\x00" + b"\0" * 8,
        # ISO BMFF ftyp brands: HEIF (ISO/IEC 23008-12), AVIF (AV1 Image File Format).
        "heic.heic": ftyp(b"heic", [b"mif1", b"heic"]),
        "avif.avif": ftyp(b"avif", [b"mif1", b"avif"]),
        "mif1-avif.avif": ftyp(b"mif1", [b"mif1", b"avif"]),
        "ftyp-unknown-brand.mp4": ftyp(b"isom", [b"isom", b"mp41"]),
        "ftyp-size-256.heic": struct.pack(">I", 256) + b"ftypheic\0\0\0\0mif1heic" + b"\0" * 232,
        "jxl-codestream.jxl": (TESTDATA / "jxl/splines.jxl").read_bytes()[:256],
        "jxl-container.jxl": b"\0\0\0\x0cJXL \r\n\x87\n" + b"\0\0\0\x14ftypjxl \0\0\0\0jxl ",
        "psd.psd": b"8BPS\0\x01" + b"\0" * 6 + b"\0\x03\0\0\0\x10\0\0\0\x10\0\x08\0\x03",
        "ico.ico": convert("ico:-", size="4x3"),
        "cur.cur": b"\0\0\x02\0\x01\0" + b"\x04\x03\0\0\x01\0\x01\0" + b"\0" * 8,
        "svg.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3"/>\n',
        "svg-bom-xml.svg": b"\xef\xbb\xbf \n<?xml version=\"1.0\"?>\n<svg/>\n",
        "svg-doctype.svg": b"<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\"><svg/>",
        "riff-wave.wav": b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0",
        "text.txt": b"not an image\n",
        "empty": b"",
        "two-bytes-ffd8": b"\xff\xd8",
    }


# --- Rules files (schema 1, lib/rules/models.json) ------------------------------------------


def rules_seeds():
    builtin_text = (pathlib.Path(__file__).parent.parent / "lib/rules/models.json").read_text()
    builtin = json.loads(builtin_text)
    models = builtin["models"]

    def rules(*models_, **root):
        return json.dumps({"schema": 1, "models": list(models_), **root}, indent=1).encode()

    def edited(index, edit):
        model = copy.deepcopy(models[index])
        edit(model)
        return rules(model)

    seeds = {"models.json": builtin_text.encode(), "no-models.json": rules()}
    for i, model in enumerate(models):
        seeds[f"model-{i}-{model['name']}.json"] = rules(model)
    seeds.update({
        "schema-2.json": json.dumps({"schema": 2, "models": []}).encode(),
        "unknown-root-key.json": rules(extra=1),
        "unknown-model-key.json": edited(0, lambda m: m.update(extra=True)),
        "duplicate-key.json": b'{"schema": 1, "schema": 1, "models": []}',
        "duplicate-model.json": rules(models[0], models[0]),
        "negative-bound.json": edited(0, lambda m: m["pixels"].update(min_width=-5)),
        "float-bound.json": edited(0, lambda m: m["pixels"].update(max_width=7000.0)),
        "bound-2p32.json": edited(0, lambda m: m["pixels"].update(max_width=4294967296)),
        "bound-2p64.json": edited(0, lambda m: m["pixels"].update(max_width=18446744073709551616)),
        "bound-max-u32.json": edited(1, lambda m: m["pixels"].update(max_long_side=4294967295)),
        "min-above-max.json": edited(0, lambda m: m["pixels"].update(min_width=7001)),
        "aspect-short-0.json": edited(2, lambda m: m["aspect"].update(short=0)),
        "aspect-long-below-short.json": edited(2, lambda m: m["aspect"].update(long=1, short=2)),
        "aspect-huge.json": edited(2, lambda m: m["aspect"].update(long=4294967295, short=4294967294)),
        "file-size-at-or-below-ambiguous-0.json": edited(
            2, lambda m: m["file_size"].update(bound="<=", ambiguous_from_bytes=0)),
        "file-size-ambiguous-above-max.json": edited(
            2, lambda m: m["file_size"].update(ambiguous_from_bytes=20000000)),
        "file-size-max-i64.json": edited(2, lambda m: m["file_size"].update(max_bytes=9223372036854775807)),
        "bad-bound.json": edited(2, lambda m: m["file_size"].update(bound="<<")),
        "empty-per-image.json": edited(0, lambda m: m["price"].update(per_image=[])),
        "price-missing.json": edited(0, lambda m: m.pop("price")),
        "lifecycle-not-a-day.json": edited(1, lambda m: m["lifecycle"].update(retired="2026-02-29")),
        "lifecycle-leap-day.json": edited(1, lambda m: m["lifecycle"].update(retired="2024-02-29")),
        "lifecycle-no-reference.json": edited(1, lambda m: m["lifecycle"].pop("reference")),
        "regions-unknown.json": edited(0, lambda m: m["regions"].update(offered=["cn-beijing", "eu-central-1"])),
        "regions-empty.json": edited(1, lambda m: m["regions"].update(offered=[])),
        "regions-inferred-all.json": edited(2, lambda m: m.update(regions={
            "offered": ["cn-beijing", "ap-southeast-1", "us", "cn-hongkong"], "source": "inferred"})),
        "urls-oss-twice.json": edited(1, lambda m: m["urls"].update(schemes=["http", "https", "oss"])),
        "urls-inferred-note-alone.json": edited(0, lambda m: m["urls"].update(inferred_note="n")),
        "default-not-allowed.json": edited(1, lambda m: m["parameters"][0].update(default="9:16")),
        "unknown-format.json": edited(0, lambda m: m["formats"].update(accepted=["jpeg", "tga"])),
        "inferred-everything.json": edited(4, lambda m: [v.update(source="inferred") for v in m.values() if isinstance(v, dict)]),
        "name-with-nul.json": edited(0, lambda m: m.update(name="wan\u0000")),
        "name-not-utf8.json": rules(dict(models[0], name="X")).replace(b'"X"', b'"\xff\xfe"'),
        "deep-nesting.json": b"[" * 2000 + b"]" * 2000,
        "truncated.json": builtin_text.encode()[:700],
        "not-an-object.json": b"[1, 2, 3]",
        "blank.json": b" \n\t ",
    })
    return seeds


# --- Face-detect answers (docs/service.md#responses, after the vendor's samples) ------------


def detect_seeds():
    def answer(output, image_count=1, **extra):
        body = {"output": output, "usage": {"image_count": image_count},
                "request_id": "c56f62df-724e-9c19-96bd-308627cf5262", **extra}
        return json.dumps(body).encode()

    def refusal(code, message):
        return json.dumps({"code": code, "message": message,
                           "request_id": "fb53c4ec-1c12-4fc4-a580-000000"}).encode()

    return {
        # The vendor's samples as published: a trailing comma, '#' comments, single quotes and
        # a missing comma are not JSON.
        "doc-wan-fail-trailing-comma.json":
            b'{\n    "output":{\n        "check_pass": false,\n        "code": "",\n        "message": "",\n    },\n'
            b'    "usage":{\n        "image_count":1\n    },\n    "request_id":"c56f62df-724e-9c19-96bd-xxxxxx"\n}\n',
        "doc-emo-pass-comments.json":
            b'{\n"output":{\n"check_pass": true,\n"face_bbox":[302,286,610,593], # face bbox\n'
            b'"ext_bbox":[71,9,840,778] # dynamic area bbox\n},\n"usage":{\n"image_count":1\n},\n'
            b'"request_id":"c56f62df-724e-9c19-96bd-xxxxxx"\n}\n',
        "doc-liveportrait-pass-quotes.json":
            b'{\n  "output":{\n    "pass": true\n    "message": \'success\'\n  },\n  "usage":{\n'
            b'    "image_count":1\n  },\n  "request_id":"c56f62df-724e-9c19-96bd-308627cf5262"\n}\n',
        "wan-pass.json": answer({"check_pass": True, "humanoid": True}),
        "wan-fail.json": answer({"check_pass": False, "code": "InvalidFile.NoHuman", "message": "no human"}),
        "emo-pass.json": answer({"check_pass": True, "face_bbox": [302, 286, 610, 593],
                                 "ext_bbox": [71, 9, 840, 778]}),
        "emo-fail.json": answer({"check_pass": False, "code": "InvalidFile.FullFace", "message": ""}),
        "liveportrait-pass.json": answer({"pass": True, "message": "success"}),
        "liveportrait-fail.json": answer({"pass": False, "message": "No human face detected."}),
        "emoji-pass.json": answer({"bbox_face": [1, 2, 3, 4], "ext_bbox_face": [0, 0, 10, 10]}),
        "emoji-pass-overview-names.json": answer({"face_bbox": [1, 2, 3, 4], "ext_bbox": [0, 0, 10, 10]}),
        "emoji-fail.json": answer({"code": "InvalidFile.FacePose", "message": "face pose"}),
        "aa-pass.json": answer({"check_pass": True, "bodystyle": "full"}),
        "aa-fail.json": answer({"check_pass": False, "reason": "no full body"}),
        "refused-api-key.json": refusal("InvalidApiKey", "Invalid API-key provided."),
        "refused-throttling.json": refusal("Throttling.RateQuota", "Requests rate limit exceeded"),
        "refused-format.json": refusal("InvalidParameter.UnsupportedFileFormat", "Input files format not supported."),
        "no-usage.json": json.dumps({"output": {"check_pass": True, "humanoid": True}}).encode(),
        "image-count-negative.json": answer({"check_pass": True}, image_count=-1),
        "image-count-2p32.json": answer({"check_pass": True}, image_count=4294967296),
        "image-count-fraction.json": answer({"check_pass": True}, image_count=1.5),
        "check-pass-string.json": answer({"check_pass": "true"}),
        "check-pass-null.json": answer({"check_pass": None, "code": "X"}),
        "output-null.json": answer(None),
        "output-array.json": answer([True]),
        "bbox-three.json": answer({"check_pass": True, "face_bbox": [1, 2, 3]}),
        "bbox-floats.json": answer({"check_pass": True, "face_bbox": [1.5, 2, 3, 4]}),
        "bbox-i64-max.json": answer({"check_pass": True, "face_bbox": [9223372036854775807, -9223372036854775808, 0, 18446744073709551615]}),
        "duplicate-check-pass.json": b'{"output": {"check_pass": false, "check_pass": true}, "usage": {"image_count": 1}}',
        "request-id-number.json": json.dumps({"output": {"check_pass": True}, "request_id": 7}).encode(),
        "not-utf8.json": b'{"code": "X", "message": "\xff\xfe"}',
        "byte-order-mark.json": b"\xef\xbb\xbf" + answer({"check_pass": True}),
        "empty": b"",
        "null.json": b"null",
        "array.json": b"[]",
        "object.json": b"{}",
        "deep.json": b'{"output":' * 500 + b"1" + b"}" * 500,
        "html-error.html": b"<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    }


def main():
    corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "corpus"
    jpeg, png, bmp, webp = jpeg_seeds(), png_seeds(), bmp_seeds(), webp_seeds()
    targets = {"jpeg": jpeg, "png": png, "bmp": bmp, "webp": webp,
               "probe": probe_seeds(jpeg, png, bmp, webp), "rules": rules_seeds(),
               "detect": detect_seeds()}
    for target, seeds in targets.items():
        directory = corpus / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            assert not name.startswith("crash-")
            assert len(data) <= MAX_SEED_SIZE, (target, name, len(data))
            (directory / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
