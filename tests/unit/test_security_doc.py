"""docs/security.md keeps one row per security requirement 1-40, and every test a row names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _rows() -> list[str]:
    table = DOC.read_text().partition("## Requirements 1\u201340")[2]
    return [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]


TOP_LEVEL_TEST = re.compile(r"^def (test_\w+)\(", re.MULTILINE)


def _tests_in(path: Path) -> set[str]:
    # Read as text: ast.parse can fail with a SystemError on CPython 3.11 while another thread (a late
    # provider callback in the in-process sandbox) builds an AST at the same time.
    return set(TOP_LEVEL_TEST.findall(path.read_text()))


def test_the_table_has_one_row_per_requirement_in_order():
    assert [int(row.split("|")[1]) for row in _rows()] == list(range(1, 41))


def test_every_row_names_a_test_or_says_why_not():
    bare = [row.split("|")[1].strip() for row in _rows()
            if not TEST_REFERENCE.search(row) and "does not apply" not in row]

    assert bare == []


def test_every_test_the_table_names_exists():
    named = {(path, name) for row in _rows() for path, name in TEST_REFERENCE.findall(row)}
    missing = sorted(f"{path}::{name}" for path, name in named
                     if not (ROOT / path).is_file() or name not in _tests_in(ROOT / path))

    assert named and missing == []
