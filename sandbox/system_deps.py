"""What `make run` and `make test` need from the machine, and which Debian packages to ask apt for.

Run as `python3 sandbox/system_deps.py` (standard library only: it runs before the venv exists). It installs
only what is missing, one package at a time, and never a package that conflicts with one already installed:
NodeSource's `nodejs` brings its own npm and declares `Conflicts: npm`, so asking apt for Debian's npm
beside it makes apt refuse everything ("held broken packages"). When apt still refuses a package, it says
which one and what to install by hand.

The decision (`plan`) is a pure function of what the machine has, so tests cover machines shaped unlike
this one without running apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

# Each tool a command needs, the Debian package that provides it, and what it is for.
NEEDS: tuple[tuple[str, str, str], ...] = (
    ("java", "openjdk-17-jre-headless", "Java 17 runs DynamoDB Local"),
    ("npm", "npm", "npm installs DynamoDB Local and the JavaScript the tests run"),
    ("chromium", "chromium", "Debian's Chromium runs the browser tests"),
)

BY_HAND = {
    "java": "install a Java 17+ runtime (`apt-get install openjdk-17-jre-headless`, or Temurin) with `java` on PATH",
    "npm": "install npm the way your Node.js came (NodeSource's nodejs includes npm; nvm: `nvm install-latest-npm`)",
    "chromium": "install Debian's chromium (`apt-get install chromium`); the browser tests drive /usr/bin/chromium",
}


@dataclass(frozen=True)
class Machine:
    """What the decision needs to know: commands on PATH and the installed `nodejs` package, if any."""

    commands: frozenset[str]
    nodejs_version: str | None = None  # dpkg's version of the installed `nodejs` package
    apt: bool = True  # apt-get is present


@dataclass
class Plan:
    install: list[str] = field(default_factory=list)  # Debian packages, each asked for on its own
    by_hand: list[str] = field(default_factory=list)  # what apt cannot or must not provide here


def provides_npm(nodejs_version: str | None) -> bool:
    """NodeSource's `nodejs` (version `…nodesource…`) ships npm and conflicts with Debian's `npm` package."""
    return nodejs_version is not None and "nodesource" in nodejs_version


def _node_outside_apt(machine: Machine) -> bool:
    return "node" in machine.commands and machine.nodejs_version is None


def plan(machine: Machine) -> Plan:
    result = Plan()
    for command, package, _why in NEEDS:
        if command in machine.commands:
            continue
        if command == "npm" and (provides_npm(machine.nodejs_version) or _node_outside_apt(machine)):
            # A Node.js that did not come from Debian: Debian's npm would conflict with it or shadow it.
            result.by_hand.append(f"npm: {BY_HAND['npm']}")
            continue
        if not machine.apt:
            result.by_hand.append(f"{command}: {BY_HAND[command]}")
            continue
        result.install.append(package)
    return result


def this_machine() -> Machine:
    commands = frozenset(name for name in ("java", "npm", "node", "chromium") if shutil.which(name))
    nodejs_version = None
    if shutil.which("dpkg-query"):
        query = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status} ${Version}", "nodejs"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if query.returncode == 0 and query.stdout.startswith("install ok installed"):
            nodejs_version = query.stdout.rsplit(" ", 1)[-1]
    return Machine(commands=commands, nodejs_version=nodejs_version, apt=shutil.which("apt-get") is not None)


def _apt(*args: str) -> int:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run([*sudo, "apt-get", *args], env=env, timeout=1800, check=False).returncode


def main() -> int:
    decided = plan(this_machine())
    failed: list[str] = []
    if decided.install:
        print(f"== installing with apt-get, one package at a time: {', '.join(decided.install)} ==", flush=True)
        _apt("update", "-q")
        for package in decided.install:
            if _apt("install", "-y", "-q", package) != 0:
                command = next(c for c, p, _ in NEEDS if p == package)
                failed.append(f"{command}: apt-get refused {package}; {BY_HAND[command]}")
    problems = decided.by_hand + failed
    for line in problems:
        print(f"system-deps: missing {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
