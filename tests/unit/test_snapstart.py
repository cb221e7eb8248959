"""SnapStart runtime hooks: what is loaded before the snapshot, and what each restored environment makes anew.
The hooks are registered with the runtime's own library (snapshot_restore_py) and run as Lambda runs them."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
import snapshot_restore_py

from sandbox.local_aws import services as sandbox_aws
from sandbox.local_aws.lambda_runtime import LAYER
from silentcheck import aws, credentials, provider_http, snapstart
from tests.conftest import TEST_SECRET


def _run_restore_hooks() -> None:
    """What Lambda does when it resumes an environment from the snapshot: every after-restore hook, in order."""
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)


def test_register_gives_the_runtime_both_hooks() -> None:
    assert snapstart.register() is True
    assert (snapstart.before_snapshot, (), {}) in snapshot_restore_py.get_before_snapshot()
    assert (snapstart.after_restore, (), {}) in snapshot_restore_py.get_after_restore()


def test_before_snapshot_loads_what_a_first_request_needs_without_credentials_or_clients() -> None:
    """In a fresh interpreter, as Lambda's init: the lazy imports and boto3's models are loaded, but no client
    exists and no credentials were resolved, so the snapshot holds nothing of one environment."""
    probe = (
        f"import sys, json; sys.path.insert(0, {str(LAYER)!r})\n"
        "from silentcheck import snapstart, aws\n"
        "snapstart.before_snapshot()\n"
        "loader = aws._loader()\n"
        "models = sorted(key[1] for key in loader._cache if key[0] == 'load_service_model' and key[2] == 'service-2')\n"
        "print(json.dumps({'modules': [m for m in ('requests', 'boto3', 'silentcheck.providers.camara',"
        " 'silentcheck.providers.infobip', 'silentcheck.providers.truid') if m in sys.modules],"
        " 'models': models, 'clients': aws.client.cache_info().currsize,"
        " 'credentials': aws.session.cache_info().currsize and aws.session()._session._credentials is not None}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "TABLE_NAME": "checks", "SECRET_ID": "secret", "CALLBACK_SECRET_ID": "callback",
           "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "snapshot", "AWS_SECRET_ACCESS_KEY": "snapshot"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)

    assert json.loads(result.stdout.splitlines()[-1]) == {
        "modules": ["requests", "boto3", "silentcheck.providers.camara", "silentcheck.providers.infobip",
                    "silentcheck.providers.truid"],
        "models": ["dynamodb", "kms", "secretsmanager"],
        "clients": 0,
        "credentials": False,
    }


def test_restored_environments_draw_their_own_random_numbers() -> None:
    snapstart.register()
    random.seed(1234)  # the state every environment restored from one snapshot would share
    shared = random.getstate()
    expected_without_reseed = random.random()
    random.setstate(shared)

    _run_restore_hooks()

    assert random.random() != expected_without_reseed


def test_after_restore_aws_calls_use_the_restored_environments_credentials(
    moto_env: sandbox_aws.MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapstart.register()
    before = aws.client("dynamodb")
    assert aws.session().get_credentials().access_key == "testing"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "restored")

    _run_restore_hooks()

    assert aws.client("dynamodb") is not before
    assert aws.session().get_credentials().access_key == "restored"


def test_after_restore_the_secret_is_read_again(moto_env: sandbox_aws.MotoServer) -> None:
    snapstart.register()
    pepper = credentials.pepper()
    sandbox_aws.seed_secret(sandbox_aws.client("secretsmanager", moto_env.endpoint), TEST_SECRET,
                            {"pepper": "rotated-pepper-of-the-restored-environment"})
    assert credentials.pepper() == pepper  # cached until a restore

    _run_restore_hooks()

    assert credentials.pepper() == "rotated-pepper-of-the-restored-environment"


def test_after_restore_provider_connections_and_tokens_start_empty() -> None:
    from silentcheck.providers import oauth

    snapstart.register()
    connections = provider_http.session()
    oauth._tokens[("https://eu.api.tru.id/oauth2/v1/token", "client", "phone_check")] = oauth._Token(
        "token-from-the-snapshot", 1e12)

    _run_restore_hooks()

    assert provider_http.session() is not connections
    assert oauth._tokens == {}
