"""Reading `python -X importtime`: what a cold process imported and what each import cost."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Imported:
    module: str
    self_us: int
    cumulative_us: int


def parse_importtime(stderr: str) -> list[Imported]:
    """The `import time: self | cumulative | name` lines, in the order Python wrote them."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        found.append(Imported(fields[2].strip(), int(fields[0]), int(fields[1])))
    return found


def package(module: str, depth: int = 2) -> str:
    return ".".join(module.split(".")[:depth])


def unused_by_request(imported: list[Imported], used: set[str], min_ms: float = 1.0) -> list[tuple[str, float]]:
    """Packages (two name levels) that were imported but none of whose code ran during the first request,
    with what importing them cost (self time, ms), costliest first. A module of constants only is
    listed too: read the list as candidates, not verdicts."""
    used_packages = {package(m) for m in used}
    cost: dict[str, float] = {}
    for item in imported:
        name = package(item.module)
        if name not in used_packages:
            cost[name] = cost.get(name, 0.0) + item.self_us / 1000
    return sorted(((n, ms) for n, ms in cost.items() if ms >= min_ms), key=lambda pair: -pair[1])
