"""Provider adapters, one module each, behind providers.base.Provider; imported only when used."""

from __future__ import annotations

import importlib

from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers.base import Provider

_MODULES = {
    "truid": "silentcheck.providers.truid",
    "camara": "silentcheck.providers.camara",
    "infobip": "silentcheck.providers.infobip",
}


def names() -> tuple[str, ...]:
    return tuple(_MODULES)


def get(name: str) -> Provider:
    if name not in _MODULES:
        raise ProviderNotConfigured(f"unknown provider {name!r}; known: {', '.join(_MODULES)}")
    adapter: Provider = importlib.import_module(_MODULES[name]).adapter()
    return adapter
