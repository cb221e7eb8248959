"""After a deploy: what can be checked without a phone (docs/deploy.md, "Smoke test"). One line per check,
pass or FAIL; the exit status is 1 when any check failed.

    make smoke API_URL=https://….execute-api.….amazonaws.com/v1 API_KEY=… CALLBACK_URL=https://….lambda-url.….on.aws/
    make smoke STACK_NAME=silentcheck API_KEY=…     # the URLs from the stack's outputs (AWS credentials)

Without API_KEY the API is taken to be in app mode (ClientAuth=none). Every request has a timeout; nothing
it sends starts a check (the one number it submits is a fixed line, refused before any provider is called).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT = (5, 20)  # connect, read: a cold start of a function behind API Gateway takes a few seconds
FIXED_LINE = "+442079460000"  # a London number (Ofcom's drama range): NUMBER_UNSUPPORTED, 422
PROBLEM_JSON = "application/problem+json"
PUSHING_PROVIDERS = ("truid", "infobip")  # the providers whose results arrive at the callback URL


@dataclass(frozen=True)
class Target:
    api_url: str
    api_key: str | None  # backend mode (ClientAuth=api_key); None: app mode
    callback_url: str | None


Probe = tuple[bool | None, str]  # passed (None: not checked), and what was seen or why not


@dataclass(frozen=True)
class Outcome:
    check: str
    passed: bool | None  # None: not checked (the detail says why)
    detail: str

    @property
    def line(self) -> str:
        mark = {True: "pass", False: "FAIL", None: "skip"}[self.passed]
        return f"{mark}  {self.check}: {self.detail}"


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip()


def _seen(response: requests.Response) -> str:
    """What came back, in one short line: status, media type, and the problem's code (or API Gateway's message)."""
    body = _json(response)
    said = body.get("code") or body.get("message") if isinstance(body, dict) else None
    return f"{response.status_code} {_content_type(response)} {said or repr(body)[:80]}"


def _problem(response: requests.Response, status: int, code: str) -> tuple[bool, str]:
    """Whether `response` is the problem+json `status` with `code`, and what it was."""
    body = _json(response)
    ok = (response.status_code == status and _content_type(response) == PROBLEM_JSON and isinstance(body, dict)
          and body.get("code") == code and body.get("status") == status)
    return ok, _seen(response)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:80]


def jwks(session: requests.Session, target: Target) -> Probe:
    import jwt

    response = session.get(f"{target.api_url}/.well-known/jwks.json", timeout=TIMEOUT)
    body = _json(response)
    keys = body.get("keys") if response.status_code == 200 and isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        return False, f"no key set: {_seen(response)}"
    try:
        parsed = [jwt.PyJWK(key) for key in keys]
    except (jwt.PyJWTError, TypeError, ValueError) as error:
        return False, f"a key does not parse: {error}"
    wrong = [key.key_id for key in parsed if key.algorithm_name != "ES256"
             or getattr(getattr(key.key, "curve", None), "name", None) != "secp256r1"]
    if wrong:
        return False, f"not EC P-256 keys for ES256: {wrong}"
    if len({key.key_id for key in parsed}) != len(parsed) or not all(key.key_id for key in parsed):
        return False, "each key needs its own kid"
    return True, f"{len(parsed)} key(s), kid {', '.join(str(key.key_id) for key in parsed)}"


def key_refused(api_key: str | None) -> Callable[[requests.Session, Target], Probe]:
    """POST /checks with `api_key` (None: without one) is 403, where the API wants a key."""
    def probe(session: requests.Session, target: Target) -> Probe:
        if target.api_key is None:
            return None, "no API_KEY given: app mode (ClientAuth=none) takes no key"
        headers = {"x-api-key": api_key} if api_key else {}
        response = session.post(f"{target.api_url}/checks", json={"phone_number": FIXED_LINE}, headers=headers,
                                timeout=TIMEOUT)
        return response.status_code == 403, _seen(response)
    return probe


def fixed_line(session: requests.Session, target: Target) -> Probe:
    headers = {"x-api-key": target.api_key} if target.api_key else {}
    response = session.post(f"{target.api_url}/checks", json={"phone_number": FIXED_LINE}, headers=headers,
                            timeout=TIMEOUT)
    ok, seen = _problem(response, 422, "NUMBER_UNSUPPORTED")
    if response.status_code == 403 and not target.api_key:
        seen += " (backend mode? give API_KEY)"
    return ok, seen


def unknown_check(session: requests.Session, target: Target) -> Probe:
    response = session.get(f"{target.api_url}/checks/{secrets.token_urlsafe(32)}", timeout=TIMEOUT,
                           headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"})
    return _problem(response, 404, "CHECK_NOT_FOUND")


def forged_callback(provider: str) -> Callable[[requests.Session, Target], Probe]:
    def probe(session: requests.Session, target: Target) -> Probe:
        if not target.callback_url:
            return None, "no CALLBACK_URL given (or STACK_NAME to read it from the stack's outputs)"
        forged = f"{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"  # the shape of a real capability
        response = session.post(f"{target.callback_url.rstrip('/')}/{provider}/{forged}", json={}, timeout=TIMEOUT)
        return _problem(response, 404, "CHECK_NOT_FOUND")
    return probe


CHECKS: list[tuple[str, Callable[[requests.Session, Target], Probe]]] = [
    ("GET /.well-known/jwks.json serves EC P-256 (ES256) keys", jwks),
    ("POST /checks without an API key is 403", key_refused(None)),
    ("POST /checks with a wrong API key is 403", key_refused(secrets.token_urlsafe(30))),
    (f"POST /checks with a fixed-line number is 422 {PROBLEM_JSON}", fixed_line),
    (f"GET /checks/{{unknown id}} is 404 {PROBLEM_JSON}", unknown_check),
    *((f"POST {{callback URL}}/{provider}/{{forged capability}} is 404 {PROBLEM_JSON}", forged_callback(provider))
      for provider in PUSHING_PROVIDERS),
]


def run(target: Target, say: Callable[[str], None] = print) -> bool:
    """Every check against `target`, each line said as it completes; whether none failed."""
    outcomes: list[Outcome] = []
    say(f"smoke test of {target.api_url} ({'backend' if target.api_key else 'app'} mode)")
    with requests.Session() as session:
        for name, probe in CHECKS:
            try:
                outcome = Outcome(name, *probe(session, target))
            except requests.RequestException as error:
                outcome = Outcome(name, False, f"{type(error).__name__}: {error}"[:200])
            say(outcome.line)
            outcomes.append(outcome)
    failed = sum(outcome.passed is False for outcome in outcomes)
    checked = sum(outcome.passed is not None for outcome in outcomes)
    say(f"smoke: {checked - failed} of {checked} checks passed" + (f", {failed} FAILED" if failed else ""))
    return failed == 0


def stack_outputs(stack_name: str) -> dict[str, str]:
    """The outputs of a deployed stack (needs AWS credentials and the stack's region)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3})
    stacks = boto3.client("cloudformation", config=config).describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.smoke", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", default=os.environ.get("API_URL"), help="the ApiUrl output (env API_URL)")
    parser.add_argument("--callback-url", default=os.environ.get("CALLBACK_URL"),
                        help="the CallbackUrl output (env CALLBACK_URL)")
    parser.add_argument("--stack-name", default=os.environ.get("STACK_NAME"),
                        help="read ApiUrl and CallbackUrl from this stack's outputs (env STACK_NAME)")
    args = parser.parse_args(argv)
    api_key = os.environ.get("API_KEY") or None  # from the environment only: never on a command line
    api_url, callback_url = args.api_url, args.callback_url
    if args.stack_name:
        outputs = stack_outputs(args.stack_name)
        api_url, callback_url = api_url or outputs.get("ApiUrl"), callback_url or outputs.get("CallbackUrl")
        if "UsagePlanId" in outputs and not api_key:
            parser.error(f"stack {args.stack_name} is in backend mode (ClientAuth=api_key): give API_KEY")
    if not api_url:
        parser.error("give API_URL (the stack's ApiUrl output) or STACK_NAME")
    return 0 if run(Target(api_url.rstrip("/"), api_key, callback_url)) else 1


if __name__ == "__main__":
    sys.exit(main())
