#!/usr/bin/python3
"""Writes the crafted JPEG test files (jpeg-*.jpg) and their manifest (jpeg.tsv).

Each file exercises one edge case of the JPEG header parser (lib/formats/jpeg.cc). The output is
deterministic: run `/usr/bin/python3 make_jpeg.py` in this directory and `git diff` shows nothing.
Byte layouts follow ITU T.81 Annex B (markers, segments, frame header), ITU T.87 (JPEG-LS),
Exif 2.3 section 4.5.4 (APP1 "Exif\\0\\0") and TIFF 6.0 section 2 (header, IFD entries).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"


def segment(marker, payload):
    """A marker segment: FF, marker, 2-byte length counting itself, payload (T.81 B.1.1.4)."""
    assert len(payload) + 2 <= 0xFFFF
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def app0_jfif():
    # JFIF 1.02: identifier, version, density units, densities, thumbnail size 0x0.
    return segment(0xE0, b"JFIF\0" + b"\x01\x02" + b"\x00" + struct.pack(">HH", 1, 1) + b"\0\0")


def dqt():
    # One 8-bit table, Pq = 0, Tq = 0, 64 values (T.81 B.2.4.1).
    return segment(0xDB, b"\x00" + bytes(range(1, 65)))


def dht():
    # One DC table, Tc = 0, Th = 0: one code of length 1 for symbol 0 (T.81 B.2.4.2).
    return segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")


def frame_header(marker, width, height, precision=8, components=3, length=None):
    """A frame header: Lf, P, Y, X, Nf, then Ci, Hi/Vi, Tqi per component (T.81 B.2.2)."""
    payload = bytes([precision]) + struct.pack(">HH", height, width) + bytes([components])
    for c in range(components):
        payload += bytes([c + 1, 0x22 if c == 0 else 0x11, 0])
    if length is None:
        return segment(marker, payload)
    return bytes([0xFF, marker]) + struct.pack(">H", length) + payload


def sof(width, height, **kwargs):
    return frame_header(0xC0, width, height, **kwargs)


def sos(components=3):
    # Ns, (Csj, Tdj/Taj) per component, Ss, Se, Ah/Al (T.81 B.2.3).
    payload = bytes([components])
    for c in range(components):
        payload += bytes([c + 1, 0x00])
    return segment(0xDA, payload + b"\x00\x3f\x00")


def scan_and_end():
    # Entropy-coded bytes with a stuffed zero (FF 00, T.81 B.1.1.5), a restart marker, EOI.
    return sos() + b"\x12\x34\xff\x00\x56\x78\xff\xd0\x9a\xbc" + EOI


def picture(width, height):
    """What follows the application segments of an ordinary baseline file."""
    return dqt() + sof(width, height) + dht() + scan_and_end()


def decodable_picture(width, height):
    """A one-component baseline image that decoders decode (mid-grey), for the files that the
    probe reads leniently: a DC and an AC table of one 1-bit code each, for the DC difference
    category 0 and for EOB (T.81 F.1.2), so each 8x8 block is the two bits 00 (T.81 F.1.2.1,
    F.1.2.2); the last byte is padded with 1 bits (T.81 F.1.2.3)."""
    one_code = bytes([1] + [0] * 15) + b"\x00"  # BITS: one code of length 1; HUFFVAL: 0
    dc_and_ac = b"\x00" + one_code + b"\x10" + one_code  # Tc/Th 0/0 (DC), then 1/0 (AC)
    blocks = -(-width // 8) * -(-height // 8)
    bits = 2 * blocks
    entropy = bytes(bits // 8) + (bytes([(1 << (8 - bits % 8)) - 1]) if bits % 8 else b"")
    # Ns 1, Cs 1, Td/Ta 0/0, Ss 0, Se 63, Ah/Al 0 (T.81 B.2.3).
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return (dqt() + frame_header(0xC0, width, height, components=1) + segment(0xC4, dc_and_ac)
            + scan + entropy + EOI)


def junk(length, seed):
    """Deterministic bytes without FF (a linear congruential generator, not `random`)."""
    out = bytearray()
    state = seed
    while len(out) < length:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        byte = (state >> 16) & 0xFF
        if byte != 0xFF:
            out.append(byte)
    return bytes(out)


# --- EXIF (TIFF 6.0 section 2) ---------------------------------------------------------------

SHORT, LONG, ASCII, RATIONAL = 3, 4, 2, 5
ORIENTATION = 0x0112


def ifd_entry(order, tag, type_, count, value):
    """A 12-byte IFD entry; a SHORT value is left-justified in the 4-byte value field."""
    e = "<" if order == "II" else ">"
    head = struct.pack(e + "HHI", tag, type_, count)
    if type_ == SHORT and count == 1:
        return head + struct.pack(e + "H", value) + b"\0\0"
    return head + struct.pack(e + "I", value)


def ifd(order, entries):
    """An IFD: entry count, entries, offset of the next IFD (0: none)."""
    e = "<" if order == "II" else ">"
    body = b"".join(ifd_entry(order, *entry) for entry in entries)
    return struct.pack(e + "H", len(entries)) + body + struct.pack(e + "I", 0)


def typical_entries(orientation=None):
    """IFD0 entries of a camera file, in ascending tag order; values past the IFD are not read."""
    entries = [(0x010F, ASCII, 9, 0x200), (0x0110, ASCII, 6, 0x210)]
    if orientation is not None:
        entries.append((ORIENTATION, SHORT, 1, orientation))
    entries += [(0x011A, RATIONAL, 1, 0x220), (0x011B, RATIONAL, 1, 0x228), (0x0128, SHORT, 1, 2)]
    return entries


def tiff(order, entries, ifd0_offset=8, filler=b""):
    """TIFF header (byte order, 42, IFD0 offset), `filler` up to IFD0, then IFD0."""
    e = "<" if order == "II" else ">"
    header = order.encode() + struct.pack(e + "HI", 42, ifd0_offset)
    gap = ifd0_offset - len(header)
    assert gap >= len(filler)
    return header + filler + b"\0" * (gap - len(filler)) + ifd(order, entries)


def app1_exif(tiff_bytes, trailer=b""):
    return segment(0xE1, b"Exif\0\0" + tiff_bytes + trailer)


def app1_xmp():
    packet = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
              b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
              b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
              b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="3"/>'
              b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet)


# --- the cases ---------------------------------------------------------------------------------

# (file name, bytes, width, height, orientation, error, lenient, comment) in manifest order;
# lenient: the probe reads the file with a leniency note (ImageInfo::leniency).
CASES = []


def case(name, data, width=0, height=0, orientation=0, error="-", comment="", lenient=False):
    CASES.append((name, data, width, height, orientation, error, lenient, comment))


# Every frame marker of T.81 Table B.1: SOF0-3, 5-7, 9-11, 13-15 (not DHT C4, JPG C8, DAC CC).
for index, marker in enumerate([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7,
                                0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF]):
    width, height = 640 + index, 480 + 2 * index
    precision = 12 if marker == 0xC1 else 8  # extended sequential allows 12 bits (B.2.2)
    data = (SOI + app0_jfif() + dqt()
            + frame_header(marker, width, height, precision=precision) + dht() + scan_and_end())
    case(f"jpeg-sof-{marker:02x}.jpg", data, width, height, comment=f"frame marker FF{marker:02X}")

# Hierarchical: DHP gives the completed image's size; the first frame is smaller (T.81 B.3.2).
case("jpeg-dhp-hierarchical.jpg",
     SOI + dqt() + frame_header(0xDE, 1024, 768) + frame_header(0xC0, 512, 384) + dht()
     + scan_and_end(), 1024, 768, comment="DHP before the first frame")
# JPEG-LS SOF55 (ITU T.87 C.2.2), one component.
case("jpeg-ls-sof55.jpg",
     SOI + frame_header(0xF7, 320, 240, components=1) + scan_and_end(), 320, 240,
     comment="JPEG-LS frame header FFF7")

# The smallest whole file: SOI, a one-component frame header, EOI; shorter than the sniffer's
# 64-byte window.
case("jpeg-smallest.jpg", SOI + frame_header(0xC0, 1, 1, components=1) + EOI, 1, 1,
     comment="17 bytes: SOI, SOF0, EOI")

case("jpeg-fill-bytes.jpg",
     SOI + b"\xff\xff\xff" + app0_jfif() + b"\xff" * 7 + dqt() + b"\xff\xff" + picture(800, 600)[len(dqt()):],
     800, 600, comment="FF fill bytes before markers (T.81 B.1.1.2)")
case("jpeg-junk-between-segments.jpg",
     SOI + app0_jfif() + b"\x00\x01junk\xff\x00\x7f" + dqt() + b"\xff\x00\xff\xff\x00\x00"
     + sof(801, 601) + dht() + scan_and_end(), 801, 601, lenient=True,
     comment="non-FF bytes and FF 00 pairs between segments")
case("jpeg-junk-10k.jpg",
     SOI + app0_jfif() + junk(10000, 7) + b"\xff\x00" + junk(300, 8) + picture(802, 602),
     802, 602, lenient=True, comment="10,300 bytes of junk: several scanning windows")
case("jpeg-standalone-markers.jpg",
     SOI + b"\xff\xd0" + app0_jfif() + b"\xff\x01\xff\xd7" + dqt() + b"\xff\xd8" + picture(803, 603),
     803, 603, comment="RST0, TEM, RST7 and a second SOI between segments")
case("jpeg-many-segments.jpg",
     SOI + app0_jfif() + segment(0xE2, b"ICC_PROFILE\0\x01\x01" + bytes(500))
     + segment(0xFE, b"a comment") + segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01")
     + segment(0xDD, b"\x00\x10") + segment(0x02, b"reserved marker segment") + picture(804, 604),
     804, 604, comment="APP2, COM, APP14, DRI and a reserved marker segment skipped by length")
case("jpeg-max-dimensions.jpg", SOI + picture(65535, 65535), 65535, 65535,
     comment="the largest size a frame header can hold")

# A thumbnail-sized block inside the EXIF segment holds bytes that look like markers: SOS, EOI.
thumbnail = (b"\xff\xd8\xff\xda\xff\xd9" + junk(700, 3)) * 85
case("jpeg-exif-60k.jpg",
     SOI + app1_exif(tiff("II", typical_entries(6)), trailer=thumbnail) + app0_jfif()
     + picture(4000, 3000), 4000, 3000, 6,
     comment="60 KB EXIF segment before the frame header: skipped, never read")
case("jpeg-exif-le.jpg", SOI + app1_exif(tiff("II", typical_entries(6))) + picture(810, 610),
     810, 610, 6, comment="EXIF little-endian (II)")
case("jpeg-exif-be.jpg", SOI + app1_exif(tiff("MM", typical_entries(3))) + picture(811, 611),
     811, 611, 3, comment="EXIF big-endian (MM)")
# A decoy IFD at offset 8 says orientation 2; the header points to the real IFD0 at 1000.
decoy = ifd("MM", typical_entries(2))
case("jpeg-exif-ifd0-far.jpg",
     SOI + app1_exif(tiff("MM", typical_entries(8), ifd0_offset=1000, filler=decoy))
     + picture(812, 612), 812, 612, 8, comment="IFD0 at offset 1000 of the TIFF header")
case("jpeg-xmp-then-exif.jpg",
     SOI + app0_jfif() + app1_xmp() + app1_exif(tiff("II", typical_entries(5))) + picture(813, 613),
     813, 613, 5, comment="an XMP APP1 before the EXIF APP1")
case("jpeg-exif-then-app1-without-orientation.jpg",
     SOI + app1_exif(tiff("II", typical_entries(7))) + app1_exif(tiff("II", typical_entries()))
     + app1_xmp() + picture(814, 614), 814, 614, 7,
     comment="a later EXIF APP1 without the tag keeps the first one's orientation")
case("jpeg-exif-second-app1-has-orientation.jpg",
     SOI + app1_exif(tiff("II", typical_entries())) + app1_exif(tiff("MM", typical_entries(4)))
     + picture(815, 615), 815, 615, 4,
     comment="the first EXIF APP1 has no orientation tag, the second has")
case("jpeg-exif-orientation-9.jpg",
     SOI + app1_exif(tiff("II", typical_entries(9))) + picture(816, 616), 816, 616, 0,
     comment="orientation 9 is outside 1..8: ignored")
case("jpeg-exif-orientation-0.jpg",
     SOI + app1_exif(tiff("MM", typical_entries(0))) + picture(817, 617), 817, 617, 0,
     comment="orientation 0 is outside 1..8: ignored")
case("jpeg-exif-orientation-long.jpg",
     SOI + app1_exif(tiff("II", [(ORIENTATION, LONG, 1, 6)])) + picture(818, 618), 818, 618, 0,
     comment="orientation stored as LONG, not SHORT: ignored")
# 400 entries need two windows of IFD entries; orientation is the last (unsorted, tolerated).
many = [(0x8000 + k, SHORT, 1, k) for k in range(399)] + [(ORIENTATION, SHORT, 1, 2)]
case("jpeg-exif-many-entries.jpg",
     SOI + app1_exif(tiff("II", many)) + picture(819, 619), 819, 619, 2,
     comment="400 IFD0 entries, orientation last")
# IFD0 says 3 entries; only the first fits in the segment. Junk after the segment looks like
# the missing entries, with orientation 6: a parser that reads past the segment would use it.
exif_cut = app1_exif(tiff("II", [(0x010F, ASCII, 9, 0x200)]))
exif_cut = exif_cut[:4 + 6 + 8] + struct.pack("<H", 3) + exif_cut[4 + 6 + 8 + 2:4 + 6 + 8 + 2 + 12]
exif_cut = exif_cut[:2] + struct.pack(">H", len(exif_cut) - 2) + exif_cut[4:]
case("jpeg-exif-entries-past-segment.jpg",
     SOI + exif_cut + ifd_entry("II", ORIENTATION, SHORT, 1, 6) * 2 + picture(820, 620),
     820, 620, 0, lenient=True, comment="IFD0 entries beyond the APP1 segment are not read")
# IFD0's offset points past the segment's end, into junk that holds a valid IFD.
exif_far = app1_exif(tiff("II", [], ifd0_offset=8))
exif_far = exif_far[:4 + 6 + 4] + struct.pack("<I", 40) + exif_far[4 + 6 + 8:]
case("jpeg-exif-ifd0-outside-segment.jpg",
     SOI + exif_far + b"\0" * 26 + ifd("II", typical_entries(6)) + picture(821, 621),
     821, 621, 0, lenient=True, comment="IFD0 offset beyond the segment's end: ignored")
case("jpeg-exif-bad-tiff-header.jpg",
     SOI + app1_exif(b"IX" + tiff("II", typical_entries(6))[2:]) + picture(822, 622),
     822, 622, 0, comment="byte order neither II nor MM: EXIF ignored")
case("jpeg-exif-bad-tiff-magic.jpg",
     SOI + app1_exif(b"MM\0\x2b" + tiff("MM", typical_entries(6))[4:]) + picture(823, 623),
     823, 623, 0, comment="TIFF magic 43 instead of 42: EXIF ignored")
case("jpeg-exif-header-cut-by-segment.jpg",
     SOI + segment(0xE1, b"Exif\0\0II*\0") + picture(824, 624), 824, 624, 0,
     comment="APP1 too short for a TIFF header")

case("jpeg-dnl-zero-height.jpg",
     SOI + dqt() + sof(825, 0) + dht() + sos() + b"\x12\x34" + segment(0xDC, struct.pack(">H", 625))
     + EOI, error="malformed", comment="height 0 in SOF, defined by DNL (T.81 B.2.5)")
case("jpeg-zero-width.jpg", SOI + picture(0, 626), error="malformed", comment="width 0 in SOF")
case("jpeg-sof-length-mismatch.jpg",
     SOI + dqt() + frame_header(0xC0, 827, 627, length=8 + 3 * 3 + 1) + dht() + scan_and_end(),
     error="malformed", comment="Lf is not 8 + 3 * Nf")
case("jpeg-sof-too-short.jpg",
     SOI + dqt() + b"\xff\xc0\x00\x06\x08\x02\x73\x03" + picture(828, 628)[len(dqt()):],
     error="malformed", comment="SOF length 6 cannot hold the size fields")
case("jpeg-sos-before-sof.jpg", SOI + app0_jfif() + dqt() + dht() + scan_and_end(),
     error="malformed", comment="SOS before any frame header")
case("jpeg-eoi-before-sof.jpg", SOI + app0_jfif() + dqt() + EOI, error="malformed",
     comment="EOI before any frame header, at the end of the file")
case("jpeg-segment-length-1.jpg", SOI + app0_jfif() + b"\xff\xdb\x00\x01" + picture(829, 629),
     error="malformed",
     comment="DQT segment length 1 (< 2): libjpeg refuses it too (Bogus marker length)")

# What libjpeg reads past, and so does the probe, with a leniency note (ImageInfo::leniency);
# vipsheader, ImageMagick and (unless the file does not start FF D8 FF) Pillow decode these.
case("jpeg-app1-length-1.jpg",
     SOI + app0_jfif() + b"\xff\xe1\x00\x01" + decodable_picture(40, 24), 40, 24, lenient=True,
     comment="APP1 segment length 1 (< 2): libjpeg skips nothing and reads on")
case("jpeg-com-length-0-then-junk.jpg",
     SOI + b"\xff\xfe\x00\x00" + b"ab" + app0_jfif() + decodable_picture(48, 32), 48, 32,
     lenient=True, comment="COM segment length 0, then junk: libjpeg skips to the next marker")
case("jpeg-app0-length-0.jpg", SOI + b"\xff\xe0\x00\x00" + decodable_picture(56, 40), 56, 40,
     lenient=True, comment="APP0 segment length 0 right after SOI")
case("jpeg-junk-after-soi.jpg",
     SOI + b"\x00\x01junk" + app0_jfif() + decodable_picture(64, 48), 64, 48, lenient=True,
     comment="junk between SOI and the first marker: the file starts FF D8 00")

full = SOI + app0_jfif() + dqt() + sof(830, 630)
sof_at = len(SOI + app0_jfif() + dqt())
case("jpeg-truncated-in-sof.jpg", full[:sof_at + 7], error="truncated",
     comment="ends inside the frame header, after the height")
case("jpeg-truncated-in-segment-header.jpg", SOI + app0_jfif() + b"\xff\xdb\x00",
     error="truncated", comment="ends inside a segment's length field")
exif_file = SOI + app1_exif(tiff("MM", typical_entries(3)), trailer=bytes(2000)) + picture(831, 631)
case("jpeg-truncated-in-exif.jpg", exif_file[:1000], orientation=3, error="truncated",
     comment="ends inside the EXIF segment, after IFD0 was read")
case("jpeg-ends-before-sof.jpg", SOI + app0_jfif() + dqt(), error="truncated",
     comment="ends after a whole segment, before any frame header")
case("jpeg-ends-after-fill-byte.jpg", SOI + app0_jfif() + b"\xff", error="truncated",
     comment="ends with a fill byte")


def main():
    for name in os.listdir(HERE):
        if name.startswith("jpeg-") and name.endswith(".jpg"):
            os.remove(os.path.join(HERE, name))
    lines = ["# Crafted JPEG files, written by make_jpeg.py (do not edit: run the script).",
             "# file\tformat\twidth\theight\torientation\tanimated\terror\tlenient"]
    for name, data, width, height, orientation, error, lenient, comment in CASES:
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        lines.append(f"# {comment}")
        lines.append(f"{name}\tjpeg\t{width}\t{height}\t{orientation}\t0\t{error}\t{int(lenient)}")
    with open(os.path.join(HERE, "jpeg.tsv"), "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
