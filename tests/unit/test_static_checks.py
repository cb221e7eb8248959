"""Static checks over the shipped code (requirement 4): no secret or token is compared with `==`/`!=`;
every such comparison goes through hmac.compare_digest (tokens.matches wraps it for stored digests)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("layers/shared/silentcheck/**/*.py"), *ROOT.glob("functions/*/app.py")])
# Names that hold secrets or tokens (a comparison with one of them leaks timing).
SECRET_WORDS = ("secret", "token", "password", "pepper", "capability", "completion_code", "poll_token", "state",
                "nonce", "verifier", "signature", "digest", "mac", "api_key", "private_key", "assertion", "code_hash",
                "_hash")


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    return None


def _is_secret(node: ast.expr) -> bool:
    name = _name(node)
    return name is not None and any(word in name.lower() for word in SECRET_WORDS)


def _is_literal(node: ast.expr) -> bool:
    """A constant (None, a status string, a number), which is no secret to leak."""
    return isinstance(node, ast.Constant)


def _parse(source: str, filename: str) -> ast.Module:
    """ast.parse, once more if CPython 3.11 reports its AST-depth SystemError: it happens when another
    thread (the in-process sandbox formatting a late callback's traceback) parses at the same moment."""
    try:
        return ast.parse(source, filename)
    except SystemError:
        return ast.parse(source, filename)


def secret_comparisons(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(_parse(source, filename)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            if not isinstance(op, ast.Eq | ast.NotEq) or _is_literal(left) or _is_literal(right):
                continue
            if _is_secret(left) or _is_secret(right):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_secret_or_token_is_compared_with_equality_operators():
    found = [hit for path in SHIPPED for hit in secret_comparisons(path.read_text(), str(path.relative_to(ROOT)))]

    assert SHIPPED and found == []


def test_the_static_check_catches_an_equality_comparison_of_a_token():
    source = "def f(poll_token, stored):\n    return poll_token == stored\n"

    assert secret_comparisons(source, "example.py") == ["example.py:2: poll_token == stored"]
