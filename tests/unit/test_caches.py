"""caches.reset_caches() leaves the layer as a new container starts: every cache any layer module keeps,
found by walking the layer, is empty after it; SnapStart's restore and the sandbox keep the one kind they say."""

from __future__ import annotations

import collections
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

import silentcheck
from sandbox.local_aws import services as sandbox_aws
from silentcheck import (
    aws,
    caches,
    config,
    credentials,
    limits,
    provider_http,
    routing,
    sealing,
    signing_keys,
    snapstart,
)

# boto3's service models: the installed botocore's read-only data, the same in every container (aws.py); the
# measured adapter classes, one per combination of capabilities: made from the code alone.
KEPT = {"silentcheck.aws._loader", "silentcheck.providers.measured._measured_type"}
# How to put something in each functools cache of the layer; a cache missing here fails
# test_every_function_cache_of_the_layer_is_known_here, so a new one cannot go unchecked.
FILL: dict[str, Callable[[str], object]] = {
    "silentcheck.config.settings": lambda _: config.settings(),
    "silentcheck.routing.parse_table": lambda _: routing.table(),
    "silentcheck.limits.parse_limits": lambda _: limits.configured(),
    "silentcheck.signing_keys.signer": lambda _: signing_keys.signer(),
    "silentcheck.signing_keys.public_jwk": signing_keys.public_jwk,
    "silentcheck.aws.session": lambda _: aws.session(),
    "silentcheck.aws.client": lambda _: aws.client("dynamodb"),
    "silentcheck.provider_http.session": lambda _: provider_http.session(),
    "silentcheck.sealing._aead_for": lambda _: sealing.seal({"phone_number": "+447400900123"}, "check-1"),
}
CONFIGURATION = {"silentcheck.config.settings", "silentcheck.routing.parse_table", "silentcheck.limits.parse_limits",
                 "silentcheck.signing_keys.signer", "silentcheck.signing_keys.public_jwk"}
CONNECTIONS = {"silentcheck.aws.session", "silentcheck.aws.client", "silentcheck.provider_http.session"}


def _layer_modules() -> Iterator[ModuleType]:
    yield silentcheck
    for info in pkgutil.walk_packages(silentcheck.__path__, "silentcheck."):
        yield importlib.import_module(info.name)


def _function_caches() -> dict[str, Any]:
    """Every functools cache a layer module defines, by its qualified name."""
    return {f"{module.__name__}.{name}": value for module in _layer_modules() for name, value in vars(module).items()
            if hasattr(value, "cache_clear") and getattr(value, "__module__", None) == module.__name__}


def _module_state() -> dict[str, Any]:
    """Every mutable container a layer module keeps at module level (constants are UPPER_CASE and immutable)."""
    return {f"{module.__name__}.{name}": value for module in _layer_modules() for name, value in vars(module).items()
            if not name.startswith("__") and not name.isupper()
            and isinstance(value, dict | list | set | collections.deque)}


@pytest.fixture
def filled(moto_env: sandbox_aws.MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every cache of the layer holds something: the functools caches through their own calls (with a KMS
    key, for the attestation's public key), every module-level container with a stand-in entry."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_env.endpoint)
    key_id = sandbox_aws.create_signing_key(sandbox_aws.client("kms", moto_env.endpoint))
    monkeypatch.setenv("SIGNING_KEY_ID", key_id)
    caches.reset_caches()
    found = _function_caches()
    for fill in FILL.values():
        fill(key_id)
    credentials.pepper()  # the secrets' cache, through its own call as well
    for name, state in _module_state().items():
        if isinstance(state, dict):
            state.setdefault(("stand-in", name), object())
        elif isinstance(state, set):
            state.add(("stand-in", name))
        else:
            state.append(("stand-in", name))
    assert all(found[name].cache_info().currsize for name in FILL)
    return found


def test_every_function_cache_of_the_layer_is_known_here() -> None:
    assert set(_function_caches()) - KEPT == set(FILL)


def test_reset_caches_empties_every_cache_in_the_layer(filled: dict[str, Any]) -> None:
    caches.reset_caches()

    assert {name: filled[name].cache_info().currsize for name in FILL} == dict.fromkeys(FILL, 0)
    assert {name: len(state) for name, state in _module_state().items()} == dict.fromkeys(_module_state(), 0)


def test_without_connections_the_clients_and_http_session_stay(filled: dict[str, Any]) -> None:
    """What the sandbox does: the fault hooks and call counters installed on the clients survive."""
    client, session = aws.client("dynamodb"), provider_http.session()

    caches.reset_caches(connections=False)

    assert (aws.client("dynamodb"), provider_http.session()) == (client, session)
    assert {name: filled[name].cache_info().currsize == 0 for name in FILL} == {
        name: name not in CONNECTIONS for name in FILL}
    assert {name: len(state) for name, state in _module_state().items()} == dict.fromkeys(_module_state(), 0)


def test_a_snapstart_restore_keeps_only_what_is_parsed_from_the_environment(filled: dict[str, Any]) -> None:
    parsed = config.settings()

    snapstart.after_restore()

    assert config.settings() is parsed
    assert {name: filled[name].cache_info().currsize == 0 for name in FILL} == {
        name: name not in CONFIGURATION for name in FILL}
    assert {name: len(state) for name, state in _module_state().items()} == dict.fromkeys(_module_state(), 0)
