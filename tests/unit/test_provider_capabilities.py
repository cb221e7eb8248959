"""Which optional capability each adapter has (providers.base): the service asks with isinstance, so an
adapter that lost a method would silently lose the capability (callbacks answered 404, operator tokens
refused, no coverage pre-check)."""

import pytest

from silentcheck import providers
from silentcheck.providers.base import CoverageLookup, PushesResults, TakesOperatorToken

CAPABILITIES = {"truid": {PushesResults, CoverageLookup}, "camara": {TakesOperatorToken}, "infobip": {PushesResults}}


def test_every_registered_provider_is_listed_here():
    assert set(providers.names()) == set(CAPABILITIES)


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_each_adapter_has_exactly_its_capabilities(name: str):
    adapter = providers.get(name)

    assert {capability for capability in (PushesResults, TakesOperatorToken, CoverageLookup)
            if isinstance(adapter, capability)} == CAPABILITIES[name]
