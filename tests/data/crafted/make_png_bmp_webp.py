#!/usr/bin/python3
"""Writes the crafted PNG, BMP and WebP edge cases and their manifest, png_bmp_webp.tsv.

Run from anywhere: `/usr/bin/python3 tests/data/crafted/make_png_bmp_webp.py`. The output is
deterministic (no time stamps, no randomness); the files are checked in. Each case is one
edge case of the header parsers in lib/formats/{png,bmp,webp}.cc; the manifest states what
facegate::probe_memory must report for it:

    file  format  width  height  orientation  animated  error  lenient

where animated is 0 or 1, error is '-' or an ErrorCode name and lenient is 1 when the probe
reads the file with a leniency note (ImageInfo::leniency: a departure from the specification
that a mainstream decoder decodes; which one, the case's comment says). For error cases width
and height are what the probe had read before the error (0 when it had not read them).
"""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# An expectation is (format, width, height, orientation, error), plus ANIMATED when the probe
# must report an animation and LENIENT when it notes a leniency.
ANIMATED = "animated"
LENIENT = "lenient"

# --- PNG (ISO/IEC 15948; W3C PNG third edition; APNG) ------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind, data, length=None):
    """length + type + data + CRC (PNG spec 5.3); `length` overrides the stored length."""
    if length is None:
        length = len(data)
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", length) + kind + data + struct.pack(">I", crc)


def ihdr(width, height, bit_depth=8, colour_type=0, compression=0, interlace=0, extra=b""):
    """IHDR (PNG spec 11.2.2): filter method 0; `extra` bytes make it longer than 13."""
    body = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, compression, 0, interlace)
    return png_chunk(b"IHDR", body + extra)


def idat_grey(width, height):
    """Real 8-bit greyscale image data: each row is filter byte 0 then mid-grey pixels."""
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return png_chunk(b"IDAT", zlib.compress(rows, 9))


def idat_grey_adam7_3x2():
    """The same 3x2 image interlaced (PNG spec 8.2): Adam7 passes 1, 4 and 6 hold one pixel of
    row 0 each, pass 7 the whole of row 1; passes 2, 3 and 5 are empty for this size."""
    passes = b"\x00\x80" * 3 + b"\x00" + b"\x80" * 3
    return png_chunk(b"IDAT", zlib.compress(passes, 9))


IEND = png_chunk(b"IEND", b"")


def png(*chunks):
    return PNG_SIGNATURE + b"".join(chunks)


def actl(frames):
    """APNG acTL: num_frames, num_plays."""
    return png_chunk(b"acTL", struct.pack(">II", frames, 0))


def fctl(sequence, width, height):
    """APNG fcTL: sequence, width, height, x, y, delay num/den, dispose, blend."""
    return png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, 1, 10, 0, 0))


