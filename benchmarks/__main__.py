"""Cold-start cost of each function: importing its handler module in a fresh interpreter, against
the floor every Lambda pays (importing boto3 and creating one client)."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from sandbox.gateway import LAYER, ROOT, read_functions

RUNS = 7
BASELINE = "import boto3; boto3.session.Session().client('dynamodb', region_name='us-east-1')"


def _seconds(code: str) -> float:
    probe = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    env = {"PATH": "/usr/bin:/bin", "POWERTOOLS_SERVICE_NAME": "silentcheck", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _median_ms(code: str) -> float:
    return statistics.median(_seconds(code) for _ in range(RUNS)) * 1000


def main() -> None:
    print(f"median of {RUNS} fresh interpreters, {sys.version.split()[0]}\n")
    print(f"{'what':<34} {'ms':>8}")
    print(f"{'boto3 + one client (the floor)':<34} {_median_ms(BASELINE):>8.1f}")
    for function in read_functions():
        path = Path(ROOT, function.code_uri, function.handler.rpartition(".")[0] + ".py")
        code = (f"import sys, importlib.util; sys.path.insert(0, {str(LAYER)!r}); "
                f"s = importlib.util.spec_from_file_location('fn', {str(path)!r}); "
                "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)")
        print(f"{function.logical_id + ' import':<34} {_median_ms(code):>8.1f}")


if __name__ == "__main__":
    main()
