"""docs/clients.md against docs/openapi.json: every request and response body it shows is valid for the
operation and status it is tagged with, the snippets read only fields the document defines, and the
reasons table covers the whole vocabulary."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from silentcheck.checks import Reason
from tests.openapi_doc import DOC_URI, pointer

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "clients.md"
# <!-- openapi: request POST /checks --> or <!-- openapi: response GET /checks/{check_id} 200 [media] -->
_TAG = re.compile(r"<!-- openapi: (request|response) ([A-Z]+) (\S+)(?: (\d{3}))?(?: (\S+))? -->\n```json\n(.*?)```",
                  re.DOTALL)
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_SNAKE_LITERAL = re.compile(r"""["']([a-z]+(?:_[a-z]+)+)["']""")
SNIPPET_LANGUAGES = {"kotlin", "swift", "javascript", "dart"}
# Keys of the providers' SDK results (not silentcheck's API): tru.ID's {http_status, response_body} and its
# error codes.
SDK_KEYS = {"http_status", "response_body", "sdk_no_data_connectivity"}


def _guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _tagged() -> list[tuple[str, str, str, str | None, str, str]]:
    return [match.groups() for match in _TAG.finditer(_guide())]  # type: ignore[misc]


def _schema_pointer(kind: str, method: str, path: str, status: str | None, media: str) -> str:
    operation = ("paths", path, method.lower())
    if kind == "request":
        return pointer(*operation, "requestBody", "content", media, "schema")
    assert status is not None, f"a response tag needs a status: {method} {path}"
    return pointer(*operation, "responses", status, "content", media, "schema")


def test_every_json_block_is_tagged_with_the_operation_it_shows():
    blocks = [body for language, body in _FENCE.findall(_guide()) if language == "json"]

    assert blocks and len(blocks) == len(_tagged())


@pytest.mark.parametrize("tag", _tagged(), ids=lambda t: " ".join(filter(None, t[:5])))
def test_each_body_shown_is_valid_for_its_operation_and_status(doc: dict[str, Any], tag):
    kind, method, path, status, media, body = tag
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
    schema = {"$ref": DOC_URI + "#" + _schema_pointer(kind, method, path, status, media or "application/json")}
    validator = Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)

    assert [error.message for error in validator.iter_errors(json.loads(body))] == []


def _properties(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        found.update((value.get("properties") or {}).keys())
        for inner in value.values():
            found |= _properties(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _properties(inner)
    return found


def test_the_snippets_read_only_fields_the_document_defines(doc: dict[str, Any]):
    literals = {name for language, body in _FENCE.findall(_guide()) if language in SNIPPET_LANGUAGES
                for name in _SNAKE_LITERAL.findall(body)}

    assert {"check_id", "completion_code"} <= literals
    assert literals - SDK_KEYS - _properties(doc["components"]["schemas"]) == set()


def test_the_reasons_table_covers_every_reason():
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", _guide(), re.MULTILINE))

    assert rows == {reason.value for reason in Reason}
