"""JSON bodies from outside: the nesting depth and size are measured before anything is parsed."""

from __future__ import annotations

import pytest

from silentcheck import bodies


@pytest.mark.parametrize(("text", "depth"), [
    ('"[[["', 0),
    ("1", 0),
    ("{}", 1),
    ('{"a": [1, {"b": []}]}', 4),
    ('["\\"[[[", [[]]]', 3),  # an escaped quote does not end the string, so its brackets do not count
    ('["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote after it
])
def test_the_nesting_depth_counts_no_bracket_inside_a_string(text: str, depth: int):
    assert bodies.nesting_depth(text) == depth


def test_a_body_nested_past_the_limit_is_refused_naming_the_depth_limit():
    with pytest.raises(bodies.BodyRefused, match="the nesting depth limit is 2") as refused:
        bodies.loads("[[[1]]]", max_bytes=100, max_depth=2)

    assert refused.value.limit == "depth"


def test_a_body_past_the_size_in_bytes_is_refused_naming_the_size_limit():
    with pytest.raises(bodies.BodyRefused, match="larger than 8 bytes, the body size limit") as refused:
        bodies.loads('"ééééé"', max_bytes=8, max_depth=2)  # 7 characters, 12 bytes

    assert refused.value.limit == "size"


def test_a_body_within_the_limits_is_parsed():
    assert bodies.loads(b'{"a": [1]}', max_bytes=100, max_depth=2) == {"a": [1]}


@pytest.mark.parametrize("raw", [b"\xff", "not json", b""])
def test_a_body_that_is_not_json_in_utf8_is_refused_without_a_limit(raw: bytes | str):
    with pytest.raises(bodies.BodyRefused) as refused:
        bodies.loads(raw, max_bytes=100, max_depth=2)

    assert refused.value.limit is None


@pytest.mark.parametrize(("header", "json"), [
    ("application/json", True), ("Application/JSON; charset=utf-8", True), ("text/plain", False),
    ("application/x-www-form-urlencoded", False), ("multipart/form-data; boundary=x", False),
    ("application/jsonp", False), (None, False), ("", False),
])
def test_only_application_json_is_json(header: str | None, json: bool):
    assert bodies.is_json_media_type(header) is json
