"""Every relative link in README.md and in docs/*.md resolves: the file exists and the anchor names one of its
headings, spelled as GitHub spells heading anchors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md")))

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a `# comment` in a shell block is no heading, a link in a
    sample no link)."""
    return _FENCE.sub("", text)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file: lower case, punctuation dropped, spaces
    as hyphens, a repeated one suffixed -1, -2, …"""
    seen: dict[str, int] = {}
    result = set()
    for heading in _HEADING.findall(_prose(path.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    """The relative links of `path` whose file is missing or whose anchor names no heading there."""
    broken = []
    for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check here
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists() or (anchor and (linked.suffix != ".md" or anchor not in anchors(linked))):
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", CHECKED)
def test_every_relative_link_resolves_to_a_file_and_heading(doc: str) -> None:
    assert broken_links(ROOT / doc) == []


def test_the_readme_links_into_docs() -> None:
    assert len(_LINK.findall(_prose((ROOT / "README.md").read_text(encoding="utf-8")))) >= 5


def test_anchors_are_spelled_as_github_spells_them(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Reproducible builds (the locks)\n## `make test`, step by step\n## Notes\n## Notes\n"
                   "```sh\n# not a heading\n```\n")

    assert anchors(doc) == {"reproducible-builds-the-locks", "make-test-step-by-step", "notes", "notes-1"}


def test_a_missing_file_and_a_missing_anchor_are_broken(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Routing\n")
    readme = tmp_path / "README.md"
    readme.write_text("[a](other.md#routing) [b](other.md#limits) [c](gone.md#x) [d](https://example.com/x#y) "
                      "[e](#here)\n\n## Here\n```\n[f](inside-a-sample.md)\n```\n")

    assert broken_links(readme) == ["other.md#limits", "gone.md#x"]


def test_the_readme_is_at_most_160_lines() -> None:
    # What it is, the two commands, a sample run, the trust model, the API in brief, the map, links; the
    # rest lives in docs/ (issue 23).
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 160
