"""The committed OpenAPI document, as tests read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OPENAPI = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
DOC_URI = "urn:silentcheck:openapi"


def load() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return loaded


def pointer(*parts: str) -> str:
    """A JSON pointer to parts of the document (escaping ~ and / as RFC 6901 says)."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)
