"""Lambda SnapStart runtime hooks (template parameter SnapStart=true).

Before the snapshot: import and load what a first request needs, so a restored environment does not.
After each restore: everything that must not be shared between environments restored from the same
snapshot is made anew: the random module's state, boto3's session and clients with the credentials
they cached, open provider connections, the secrets, and provider tokens and key sets (caches.py).
`snapshot_restore_py` ships with Lambda's Python runtimes only; elsewhere `register` does nothing."""

from __future__ import annotations

import importlib
import random

# What any function's first request may import lazily (providers, HTTP, boto3 and its models).
_MODULES = ("silentcheck.service", "silentcheck.providers.truid", "silentcheck.providers.camara",
            "silentcheck.providers.infobip", "requests", "boto3")
_SERVICES = ("dynamodb", "secretsmanager", "kms")


def before_snapshot() -> None:
    """Import and load, but open no connection and resolve no credentials: nothing in the snapshot
    belongs to one environment."""
    from silentcheck import aws, config

    for module in _MODULES:
        importlib.import_module(module)
    aws.preload(*_SERVICES)
    config.settings()


def after_restore() -> None:
    """Everything but the configuration: the environment variables are the snapshot's, so what was parsed
    from them still holds (caches.reset_caches says what each kind holds)."""
    from silentcheck import caches

    random.seed()  # from os.urandom: each restored environment draws its own numbers
    caches.reset_caches(configuration=False)


def register() -> bool:
    """Register the hooks when the runtime offers them; True when it did."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not on Lambda
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True
