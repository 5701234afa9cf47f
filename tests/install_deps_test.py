#!/usr/bin/python3
"""scripts/install-deps.sh asks apt for nodejs and npm only where `node` and `npm` are missing.

Usage: install_deps_test.py SCRIPT

Runs SCRIPT (with and without --bench) under /bin/sh with a PATH that holds only a fake
apt-get, which records its arguments, and fake `node` and `npm` as each case needs: a
nodejs from elsewhere ships its own npm, which Debian's npm package conflicts with (apt
refuses the whole install). Nothing is installed. Exits 1 when a case asks apt for the wrong
packages.
"""

import os
import subprocess
import sys
import tempfile

FAKE_APT_GET = """#!/bin/sh
echo "$*" >> "$APT_GET_LOG"
"""
FAKE_TOOL = "#!/bin/sh\nexit 0\n"


def packages_requested(script, arguments, present_tools):
    """The words of the `apt-get install` call that SCRIPT makes with those tools on PATH."""
    with tempfile.TemporaryDirectory() as directory:
        log = os.path.join(directory, "apt-get.log")
        for name, text in [("apt-get", FAKE_APT_GET)] + [(t, FAKE_TOOL) for t in present_tools]:
            path = os.path.join(directory, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        environment = {"PATH": directory, "APT_GET_LOG": log}
        result = subprocess.run(["/bin/sh", script, *arguments], env=environment,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"install_deps_test: {script} {' '.join(arguments)} exited "
                     f"{result.returncode}: {result.stderr}")
        with open(log) as f:
            calls = f.read().splitlines()
    installs = [call.split() for call in calls if call.startswith("install")]
    if len(installs) != 1 or "update" not in calls:
        sys.exit(f"install_deps_test: expected apt-get update and one apt-get install, got {calls}")
    return set(installs[0])


def main():
    script = sys.argv[1]
    cases = [
        # (arguments, tools on PATH, packages that must be asked for, packages that must not)
        ([], [], {"meson", "python3-pil", "libvips-tools", "pybind11-dev", "python3-mesonpy",
                  "python3-pytest", "python3-distributed", "libmicrohttpd-dev"},
         {"nodejs", "npm", "python3-imagesize"}),
        (["--bench"], [], {"python3-imagesize", "nodejs", "npm"}, set()),
        (["--bench"], ["node", "npm"], {"python3-imagesize"}, {"nodejs", "npm"}),
        (["--bench"], ["node"], {"python3-imagesize", "npm"}, {"nodejs"}),
        (["--bench"], ["npm"], {"python3-imagesize", "nodejs"}, {"npm"}),
    ]
    failures = 0
    for arguments, tools, wanted, unwanted in cases:
        requested = packages_requested(script, arguments, tools)
        missing = wanted - requested
        extra = unwanted & requested
        label = (f"install-deps.sh {' '.join(arguments) or '(no option)'}, on PATH: "
                 f"{' '.join(tools) or 'neither node nor npm'}")
        if missing or extra:
            failures += 1
            print(f"FAIL {label}: not asked for {sorted(missing)}, asked for {sorted(extra)}")
        else:
            print(f"ok   {label}")
    print(f"install_deps_test: {len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
