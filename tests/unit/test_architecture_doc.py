"""docs/architecture.md matches the tree: every file it names exists, every `module.function` (or
`Class.method`) it names is defined where it says, and every class it names is one of ours."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
LAYER = ROOT / "layers" / "shared" / "silentcheck"

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_FILE_NAME = re.compile(r"(?<![\w>])(\w+\.py)\b")  # not the tail of a placeholder: <name>_results.py
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_CLASS_NAME = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*")
_FILE_SUFFIXES = {"py", "md", "json", "yaml", "toml", "txt", "lock"}


def _spans(text: str) -> list[str]:
    return _CODE_SPAN.findall(text)


def named_paths(text: str) -> list[str]:
    """The repository paths in code spans: a slash, no spaces, no placeholder (`providers/<name>.py`), not an
    URL path (`/checks/return`)."""
    return [span for span in _spans(text)
            if "/" in span and " " not in span and "<" not in span and not span.startswith("/")]


def _modules() -> dict[str, list[Path]]:
    """Layer module and package names to their files: `service`, `truid`, `store`, `counters`, … A name
    both a top-level module and a submodule (`checks`) means the top-level one."""
    found: dict[str, list[Path]] = {}
    for path in sorted(LAYER.rglob("*.py"), key=lambda p: len(p.relative_to(LAYER).parts)):
        name = path.parent.name if path.stem == "__init__" else path.stem
        if name not in found:
            files = sorted(path.parent.rglob("*.py")) if path.stem == "__init__" else [path]
            found[name] = files
    return found


def _defines(files: list[Path], name: str) -> bool:
    pattern = re.compile(rf"^\s*(?:def|class)\s+{name}\b|^\s*{name}\s*[:=]|^\s+\"{name}\",?$", re.MULTILINE)
    return any(pattern.search(path.read_text(encoding="utf-8")) for path in files)


def _class_files(name: str) -> list[Path]:
    sources = [*LAYER.rglob("*.py"), ROOT / "tests" / "fakes.py"]
    return [path for path in sources if re.search(rf"^class {name}\b", path.read_text(encoding="utf-8"), re.MULTILINE)]


def undefined_names(text: str) -> list[str]:
    """The `owner.name[.name…]` in code spans whose owner is no layer module or class, or where a name is not
    defined in the owner's source."""
    modules = _modules()
    missing = []
    for span in _spans(text):
        if not _DOTTED.fullmatch(span) or span.rsplit(".", 1)[1] in _FILE_SUFFIXES:
            continue
        owner, *names = span.split(".")
        files = modules.get(owner) or _class_files(owner)
        if not files or not all(_defines(files, name) for name in names):
            missing.append(span)
    return missing


def _openapi_schemas() -> set[str]:
    return set(json.loads((ROOT / "docs" / "openapi.json").read_text())["components"]["schemas"])


def test_every_path_it_names_exists() -> None:
    paths = named_paths(DOC.read_text(encoding="utf-8"))

    assert paths and [path for path in paths if not (ROOT / path).exists()] == []


def test_every_file_it_names_by_its_name_alone_exists() -> None:
    known = {path.name for folder in ("layers", "functions", "sandbox", "tests")
             for path in (ROOT / folder).rglob("*.py")}
    names = set(_FILE_NAME.findall(DOC.read_text(encoding="utf-8")))

    assert names and sorted(names - known) == []


def test_every_function_it_names_is_defined_where_it_says() -> None:
    assert undefined_names(DOC.read_text(encoding="utf-8")) == []


def test_every_class_it_names_is_one_of_ours() -> None:
    classes = {span for span in _spans(DOC.read_text(encoding="utf-8"))
               if _CLASS_NAME.fullmatch(span) and span not in ("None", "True", "False")}

    assert classes and sorted(name for name in classes
                              if not _class_files(name) and name not in _openapi_schemas()) == []


def test_a_moved_function_or_file_is_caught() -> None:
    text = ("`service.start` `routing.Fallback.refused` `store.finish` `counters.take` "
            "`service.begin` `Fallback.retry` `nowhere.start` `layers/shared/silentcheck/gone.py`")

    assert undefined_names(text) == ["service.begin", "Fallback.retry", "nowhere.start"]
    assert not (ROOT / named_paths(text)[0]).exists()