def png_cases():
    grey_3x2 = idat_grey(3, 2)
    minimal = png(ihdr(3, 2), grey_3x2, IEND)
    text = png_chunk(b"tEXt", b"Comment\x00" + b"facegate skips this chunk body. " * 200)
    return [
        ("png-minimal.png", minimal, ("png", 3, 2, 0, "-")),
        # Apple's iOS-optimized variant: a CgBI chunk (4 data bytes) before IHDR.
        ("png-cgbi.png", png(png_chunk(b"CgBI", b"\x50\x00\x20\x06"), ihdr(3, 2, 8, 6), grey_3x2, IEND),
         ("png", 3, 2, 0, "-")),
        ("png-zero-width.png", png(ihdr(0, 2), grey_3x2, IEND), ("png", 0, 0, 0, "malformed")),
        ("png-width-2-31.png", png(ihdr(2**31, 2), grey_3x2, IEND), ("png", 0, 0, 0, "malformed")),
        ("png-width-2-31-minus-1.png", png(ihdr(2**31 - 1, 2), grey_3x2, IEND),
         ("png", 2**31 - 1, 2, 0, "-")),
        ("png-actl-before-idat.png",
         png(ihdr(3, 2), actl(1), fctl(0, 3, 2), grey_3x2, IEND), ("png", 3, 2, 0, "-", ANIMATED)),
        ("png-actl-after-idat.png", png(ihdr(3, 2), grey_3x2, actl(1), IEND), ("png", 3, 2, 0, "-")),
        # A chunk body larger than the driver's largest window (4096) is skipped, not read.
        ("png-big-text.png", png(ihdr(3, 2), text, grey_3x2, IEND), ("png", 3, 2, 0, "-")),
        # Pillow (PngImagePlugin) decodes it: it reads every chunk up to IDAT, IHDR anywhere.
        ("png-ihdr-not-first.png", png(png_chunk(b"tEXt", b"Title\x00x"), ihdr(3, 2), grey_3x2, IEND),
         ("png", 3, 2, 0, "-", LENIENT)),
        # Pillow cannot decode it either. The chunk before IDAT was skipped with a note.
        ("png-idat-before-ihdr.png", png(png_chunk(b"tEXt", b"Title\x00x"), grey_3x2, ihdr(3, 2), IEND),
         ("png", 0, 0, 0, "malformed", LENIENT)),
        ("png-ihdr-length-12.png",
         png(png_chunk(b"IHDR", struct.pack(">IIBBBB", 3, 2, 8, 0, 0, 0)), grey_3x2, IEND),
         ("png", 0, 0, 0, "malformed")),
        # Pillow decodes these three: it reads the first 13 bytes of IHDR, ignores the compression
        # method byte and takes any interlace method but 0 for Adam7; libpng refuses them.
        ("png-ihdr-length-14.png", png(ihdr(3, 2, extra=b"\x00"), grey_3x2, IEND),
         ("png", 3, 2, 0, "-", LENIENT)),
        ("png-compression-method-1.png", png(ihdr(3, 2, compression=1), grey_3x2, IEND),
         ("png", 3, 2, 0, "-", LENIENT)),
        ("png-interlace-method-2.png", png(ihdr(3, 2, interlace=2), idat_grey_adam7_3x2(), IEND),
         ("png", 3, 2, 0, "-", LENIENT)),
        ("png-bad-bit-depth.png", png(ihdr(3, 2, 3, 0), grey_3x2, IEND), ("png", 0, 0, 0, "malformed")),
        ("png-truncated-in-ihdr.png", minimal[:8 + 8 + 6], ("png", 0, 0, 0, "truncated")),
        # Header complete, input ends before IDAT: dimensions known, still truncated.
        ("png-truncated-before-idat.png", png(ihdr(3, 2)), ("png", 3, 2, 0, "truncated")),
        ("png-chunk-length-2-31.png",
         png(ihdr(3, 2), png_chunk(b"tEXt", b"a\x00b", length=2**31), grey_3x2, IEND),
         ("png", 3, 2, 0, "malformed")),
        # A digit in a chunk type: Pillow decodes it (its chunk types match \w\w\w\w), libpng not.
        ("png-chunk-type-digit.png", png(ihdr(3, 2), png_chunk(b"t3Xt", b"a\x00b"), grey_3x2, IEND),
         ("png", 3, 2, 0, "-", LENIENT)),
        ("png-bad-chunk-type.png", png(ihdr(3, 2), png_chunk(b"t-Xt", b"a\x00b"), grey_3x2, IEND),
         ("png", 3, 2, 0, "malformed")),
    ]


# --- BMP (Microsoft BITMAPFILEHEADER / DIB headers; OS/2 2.x) -----------------------------


def bmp(dib_header, pixels):
    """BITMAPFILEHEADER (14 bytes: "BM", size, reserved, pixel offset) + DIB header + pixels."""
    offset = 14 + len(dib_header)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib_header + pixels


