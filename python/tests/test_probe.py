"""facegate.probe and facegate.probe_files: files, bytes and URLs, against the C++ tests'
expectations (tests/data/crafted/*.tsv) and the CLI's records."""

import os
import pathlib

import pytest

import facegate
from conftest import CRAFTED, EXAMPLES, example_paths

# The samples' headers (README, "Quick start"): format, width, height, file size, error.
EXAMPLE_FACTS = {
    "animated-480x480.gif": ("gif", None, None, 1547, None),
    "banner-1600x400.webp": ("webp", 1600, 400, 1212, None),
    "cut-short.jpg": ("jpeg", None, None, 120, "truncated"),
    "drawing.svg": ("svg", None, None, 67, None),
    "mono-480x640.bmp": ("bmp", 480, 640, 38462, None),
    "portrait-640x800.jpg": ("jpeg", 640, 800, 5597, None),
    "small-300x300.png": ("png", 300, 300, 106, None),
    "wide-7200x600.png": ("png", 7200, 600, 619, None),
}


def crafted_rows():
    """(file, format, width, height, orientation, animated, error, lenient) of the C++ tests."""
    rows = []
    for manifest in ("jpeg.tsv", "png_bmp_webp.tsv"):
        for line in (CRAFTED / manifest).read_text().splitlines():
            fields = line.split("\t")
            if line.startswith("#") or len(fields) < 8:
                continue
            rows.append(fields)
    return rows


def facts(result):
    return (result.format, result.width, result.height, result.file_size, result.error_code)


def test_probe_gives_every_samples_header_and_exact_file_size():
    assert sorted(EXAMPLE_FACTS) == sorted(os.listdir(EXAMPLES))
    for name, expected in EXAMPLE_FACTS.items():
        path = EXAMPLES / name
        result = facegate.probe(path)
        assert facts(result) == expected, name
        assert result.source == str(path)
        assert result.ok == (expected[4] is None)
        assert facegate.probe(str(path)) == result


@pytest.mark.parametrize("row", crafted_rows(), ids=lambda row: row[0])
def test_probe_agrees_with_the_cpp_tests_on_every_crafted_file(row):
    name, form, width, height, orientation, animated, error, lenient = row[:8]
    data = (CRAFTED / name).read_bytes()
    for result in (facegate.probe(CRAFTED / name), facegate.probe(data)):
        assert result.format == (None if form == "unknown" else form)
        assert (result.width or 0, result.height or 0) == (int(width), int(height))
        assert (result.orientation or 0) == int(orientation)
        assert result.animated == (animated == "1")
        assert result.error_code == (None if error == "-" else error)
        assert (result.leniency is not None) == (lenient == "1")


def test_probe_records_are_the_clis(facegate_exe, cli):
    paths = example_paths() + sorted(str(p) for p in CRAFTED.iterdir() if p.suffix != ".tsv")
    records = cli(facegate_exe, "probe", "--json", *paths)
    assert [facegate.probe(path).to_json() for path in paths] == records


def test_probe_reads_bytes_bytearray_and_memoryview():
    data = (EXAMPLES / "portrait-640x800.jpg").read_bytes()
    for given in (data, bytearray(data), memoryview(data)):
        result = facegate.probe(given, label="portrait")
        assert facts(result) == ("jpeg", 640, 800, 5597, None)
        assert result.source == "portrait"
    assert facegate.probe(data[:100]).error_code == "truncated"
    assert facegate.probe(b"").error_code == "truncated"


def test_probe_reads_a_url_with_ranges(nginx):
    url = nginx.url("portrait-640x800.jpg")
    result = facegate.probe(url, allow_loopback=True)
    assert facts(result) == ("jpeg", 640, 800, 5597, None)
    assert result.http_status == 206
    assert result.requests >= 1
    assert 0 < result.bytes_transferred < 5597
    assert result.to_json()["requests"] == result.requests
    missing = facegate.probe(nginx.url("missing.jpg"), allow_loopback=True)
    assert (missing.error_code, missing.http_status) == ("http_status", 404)


def test_probe_refuses_loopback_unless_allowed(nginx):
    result = facegate.probe(nginx.url("portrait-640x800.jpg"))
    assert result.error_code == "private_address"
    with pytest.raises(facegate.NetworkError) as raised:
        result.raise_for_error()
    assert raised.value.code == "private_address"
    assert isinstance(raised.value, facegate.SourceError)


def test_probe_errors_map_to_the_error_hierarchy(tmp_path):
    missing = facegate.probe(tmp_path / "missing.jpg")
    assert missing.error_code == "io"
    with pytest.raises(facegate.IoError):
        missing.raise_for_error()
    with pytest.raises(facegate.ImageError) as raised:
        facegate.probe(EXAMPLES / "cut-short.jpg").raise_for_error()
    assert raised.value.code == "truncated"
    assert facegate.probe(EXAMPLES / "portrait-640x800.jpg").raise_for_error().width == 640
    with pytest.raises(facegate.UsageError):
        facegate.probe(42)
    with pytest.raises(ValueError):  # UsageError is a ValueError too
        facegate.probe(None)
    assert isinstance(facegate.error_for("dns", "x"), facegate.NetworkError)
    assert isinstance(facegate.error_for("cancelled", "x"), facegate.CancelledError)
    assert type(facegate.error_for("a-code-of-a-later-version", "x")) is facegate.InternalError


def test_probe_files_equals_probe_one_at_a_time():
    paths = [pathlib.Path(p) for p in example_paths()] * 50
    assert facegate.probe_files(paths) == [facegate.probe(path) for path in paths]
    assert facegate.probe_files([]) == []
