"""docs/security.md keeps one row per security requirement 1-40 and one per attack of tests/adversarial/, and every
test a row names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _rows() -> list[str]:
    table = DOC.read_text().partition("## Requirements 1\u201340")[2]
    return [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]


def _attack_rows() -> list[str]:
    table = DOC.read_text().partition("## Attacks, as tests")[2].partition("\n#")[0]
    return [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| attack |")]


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


def test_every_attack_row_names_an_adversarial_test_that_exists_or_the_change_it_waits_for():
    rows = _attack_rows()
    named = [match for row in rows for match in TEST_REFERENCE.findall(row)]
    bare = [row[:60] for row in rows if not TEST_REFERENCE.search(row) and "| pending: issue " not in row]
    missing = sorted(f"{path}::{name}" for path, name in named
                     if not path.startswith("tests/adversarial/") or not (ROOT / path).is_file()
                     or name not in _tests_in(ROOT / path))

    assert rows and bare == [] and missing == []


def test_every_module_of_tests_adversarial_has_a_row_in_the_attack_table():
    named = {path for row in _attack_rows() for path, _ in TEST_REFERENCE.findall(row)}
    modules = {f"tests/adversarial/{path.name}" for path in (ROOT / "tests" / "adversarial").glob("test_*.py")}

    assert modules - named == set(), "a module of tests/adversarial/ is in no row of docs/security.md's attack table"
