"""JSON bodies from outside, parsed only within limits checked before parsing: a size in bytes and a nesting
depth (Python's json module recurses once per level, so 100 000 `[` in a row would raise RecursionError)."""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "application/json"
NOT_JSON = "the request body must be JSON, encoded in UTF-8"


class BodyRefused(ValueError):
    """A body past a limit (`limit` names it), or not JSON in UTF-8 (`limit` None); the message says which."""

    def __init__(self, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


def nesting_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), counting no bracket inside a
    string; one linear pass, whatever the text."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads(raw: bytes | str, max_bytes: int, max_depth: int) -> Any:
    """The JSON value of `raw`, once it is at most `max_bytes` bytes of UTF-8 nesting at most `max_depth`
    levels; BodyRefused otherwise, before any parsing."""
    if len(raw) > max_bytes or (isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > max_bytes):
        raise BodyRefused(f"the request body is larger than {max_bytes} bytes, the body size limit", "size")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BodyRefused(NOT_JSON) from None
    depth = nesting_depth(text)
    if depth > max_depth:
        raise BodyRefused(f"the request body nests arrays and objects {depth} levels deep; the nesting depth "
                          f"limit is {max_depth}", "depth")
    try:
        return json.loads(text)
    except ValueError:
        raise BodyRefused(NOT_JSON) from None


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type header names application/json (parameters such as charset aside)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE
