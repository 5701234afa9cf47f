"""`pip install --no-build-isolation .` into a venv made with --system-site-packages (no network:
--no-index), then a part of the tests with that venv's python, outside the source tree.

The pip build compiles the library again (meson-python, pyproject.toml): minutes on 2 cores,
which is why this is the suite 'python-install' with a timeout of its own. It builds from a
copy of the source tree, since meson-python 0.12 writes a file into the tree it builds.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import time

from conftest import SOURCE_ROOT

PIP_TIMEOUT = 1500  # seconds: the whole library at -O2, on a loaded 2-core machine
SUBSET = ["test_probe.py", "test_rules.py"]


def copy_source_tree(destination):
    """The source tree without build directories, git metadata and caches."""
    def ignored(directory, names):
        top = pathlib.Path(directory) == SOURCE_ROOT
        return {name for name in names
                if name in ("node_modules", "__pycache__", ".mesonpy-native-file.ini")
                or (top and (name.startswith("build") or name == ".git"))}
    shutil.copytree(SOURCE_ROOT, destination, ignore=ignored, symlinks=True)


def test_pip_install_into_a_venv_then_tests_with_its_python(tmp_path):
    source = tmp_path / "source"
    copy_source_tree(source)
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    started = time.monotonic()
    subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index",
                    "--no-cache-dir", str(source)], check=True, env=env, timeout=PIP_TIMEOUT)
    print(f"pip install --no-build-isolation: {time.monotonic() - started:.0f} s", file=sys.stderr)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run([str(python), "-c", "import facegate; print(facegate.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, check=True)
    installed = pathlib.Path(where.stdout.strip())
    assert installed.is_relative_to(venv), installed
    assert sorted(p.name for p in installed.parent.iterdir() if p.name != "__pycache__") == sorted(
        ["__init__.py", "dask.py", "_facegate.pyi", "py.typed",
         next(p.name for p in installed.parent.glob("_facegate.*.so"))])

    env["FACEGATE_SOURCE_ROOT"] = str(source)
    tests = source / "python" / "tests"
    result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *[str(tests / name) for name in SUBSET]],
                            cwd=outside, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
