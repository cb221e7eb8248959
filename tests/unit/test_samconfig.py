"""samconfig.toml: `make deploy` (guided) starts from [default], `make deploy CONFIG_ENV=ci` asks nothing, and
docs/deploy.md lists the [ci] settings as they are."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRANSFORMS_AND_ROLES = {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with (ROOT / "samconfig.toml").open("rb") as stream:
        return tomllib.load(stream)


@pytest.mark.parametrize("environment", ["default", "ci"])
def test_every_environment_acknowledges_the_roles_and_the_transforms(config: dict[str, Any],
                                                                     environment: str) -> None:
    assert set(config[environment]["deploy"]["parameters"]["capabilities"].split()) == TRANSFORMS_AND_ROLES


def test_the_ci_environment_asks_nothing_and_accepts_an_unchanged_stack(config: dict[str, Any]) -> None:
    deploy = config["ci"]["deploy"]["parameters"]

    assert (deploy["confirm_changeset"], deploy["fail_on_empty_changeset"]) == (False, False)


def test_the_deploy_guide_lists_every_ci_setting_as_it_is(config: dict[str, Any]) -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = guide.split("## Deploying from CI", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, re.MULTILINE))
    settings = {**config["ci"]["global"]["parameters"], **config["ci"]["deploy"]["parameters"]}

    assert rows == {key: str(value).lower() if isinstance(value, bool) else str(value)
                    for key, value in settings.items()}
