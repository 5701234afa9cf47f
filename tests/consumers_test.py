"""facegate as others use it: installed and found with pkg-config, or as a Meson subproject.

Usage:
  consumers_test.py pkg-config BUILD_ROOT IMAGE EXPECTED
  consumers_test.py subproject SOURCE_ROOT IMAGE EXPECTED

pkg-config: installs BUILD_ROOT into a temporary DESTDIR (meson install --no-rebuild: nothing
is compiled again), builds tests/consumers/consumer.c (C99) and consumer.cc (C++20) with
`pkg-config --cflags --libs facegate` and runs both on IMAGE; also checks that a static link's
flags (pkg-config --static) name the library's dependencies and the C++ runtime.
subproject: writes a tiny project with SOURCE_ROOT linked as subprojects/facegate, builds it
with -Dfacegate:tests=false -Dfacegate:tool=false (only the library is compiled: no tests,
fuzzers or benchmarks of facegate's) and runs its program on IMAGE.
Each program must print EXPECTED.
"""
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent / "consumers"


def run(command, **kwargs):
    print("+", shlex.join(str(part) for part in command), flush=True)
    return subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE, **kwargs).stdout


def expect_output(program, image, expected, env=None):
    output = run([program, image], env=env).strip()
    print(output)
    if output != expected:
        raise SystemExit(f"{program} printed {output!r}, expected {expected!r}")


def pkg_config_consumers(build_root, image, expected, tmp):
    destdir = tmp / "destdir"
    run(["meson", "install", "-C", build_root, "--no-rebuild", "--quiet", "--destdir", destdir])
    pc_files = list(destdir.rglob("pkgconfig/facegate.pc"))
    if len(pc_files) != 1:
        raise SystemExit(f"expected one installed facegate.pc, found {pc_files}")
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc_files[0].parent),
               PKG_CONFIG_SYSROOT_DIR=str(destdir))
    pkg_config = lambda *args: shlex.split(run(["pkg-config", *args, "facegate"], env=env))
    flags = pkg_config("--cflags", "--libs")
    libdirs = [flag[2:] for flag in pkg_config("--libs-only-L")]  # under the sysroot
    run_env = dict(os.environ, LD_LIBRARY_PATH=":".join(libdirs))
    c_program, cpp_program = tmp / "consumer_c", tmp / "consumer_cpp"
    run([os.environ.get("CC", "cc"), "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror",
         HERE / "consumer.c", "-o", c_program, *flags])
    run([os.environ.get("CXX", "c++"), "-std=c++20", "-Wall", "-Wextra", "-Werror",
         HERE / "consumer.cc", "-o", cpp_program, *flags])
    expect_output(c_program, image, expected, run_env)
    expect_output(cpp_program, image, expected, run_env)
    static_flags = pkg_config("--static", "--libs")
    for needed in ["-lfacegate", "-lcurl", "-lsqlite3", "-lcrypto", "-lwebp", "-lwebpdemux",
                   "-lz", "-lsimdjson", "-lstdc++"]:
        if needed not in static_flags:
            raise SystemExit(f"pkg-config --static --libs facegate lacks {needed}: {static_flags}")


def subproject_consumer(source_root, image, expected, tmp):
    project = tmp / "consumer"
    (project / "subprojects").mkdir(parents=True)
    shutil.copy(HERE / "meson.build.in", project / "meson.build")
    shutil.copy(HERE / "consumer.c", project / "consumer.c")
    (project / "subprojects" / "facegate").symlink_to(pathlib.Path(source_root).resolve())
    build = project / "build"
    run(["meson", "setup", build, project, "-Dbuildtype=plain", "-Dfacegate:tests=false",
         "-Dfacegate:tool=false"])
    targets = run(["meson", "introspect", "--targets", build])
    for unwanted in ["_fuzzer", "_bench", "_test", "doctest_main"]:
        if unwanted in targets:
            raise SystemExit(f"the subproject build has a {unwanted} target")
    run(["meson", "compile", "-C", build])
    expect_output(build / "consumer", image, expected)


def main():
    mode, root, image, expected = sys.argv[1:5]
    build_root = os.environ.get("FACEGATE_BUILD_ROOT", root)
    with tempfile.TemporaryDirectory(dir=build_root, prefix="consumers-") as tmp:
        if mode == "pkg-config":
            pkg_config_consumers(root, image, expected, pathlib.Path(tmp))
        else:
            subproject_consumer(root, image, expected, pathlib.Path(tmp))
    print("ok")


if __name__ == "__main__":
    main()