def info_header(size, width, height, bits=24):
    """The BITMAPINFOHEADER fields (40 bytes) padded with zeros to `size` (masks, colour space),
    or cut to `size` when it is smaller."""
    fields = struct.pack("<IiiHHIIiiII", size, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return (fields + b"\x00" * max(0, size - len(fields)))[:size]


def core_header(width, height):
    """BITMAPCOREHEADER: size 12, unsigned 16-bit width and height, planes, bit count."""
    return struct.pack("<IHHHH", 12, width, height, 1, 24)


def rows_24(width, height):
    """24-bit rows padded to 4 bytes."""
    stride = (width * 3 + 3) // 4 * 4
    return b"\x40" * stride * height


def bmp_cases():
    pixels = rows_24(2, 3)
    cases = [("bmp-core-12.bmp", bmp(core_header(2, 3), pixels), ("bmp", 2, 3, 0, "-"))]
    for size, name in ((40, "info-40"), (52, "v2-52"), (56, "v3-56"), (64, "os2-64"), (108, "v4-108"),
                       (124, "v5-124")):
        cases.append((f"bmp-{name}.bmp", bmp(info_header(size, 2, 3), pixels), ("bmp", 2, 3, 0, "-")))
    cases += [
        ("bmp-core-max.bmp", bmp(core_header(65535, 1), b""), ("bmp", 65535, 1, 0, "-")),
        ("bmp-top-down.bmp", bmp(info_header(40, 2, -3), pixels), ("bmp", 2, 3, 0, "-")),
        ("bmp-height-int-min.bmp", bmp(info_header(40, 2, -2**31), pixels), ("bmp", 0, 0, 0, "malformed")),
        ("bmp-zero-width.bmp", bmp(info_header(40, 0, 3), pixels), ("bmp", 0, 0, 0, "malformed")),
        ("bmp-core-zero-height.bmp", bmp(core_header(2, 0), pixels), ("bmp", 0, 0, 0, "malformed")),
        ("bmp-negative-width.bmp", bmp(info_header(40, -2, 3), pixels), ("bmp", 0, 0, 0, "malformed")),
        # OS/2 2.x allows its header's first 16 bytes alone, the other fields 0. ImageMagick reads
        # the bytes after it as those fields: it decodes this file, whose pixels are 0.
        ("bmp-os2-16.bmp", bmp(info_header(16, 2, 3), bytes(len(pixels))), ("bmp", 2, 3, 0, "-")),
        # A size of no BMP version: ImageMagick reads it as a BITMAPINFOHEADER and decodes it.
        ("bmp-dib-size-20.bmp", bmp(info_header(20, 2, 3), bytes(len(pixels))),
         ("bmp", 2, 3, 0, "-", LENIENT)),
        ("bmp-dib-size-100.bmp", bmp(info_header(100, 2, 3), pixels),
         ("bmp", 2, 3, 0, "-", LENIENT)),
        # Above 124 ImageMagick refuses the header ("improper image header"), as does everyone.
        ("bmp-unknown-dib-size.bmp", bmp(info_header(125, 2, 3), pixels),
         ("bmp", 0, 0, 0, "malformed")),
        ("bmp-truncated.bmp", bmp(info_header(40, 2, 3), pixels)[:14 + 4 + 6], ("bmp", 0, 0, 0, "truncated")),
    ]
    return cases


# --- WebP (RFC 9649 container and lossless; RFC 6386 lossy) ------------------------------


def riff_chunk(fourcc, payload, size=None):
    """fourcc + little-endian payload size + payload + pad byte to even length (RFC 9649 2.3)."""
    if size is None:
        size = len(payload)
    return fourcc + struct.pack("<I", size) + payload + (b"\x00" if len(payload) % 2 else b"")


def webp(*chunks):
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8_payload(width, height, start_code=b"\x9d\x01\x2a", key_frame=True):
    """VP8 key frame header (RFC 6386 9.1, 19.1): frame tag (key frame bit 0 = 0, version 0,
    show_frame 1, first partition size), start code, 16-bit width/height (14 bits + 2 scale
    bits), then a few opaque bytes standing in for the compressed data."""
    tag = (0 if key_frame else 1) | (1 << 4) | (8 << 5)
    return struct.pack("<I", tag)[:3] + start_code + struct.pack("<HH", width, height) + b"\x00" * 8


def vp8l_payload(width, height, version=0, signature=0x2F):
    """VP8L header (RFC 9649 3.2): signature, then width-1 (14), height-1 (14), alpha (1),
    version (3), then a few opaque bytes."""
    bits = (width - 1) | (height - 1) << 14 | 1 << 28 | version << 29
    return bytes([signature]) + struct.pack("<I", bits) + b"\x00" * 5


def vp8x_payload(flags, width, height):
    """VP8X (RFC 9649 2.7): flags, 3 reserved bytes, 24-bit canvas width-1 and height-1."""
    return bytes([flags, 0, 0, 0]) + struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]


