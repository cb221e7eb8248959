"""One cold start, run in a fresh interpreter by `python -m benchmarks`: stdlib only, so that nothing
but what is measured gets imported.

    python -B probe.py floor TABLE            import boto3, one client, one GetItem (the floor)
    python -B probe.py function CODE LAYER EVENT_JSON
                                              import the handler module as Lambda does (its own
                                              directory and the layer on sys.path) and serve one event

Prints one JSON line: {"ms": init + first request, "status": the response's statusCode,
"peak_rss_kb": the process's peak resident set after the request (VmHWM: getrusage's ru_maxrss would
carry the parent's peak across fork and exec), and with --trace "used": modules whose code ran during
the first request, "preloaded": modules already imported before the handler's}.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402


class Context:
    """The parts of LambdaContext the handlers and Powertools read."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 15000


def floor(table: str) -> int:
    import boto3

    boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "floor#probe"}})
    return 200


def peak_rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


PRELOADED: list[str] = []


def function(code_dir: str, layer_dir: str, event_path: str, trace: bool) -> tuple[int, list[str]]:
    with open(event_path) as stream:
        event: dict[str, Any] = json.load(stream)
    sys.path[:0] = [code_dir, layer_dir]  # /var/task, then /opt/python, as on Lambda
    PRELOADED.extend(sys.modules)
    import app

    used: set[str] = set()
    if trace:
        def record(frame: Any, what: str, arg: Any) -> None:
            if what == "call":
                used.add(frame.f_globals.get("__name__", "?"))

        sys.setprofile(record)
    try:
        response = app.lambda_handler(event, Context())
    finally:
        sys.setprofile(None)
    return int(response.get("statusCode", 0)), sorted(used)


def main(argv: list[str]) -> None:
    trace = "--trace" in argv
    args = [a for a in argv if a != "--trace"]
    used: list[str] = []
    if args[0] == "floor":
        status = floor(args[1])
    else:
        status, used = function(args[1], args[2], args[3], trace)
    elapsed_ms = (time.perf_counter() - _STARTED) * 1000
    result = {"ms": elapsed_ms, "status": status, "peak_rss_kb": peak_rss_kb(), "used": used,
              "preloaded": PRELOADED if trace else []}
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
