"""requirements-dev.lock installs from wheels on every Linux development machine the README promises (Python >= 3.11,
x86_64 or aarch64), not only on the one that made it: uv resolves the locked pins for each platform with building
from source forbidden, so a pin with no wheel for a platform fails here. It reads the package index (30-60 s), so
a lock that passed is remembered under .cache/lock-platforms/ by its hash and not checked again."""

import hashlib
import subprocess
import sys
from pathlib import Path

from sandbox.local_aws.template import REPO_ROOT
from tests.locks import DEV_LOCK

UV = Path(sys.executable).with_name("uv")
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
PLATFORMS = ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28")
PASSED = REPO_ROOT / ".cache" / "lock-platforms"


def test_the_dev_lock_installs_from_wheels_on_every_promised_linux_machine():
    remembered = PASSED / hashlib.sha256(DEV_LOCK.read_bytes() + repr((PYTHONS, PLATFORMS)).encode()).hexdigest()
    if remembered.exists():
        return
    # All at once: each resolution mostly waits on the index.
    running = {(python, platform): subprocess.Popen(
        [UV, "pip", "compile", str(DEV_LOCK), "--python-version", python, "--python-platform", platform,
         "--no-build", "--quiet", "--no-header", "--no-annotate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for python in PYTHONS for platform in PLATFORMS}

    failed = {}
    for machine, process in running.items():
        _, stderr = process.communicate(timeout=180)
        if process.returncode != 0:
            failed[machine] = stderr.strip()[-400:]

    assert failed == {}
    PASSED.mkdir(parents=True, exist_ok=True)
    remembered.touch()