ANIMATION, EXIF, ALPHA = 0x02, 0x08, 0x10


def webp_cases():
    lossy = riff_chunk(b"VP8 ", vp8_payload(100, 50))
    anim = riff_chunk(b"ANIM", b"\xff\xff\xff\xff\x00\x00")
    frame = riff_chunk(b"ANMF", b"\x00" * 6 + struct.pack("<I", 99)[:3] + struct.pack("<I", 49)[:3]
                       + b"\x64\x00\x00\x00" + lossy)
    return [
        # Scale bits (top 2 of each 16-bit field) set: 3 for width, 1 for height; not the size.
        ("webp-vp8-scale.webp", webp(riff_chunk(b"VP8 ", vp8_payload(0xC000 | 100, 0x4000 | 50))),
         ("webp", 100, 50, 0, "-")),
        ("webp-vp8l.webp", webp(riff_chunk(b"VP8L", vp8l_payload(16384, 7))), ("webp", 16384, 7, 0, "-")),
        ("webp-vp8x-animated.webp", webp(riff_chunk(b"VP8X", vp8x_payload(ANIMATION, 100, 50)), anim, frame),
         ("webp", 100, 50, 0, "-", ANIMATED)),
        ("webp-vp8x-alpha.webp",
         webp(riff_chunk(b"VP8X", vp8x_payload(ALPHA | EXIF, 100, 50)),
              riff_chunk(b"ALPH", b"\x00" * 4), lossy, riff_chunk(b"EXIF", b"II*\x00\x08\x00\x00\x00\x00\x00")),
         ("webp", 100, 50, 0, "-")),
        # Largest canvas area allowed: 65536 x 65535 = 2^32 - 2^16 (RFC 9649 2.7: at most 2^32-1).
        ("webp-vp8x-area-limit.webp", webp(riff_chunk(b"VP8X", vp8x_payload(0, 65536, 65535)), lossy),
         ("webp", 65536, 65535, 0, "-")),
        ("webp-vp8x-area-too-big.webp", webp(riff_chunk(b"VP8X", vp8x_payload(0, 2**24, 2**24)), lossy),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-vp8-bad-start-code.webp",
         webp(riff_chunk(b"VP8 ", vp8_payload(100, 50, start_code=b"\x9d\x01\x2b"))),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-vp8-not-key-frame.webp", webp(riff_chunk(b"VP8 ", vp8_payload(100, 50, key_frame=False))),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-vp8-zero-width.webp", webp(riff_chunk(b"VP8 ", vp8_payload(0xC000, 50))),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-vp8l-bad-signature.webp", webp(riff_chunk(b"VP8L", vp8l_payload(4, 4, signature=0x2E))),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-vp8l-bad-version.webp", webp(riff_chunk(b"VP8L", vp8l_payload(4, 4, version=1))),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-unknown-first-chunk.webp", webp(riff_chunk(b"ALPH", b"\x00" * 4), lossy),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-vp8-chunk-too-small.webp", webp(riff_chunk(b"VP8 ", vp8_payload(100, 50)[:9])),
         ("webp", 0, 0, 0, "malformed")),
        ("webp-truncated.webp", webp(lossy)[:12 + 8 + 7], ("webp", 0, 0, 0, "truncated")),
    ]


def main():
    rows = []
    for name, data, expected in png_cases() + bmp_cases() + webp_cases():
        fmt, width, height, orientation, error = expected[:5]
        animated = "1" if ANIMATED in expected[5:] else "0"
        lenient = "1" if LENIENT in expected[5:] else "0"
        with open(os.path.join(HERE, name), "wb") as out:
            out.write(data)
        rows.append((name, fmt, str(width), str(height), str(orientation), animated, error,
                     lenient))
    with open(os.path.join(HERE, "png_bmp_webp.tsv"), "w", encoding="ascii") as out:
        out.write("# Written by make_png_bmp_webp.py: what probe_memory reports for each crafted file.\n")
        out.write("# file\tformat\twidth\theight\torientation\tanimated\terror\tlenient\n")
        for row in rows:
            out.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
