"""Fixtures of the Python package's tests: the source tree's samples, the built CLI to compare
with, and nginx on a free loopback port (tests/servers/nginx.conf.in), stopped after use.

Run by `meson test` (python/meson.build sets PYTHONPATH to the build's python/ and
FACEGATE_SOURCE_ROOT, FACEGATE_EXE); the install test runs a part of them against an
installed package, without the CLI.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SOURCE_ROOT = pathlib.Path(os.environ.get("FACEGATE_SOURCE_ROOT",
                                          pathlib.Path(__file__).resolve().parents[2]))
EXAMPLES = SOURCE_ROOT / "examples"
CRAFTED = SOURCE_ROOT / "tests" / "data" / "crafted"
MODEL = "wan2.2-s2v-detect"


def example_paths():
    """The bundled samples, sorted."""
    return sorted(str(path) for path in EXAMPLES.iterdir())


@pytest.fixture(scope="session")
def facegate_exe():
    """The built CLI (FACEGATE_EXE)."""
    exe = os.environ.get("FACEGATE_EXE")
    if not exe:
        pytest.fail("FACEGATE_EXE is not set: run the tests through meson test")
    return exe


def run_cli(exe, *arguments, stdin_text=None):
    """The CLI's JSON records (one a line) of `exe ARGUMENTS`, which must exit 0 or 1."""
    result = subprocess.run([exe, *arguments], input=stdin_text, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="session")
def cli():
    """run_cli, for tests that compare with the CLI."""
    return run_cli


def free_loopback_port():
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def listening(port):
    with socket.socket() as client:
        client.settimeout(0.2)
        return client.connect_ex(("127.0.0.1", port)) == 0


class Nginx:
    """nginx serving `root` on 127.0.0.1 (the tests' template, one process, foreground).

    Requests per connection are not limited: nginx answers a connection's last request with
    "Connection: close", 5 bytes shorter than "keep-alive", which would make bytes_transferred
    depend on how many requests a client's connections carried."""

    def __init__(self, root):
        self.prefix = pathlib.Path(tempfile.mkdtemp(prefix="facegate-py-nginx-"))
        (self.prefix / "tmp").mkdir()
        (self.prefix / "conf.d").mkdir()
        template = (SOURCE_ROOT / "tests" / "servers" / "nginx.conf.in").read_text()
        binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
        assert binary, "nginx not found (Debian: nginx-light)"
        for _ in range(5):  # a port can be taken between choosing and binding it
            self.port = free_loopback_port()
            config = (template.replace("@PREFIX@", str(self.prefix))
                      .replace("@PORT@", str(self.port)).replace("@ROOT@", str(root))
                      .replace("keepalive_requests 10000;", "keepalive_requests 100000000;"))
            assert "keepalive_requests 100000000;" in config, "the template changed"
            (self.prefix / "nginx.conf").write_text(config)
            self.process = subprocess.Popen(
                [binary, "-e", str(self.prefix / "error.log"), "-p", str(self.prefix), "-c",
                 str(self.prefix / "nginx.conf")])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                if listening(self.port):
                    return
                time.sleep(0.02)
            self.stop()
        raise RuntimeError("nginx did not start: " + (self.prefix / "error.log").read_text())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


@pytest.fixture(scope="session")
def nginx():
    """nginx serving examples/ on a free loopback port."""
    server = Nginx(EXAMPLES)
    yield server
    server.close()
