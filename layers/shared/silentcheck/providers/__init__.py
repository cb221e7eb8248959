"""Provider adapters, one module each, behind providers.base.Provider; imported only when used. The
registry hands each out measured (providers/measured.py), so a call site reads as a call: adapter.start(ctx)."""

from __future__ import annotations

import importlib

from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers.measured import Measured, measured

_MODULES = {
    "truid": "silentcheck.providers.truid",
    "camara": "silentcheck.providers.camara",
    "infobip": "silentcheck.providers.infobip",
}


def names() -> tuple[str, ...]:
    return tuple(_MODULES)


def get(name: str) -> Measured:
    if name not in _MODULES:
        raise ProviderNotConfigured(f"unknown provider {name!r}; known: {', '.join(_MODULES)}")
    return measured(importlib.import_module(_MODULES[name]).adapter())
