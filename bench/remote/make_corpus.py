#!/usr/bin/env python3
"""Builds the conversion corpus that range_sim measures next to libjxl-testdata.

usage: make_corpus.py OUTPUT_DIR

From a sample of libjxl-testdata images it writes, with ImageMagick `convert` and `cwebp`:
  webp lossy and lossless (ICC and EXIF kept), BMP, baseline and progressive JPEG (ICC kept),
  and "phone-style" JPEGs: an APP1 EXIF block (orientation, camera strings, a JPEG thumbnail
  of 10-60 KB) spliced in after SOI, as cameras and phones write them.
"""
import os
import struct
import subprocess
import sys

CORPUS = "/usr/share/libjxl-testdata"
SOURCES = [
    "external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png",
    "external/wesaturate/500px/tmshre_riaphotographs_alpha.png",
    "external/wesaturate/500px/u76c0g_bliznaca_srgb8.png",
    "external/wide-gamut-tests/P3-sRGB-color-ring.png",
    "external/wide-gamut-tests/R2020-sRGB-blue.png",
    "external/raw.pixls/Nikon-D300-12bit_2020_g1_dt.png",
    "external/raw.pixls/Sony-DSC-RX1RM2-14bit_709_v4_krita.png",
    "external/wesaturate/64px/vgqcws_vin_709_g1.png",
    "external/pngsuite/exif2c08.png",
    "jxl/flower/flower_cropped.jpg",
    "jxl/flower/flower.png.im_q85_420.jpg",
    "jxl/hdr_room.png",
]
THUMBNAIL_SIZES = ["160x120", "320x240", "480x360"]


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ifd(entries, next_ifd, base):
    """A little-endian TIFF IFD at offset `base`: entries are (tag, type, count, value bytes)."""
    out = struct.pack("<H", len(entries))
    data = b""
    data_offset = base + 2 + 12 * len(entries) + 4
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            out += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            out += struct.pack("<HHII", tag, kind, count, data_offset + len(data))
            data += value + (b"\0" if len(value) % 2 else b"")
    return out + struct.pack("<I", next_ifd) + data


def exif_app1(orientation, thumbnail):
    """APP1 "Exif\\0\\0" + TIFF (Exif 2.3 4.5.4): IFD0 with camera strings, IFD1 thumbnail."""
    ascii_entry = lambda tag, text: (tag, 2, len(text) + 1, text.encode() + b"\0")
    ifd0_entries = [
        ascii_entry(0x010F, "PhoneMaker"),
        ascii_entry(0x0110, "Phone Model 12 Pro"),
        (0x0112, 3, 1, struct.pack("<H", orientation)),
        ascii_entry(0x0131, "Camera firmware 1.2.3"),
        ascii_entry(0x0132, "2024:05:01 12:00:00"),
    ]
    ifd0_size = len(ifd(ifd0_entries, 0, 8))
    ifd1_offset = 8 + ifd0_size
    ifd1_entries = [
        (0x0103, 3, 1, struct.pack("<H", 6)),
        (0x0201, 4, 1, struct.pack("<I", 0)),  # patched below: thumbnail offset
        (0x0202, 4, 1, struct.pack("<I", len(thumbnail))),
    ]
    ifd1_size = len(ifd(ifd1_entries, 0, ifd1_offset))
    thumbnail_offset = ifd1_offset + ifd1_size
    ifd1_entries[1] = (0x0201, 4, 1, struct.pack("<I", thumbnail_offset))
    tiff = b"II*\0" + struct.pack("<I", 8)
    tiff += ifd(ifd0_entries, ifd1_offset, 8) + ifd(ifd1_entries, 0, ifd1_offset) + thumbnail
    payload = b"Exif\0\0" + tiff
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("EXIF block too large for one APP1 segment")
    return b"\xFF\xE1" + struct.pack(">H", len(payload) + 2) + payload


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for index, relative in enumerate(SOURCES):
        source = os.path.join(CORPUS, relative)
        stem = os.path.join(out, "%02d_%s" % (index, os.path.splitext(os.path.basename(relative))[0]))
        png = stem + ".src.png"
        run("convert", source, png)
        run("cwebp", "-quiet", "-metadata", "all", "-q", "80", png, "-o", stem + ".lossy.webp")
        run("cwebp", "-quiet", "-metadata", "all", "-lossless", png, "-o", stem + ".lossless.webp")
        run("convert", png, "BMP3:" + stem + ".v3.bmp")
        run("convert", png, stem + ".v5.bmp")
        run("convert", source, "-quality", "85", stem + ".baseline.jpg")
        run("convert", source, "-quality", "85", "-interlace", "JPEG", stem + ".progressive.jpg")
        for size in THUMBNAIL_SIZES:
            thumb = stem + ".thumb.jpg"
            run("convert", source, "-strip", "-resize", size + "!", "-quality", "90", thumb)
            with open(thumb, "rb") as f:
                thumbnail = f.read()
            os.remove(thumb)
            with open(stem + ".baseline.jpg", "rb") as f:
                jpeg = f.read()
            phone = jpeg[:2] + exif_app1(6, thumbnail) + jpeg[2:]
            with open("%s.phone-%s.jpg" % (stem, size), "wb") as f:
                f.write(phone)
        os.remove(png)


if __name__ == "__main__":
    main()
