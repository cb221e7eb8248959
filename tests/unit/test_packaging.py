"""The layer ships what pyproject.toml declares, and functions stay cheap to import."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sandbox.local_aws.functions import read_functions
from sandbox.local_aws.template import REPO_ROOT


def test_layer_requirements_equal_the_project_dependencies():
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [line.strip() for line in (REPO_ROOT / "layers/shared/requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    assert sorted(layer) == sorted(declared)


@pytest.mark.parametrize("function", read_functions(), ids=lambda f: f.logical_id)
def test_importing_a_function_loads_neither_boto3_clients_nor_requests(function):
    """Clients are created on first use, so a cold start pays only for what the request needs."""
    path = Path(REPO_ROOT, function.code_uri, function.handler.rpartition(".")[0] + ".py")
    probe = (
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'layers/shared')!r})\n"
        f"spec = importlib.util.spec_from_file_location('fn', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(sorted(m for m in ('boto3', 'botocore.client', 'requests') if m in sys.modules))\n"
    )
    env = {"POWERTOOLS_SERVICE_NAME": "silentcheck", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)

    assert result.stdout.strip() == "[]"
