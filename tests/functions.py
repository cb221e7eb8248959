"""The template's functions, loaded as Lambda loads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.local_aws.functions import read_functions
from sandbox.local_aws.lambda_runtime import load_handler


def load_start_function() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Import start_check's handler afresh, as a cold start does (its module-level checks run again)."""
    (function,) = [f for f in read_functions() if f.code_uri.rstrip("/").endswith("start_check")]
    return load_handler(function)
