"""Module names say what they hold and never read as the standard library's (`secrets.py` once stood for
the deployment's secrets, `http.py` for the provider HTTP session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"silentcheck": ROOT / "layers" / "shared" / "silentcheck", "sandbox": ROOT / "sandbox"}


def _named_like_the_standard_library(directory: Path) -> list[str]:
    """The modules under `directory` (paths relative to it) whose name, or a package above them, is one of
    the standard library's."""
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*.py")
                  if {path.stem, *path.relative_to(directory).parent.parts} & sys.stdlib_module_names)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_is_named_like_a_standard_library_module(package: str) -> None:
    assert _named_like_the_standard_library(PACKAGES[package]) == []


def test_a_module_named_like_one_is_found(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    for name in ("http.py", "store/secrets.py", "store/keys.py"):
        (tmp_path / name).write_text("")

    assert _named_like_the_standard_library(tmp_path) == ["http.py", "store/secrets.py"]
