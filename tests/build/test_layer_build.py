"""`sam build` ships exactly the locked versions: the SAM CLI builds the shared layer as `make build` does
(template.yaml's SharedLayer, its Makefile, pip against the package index) and the built layer's
dist-info is read against layers/shared/requirements.lock.

The build takes 10-30 s; its output is kept under .cache/layer-build/, keyed by what decides which
wheels it holds (the lock, the layer's Makefile and template resource, the SAM CLI's version), so it runs
again only when one of those changes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from email.parser import Parser
from pathlib import Path

import pytest
from packaging import tags
from packaging.utils import canonicalize_name

from sandbox.local_aws.template import REPO_ROOT, TEMPLATE_PATH, load_template
from tests.locks import LAYER_LOCK, read_lock

LAYER = "SharedLayer"
LAYER_MAKEFILE = REPO_ROOT / "layers/shared/Makefile"
CACHE = REPO_ROOT / ".cache" / "layer-build"
SAM = Path(sys.executable).with_name("sam")
# Lambda's python3.13 on arm64 (Amazon Linux 2023, glibc 2.34), narrowed to the manylinux tags the layer's
# Makefile lets pip choose (manylinux2014 = 2.17, up to 2.28).
LAMBDA_PLATFORMS = [f"manylinux_2_{minor}_aarch64" for minor in range(28, 16, -1)] + ["manylinux2014_aarch64"]
LAMBDA_TAGS = {*tags.cpython_tags((3, 13), platforms=LAMBDA_PLATFORMS),
               *tags.compatible_tags((3, 13), "cp313", platforms=LAMBDA_PLATFORMS)}


def _python313() -> Path | None:
    """python3.13 as `make build` finds it: pyenv's 3.13 (the Makefile's BENCH_PYTHON), or one on PATH."""
    if pyenv := shutil.which("pyenv"):
        found = subprocess.run([pyenv, "which", "python3.13"], capture_output=True, text=True, check=False,
                               env={**os.environ, "PYENV_VERSION": "3.13.0"})
        if found.returncode == 0:
            return Path(found.stdout.strip())
    on_path = shutil.which("python3.13")
    works = on_path and subprocess.run([on_path, "--version"], capture_output=True, check=False).returncode == 0
    return Path(on_path) if on_path and works else None


def _build_key() -> str:
    sam_version = subprocess.run([SAM, "--version"], capture_output=True, text=True, check=True).stdout
    resource = json.dumps(load_template(TEMPLATE_PATH)["Resources"][LAYER], sort_keys=True)
    inputs = [LAYER_LOCK.read_bytes(), LAYER_MAKEFILE.read_bytes(), resource.encode(), sam_version.encode()]
    return hashlib.sha256(b"\0".join(inputs)).hexdigest()[:16]


@pytest.fixture(scope="module")
def built_layer() -> Path:
    """The directory of the built layer (its python/ folder and the build's log)."""
    done = CACHE / _build_key()
    if (done / "build.log").is_file():
        return done
    python = _python313()
    if python is None:
        pytest.skip("sam build needs python3.13 (pyenv install 3.13.0, or python3.13 on PATH): docs/deploy.md")
    scratch = CACHE / f"{done.name}.{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    built = subprocess.run([SAM, "build", LAYER, "--build-dir", str(scratch / "build")], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (scratch / "build.log").write_text(built.stdout + built.stderr)
    shutil.rmtree(done, ignore_errors=True)
    scratch.rename(done)
    return done


def _distributions(layer: Path) -> list[Path]:
    return sorted((layer / "build" / LAYER / "python").glob("*.dist-info"))


def test_sam_build_ships_exactly_the_locked_versions(built_layer: Path):
    shipped = {}
    for dist_info in _distributions(built_layer):
        metadata = Parser().parsestr((dist_info / "METADATA").read_text(), headersonly=True)
        shipped[canonicalize_name(metadata["Name"])] = metadata["Version"]

    assert shipped == {pin.name: pin.version for pin in read_lock(LAYER_LOCK)}


def test_every_wheel_in_the_layer_is_built_for_python313_on_arm64(built_layer: Path):
    foreign = {}
    for dist_info in _distributions(built_layer):
        wheel = Parser().parsestr((dist_info / "WHEEL").read_text(), headersonly=True)
        built_for = {tag for value in wheel.get_all("Tag", []) for tag in tags.parse_tag(value)}
        if not built_for & LAMBDA_TAGS:
            foreign[dist_info.name] = sorted(map(str, built_for))

    assert foreign == {}


def test_the_layer_build_installs_the_lock_with_every_hash_checked(built_layer: Path):
    log = (built_layer / "build.log").read_text()

    assert "--require-hashes -r requirements.lock" in log and "Build Succeeded" in log
