"""The locks agree with what they lock: pyproject.toml, the layer's requirements.txt, each other, and the
environment the tests run in. `make lock` rewrites them; each test here fails when one was edited alone."""

import importlib.metadata
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sandbox.local_aws.template import REPO_ROOT
from tests.locks import (
    DEV_LOCK,
    LAMBDA_MARKER_ENVIRONMENT,
    LAYER_LOCK,
    LAYER_REQUIREMENTS,
    read_lock,
    read_requirements,
    versions,
)

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("lock", [DEV_LOCK, LAYER_LOCK], ids=lambda path: path.name)
def test_every_locked_distribution_is_pinned_to_one_version_with_its_hashes(lock):
    loose = [pin.name for pin in read_lock(lock)
             if not pin.specifier.startswith("==") or "," in pin.specifier or not pin.hashes
             or not all(h.startswith("sha256:") for h in pin.hashes)]

    assert loose == []


def test_the_layer_lock_pins_each_layer_requirement_within_its_range():
    locked = versions(read_lock(LAYER_LOCK))

    outside = {str(r): locked.get(canonicalize_name(r.name)) for r in read_requirements(LAYER_REQUIREMENTS)
               if not locked.get(canonicalize_name(r.name))
               or not all(r.specifier.contains(v, prereleases=True) for v in locked[canonicalize_name(r.name)])}

    assert outside == {}


def test_the_layer_lock_holds_exactly_what_the_layer_requirements_need_on_lambda():
    """The closure of requirements.txt on python3.13/arm64, read from the installed distributions' metadata
    (the same versions: the next test but one): nothing missing, nothing left over from an older requirement."""
    needed: set[str] = set()
    pending = [(r, "") for r in read_requirements(LAYER_REQUIREMENTS)]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({**LAMBDA_MARKER_ENVIRONMENT, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name in needed and not requirement.extras:
            continue
        needed.add(name)
        for dependency in importlib.metadata.requires(name) or []:
            for wanted_extra in requirement.extras or {""}:
                pending.append((Requirement(dependency), wanted_extra))

    assert {pin.name for pin in read_lock(LAYER_LOCK)} == needed


def test_the_dev_lock_pins_every_distribution_of_the_layer_at_the_layer_version():
    """`make test` runs the versions `sam build` ships: no environment of the dev lock differs."""
    dev = versions(read_lock(DEV_LOCK))

    differing = {pin.name: (pin.version, dev.get(pin.name)) for pin in read_lock(LAYER_LOCK)
                 if dev.get(pin.name) != {pin.version}}

    assert differing == {}


def test_the_dev_lock_pins_every_project_requirement_within_its_range():
    declared = [Requirement(text) for text in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]]
    locked = versions(read_lock(DEV_LOCK))

    outside = {str(r): locked.get(canonicalize_name(r.name)) for r in declared
               if not locked.get(canonicalize_name(r.name))
               or not all(r.specifier.contains(v, prereleases=True) for v in locked[canonicalize_name(r.name)])}

    assert outside == {}


def test_this_environment_has_exactly_the_dev_locks_versions():
    """What `make deps` installed: the dev lock's entry for this platform and Python, for every distribution."""
    here = [pin for pin in read_lock(DEV_LOCK) if pin.marker is None or pin.marker.evaluate()]

    installed: dict[str, str | None] = {}
    for pin in here:
        try:
            installed[pin.name] = importlib.metadata.version(pin.name)
        except importlib.metadata.PackageNotFoundError:
            installed[pin.name] = None

    assert {pin.name: installed[pin.name] for pin in here if installed[pin.name] != pin.version} == {}
