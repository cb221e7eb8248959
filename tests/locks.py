"""The lock files (`make lock`) as data: each pinned distribution with its version, marker and hashes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sandbox.local_aws.template import REPO_ROOT

DEV_LOCK = REPO_ROOT / "requirements-dev.lock"
LAYER_LOCK = REPO_ROOT / "layers/shared/requirements.lock"
LAYER_REQUIREMENTS = REPO_ROOT / "layers/shared/requirements.txt"

# Where the layer runs: Lambda's python3.13 runtime on arm64 (template.yaml's SharedLayer), as the
# environment markers of a requirement see it.
LAMBDA_MARKER_ENVIRONMENT = {
    "implementation_name": "cpython", "platform_python_implementation": "CPython", "python_version": "3.13",
    "python_full_version": "3.13.0", "platform_machine": "aarch64", "platform_system": "Linux",
    "sys_platform": "linux", "os_name": "posix", "extra": "",
}


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    specifier: str  # "==1.2.3" for a pin
    marker: Marker | None  # the environments it is for (a universal lock may pin one name per environment)
    hashes: tuple[str, ...]

    @property
    def version(self) -> str:
        return self.specifier.removeprefix("==")


def read_lock(path: Path) -> list[Pin]:
    """Each entry of a pip requirements file with hashes, as uv writes them (continuation lines joined)."""
    pins = []
    for line in re.sub(r"\\\n", " ", path.read_text()).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement_text, *hashes = line.split("--hash=")
        requirement = Requirement(requirement_text.strip())
        pins.append(Pin(canonicalize_name(requirement.name), str(requirement.specifier), requirement.marker,
                        tuple(h.strip() for h in hashes)))
    return pins


def read_requirements(path: Path) -> list[Requirement]:
    return [Requirement(line.split("#", 1)[0].strip()) for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def versions(pins: list[Pin]) -> dict[str, set[str]]:
    """Each name's pinned versions (more than one where a universal lock forks by environment)."""
    found: dict[str, set[str]] = {}
    for pin in pins:
        found.setdefault(pin.name, set()).add(pin.version)
    return found
