"""`make soak`: many checks through the whole sandbox stack at once, a share of them with faults, then an
audit of the table (docs/reliability.md, Soak).

    python -m sandbox.soak [--checks 1000] [--phones 16] [--seed 12]

Each of `--phones` workers plays an app and its user's phone, one check after another, across tru.ID,
CAMARA and Infobip: most checks go as they should; the rest are slow or failing providers, wrong SIMs,
phones on Wi-Fi, callbacks duplicated, late, out of order or lost, and phones that never open the link.
Checks that can only end by expiring are polled again once their expiry has passed (the functions run
with CHECK_TTL_SECONDS=60, the template's minimum).

The audit, from the table itself: every check is final (none PENDING); each ended as its scenario says
and the app read what it may see of it (a verdict after the device hop, with no completion code in the
app's hands, reads PENDING and then EXPIRED); the counts per status agree between plan, table and app; no check
changed state twice (every winning conditional write is counted); every check a provider accepted
holds what the provider handed out (its reference, or CAMARA's binding), and every other one says why it
failed; the completion codes the phones received are the ones recorded; no invocation ran past its
function's Timeout. The tally is printed last; the exit status is 1 on any mismatch. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from sandbox import stack as stacks
from sandbox.device import Phone, bound_session
from sandbox.local_aws import services as aws

CHECK_TTL_SECONDS = 60  # the template's minimum: lost callbacks and unopened links end EXPIRED that soon
SLOW_SECONDS = 0.5  # tru.ID's "95" create: slow, well inside the per-call timeout
POLL_PAUSE_SECONDS = 0.2
POLL_ROUNDS = 50
Flow = Literal["truid", "camara", "infobip"]


@dataclass(frozen=True)
class Scenario:
    name: str
    flow: Flow
    weight: int  # per 1,000 checks
    expected: str  # the status the check must end in
    suffix: str = "02"  # the number's last two digits (the simulators' trigger digits)
    wrong_sim: bool = False
    bearer: Literal["cellular", "wifi"] = "cellular"
    opens: bool = True
    provider: str | None = None  # what the app asks for (None: the routing table decides)
    delivery: str | None = None  # Infobip's delivery plan for this check's callback
    fault: bool = True
    hidden: bool = False  # a verdict after the device hop that the app, holding no completion code, never sees

    @property
    def app_sees(self) -> str:
        """What the app reads at the end: the verdict, or for a hidden one PENDING and then EXPIRED."""
        return "EXPIRED" if self.hidden else self.expected


SCENARIOS = (
    Scenario("truid verified", "truid", 280, "VERIFIED", fault=False),
    Scenario("camara verified", "camara", 180, "VERIFIED", suffix="12", fault=False),
    Scenario("infobip verified", "infobip", 200, "VERIFIED", suffix="12", provider="infobip", fault=False),
    Scenario("truid slow create", "truid", 40, "VERIFIED", suffix="95"),
    Scenario("truid failing create (503)", "truid", 40, "FAILED", suffix="96", provider="truid"),
    Scenario("camara failing verify (503)", "camara", 20, "FAILED", suffix="95"),
    Scenario("truid wrong SIM", "truid", 30, "NOT_VERIFIED", wrong_sim=True),
    Scenario("camara wrong SIM", "camara", 20, "NOT_VERIFIED", suffix="12", wrong_sim=True),
    Scenario("infobip wrong SIM", "infobip", 20, "NOT_VERIFIED", suffix="12", wrong_sim=True, provider="infobip"),
    Scenario("truid Wi-Fi", "truid", 30, "FAILED", bearer="wifi", hidden=True),  # tru.ID stops the phone: no code
    Scenario("camara Wi-Fi", "camara", 20, "FAILED", suffix="12", bearer="wifi"),
    Scenario("infobip Wi-Fi", "infobip", 20, "FAILED", suffix="12", bearer="wifi", provider="infobip"),
    Scenario("infobip callback twice", "infobip", 30, "VERIFIED", suffix="12", provider="infobip",
             delivery="twice"),
    Scenario("infobip callback late", "infobip", 20, "VERIFIED", suffix="12", provider="infobip", delivery="late"),
    Scenario("infobip callbacks out of order", "infobip", 20, "NOT_VERIFIED", suffix="12", provider="infobip",
             delivery="out_of_order"),
    Scenario("infobip callback lost", "infobip", 10, "EXPIRED", suffix="12", provider="infobip", delivery="never"),
    Scenario("truid link never opened", "truid", 20, "EXPIRED", opens=False),
)
FINAL = frozenset({"VERIFIED", "NOT_VERIFIED", "FAILED", "EXPIRED"})


@dataclass
class Ran:
    """One check as the app and the phone saw it."""

    scenario: Scenario
    number: str
    created: dict[str, Any] = field(default_factory=dict)
    completion_code: str | None = None
    app_saw: str = "NONE"
    error: str | None = None


@dataclass
class Transitions:
    """Every conditional write that moved a check out of PENDING, per check (the functions run in-process)."""

    won: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self) -> None:
        from silentcheck import store

        for name in ("finish", "mark_expired"):
            original = getattr(store, name)
            setattr(store, name, self._counting(original))

    def _counting(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(check_id: str, *args: Any, **kwargs: Any) -> Any:
            result = original(check_id, *args, **kwargs)  # raises store.TransitionLost when it lost
            with self.lock:
                self.won[check_id] += 1
            return result

        return counted


def plan(checks: int, seed: int) -> list[Ran]:
    """`checks` checks, scenarios in proportion to their weights, in a seeded order."""
    total = sum(s.weight for s in SCENARIOS)
    counts = [max(1, round(s.weight * checks / total)) for s in SCENARIOS]
    counts[0] += checks - sum(counts)
    runs: list[Ran] = []
    for scenario, count in zip(SCENARIOS, counts, strict=True):
        for _ in range(count):
            n = len(runs)
            country = "+346" if scenario.flow == "camara" else "+4474"
            runs.append(Ran(scenario, f"{country}{n:06d}{scenario.suffix}"))
    random.Random(seed).shuffle(runs)
    # Checks the app can only see expire go first, so their expiry has passed when the rest are done.
    runs.sort(key=lambda r: r.scenario.app_sees != "EXPIRED")
    return runs


def run(stack: stacks.Stack, ran: Ran) -> Ran:
    """Start the check from the phone's address, open its link on the phone, poll until it is final."""
    scenario = ran.scenario
    sim = _other_sim(ran.number) if scenario.wrong_sim else ran.number
    try:
        phone = Phone.join(stack.network.base_url, sim, scenario.bearer)
        with bound_session(phone.ip) as app:
            body: dict[str, Any] = {"phone_number": ran.number}
            if scenario.provider:
                body["provider"] = scenario.provider
            app.headers["x-api-key"] = stack.api_key  # the app's backend key (ClientAuth api_key)
            started = app.post(f"{stack.api_url}/checks", json=body, timeout=60)
            if started.status_code != 201:
                ran.error = f"start answered {started.status_code}: {started.text[:200]}"
                return ran
            ran.created = started.json()
            url = ran.created.get("check_url")
            if scenario.delivery and url:
                token = url.partition("token=")[2].partition("&")[0]
                delivery = {"mode": scenario.delivery, "token": token}
                if scenario.delivery == "late":
                    delivery["delay_seconds"] = 0.5
                requests.post(f"{stack.infobip.base_url}/_sandbox/delivery", json=delivery,
                              timeout=30).raise_for_status()
            if url and scenario.opens:
                opened = phone.open(url)
                if isinstance(opened.json, dict):
                    ran.completion_code = opened.json.get("completion_code")
            if scenario.app_sees != "EXPIRED":
                ran.app_saw = poll_until_final(stack, app, ran)
    except (requests.RequestException, ValueError) as error:
        ran.error = f"{type(error).__name__}: {error}"
    return ran


def _other_sim(number: str) -> str:
    """Another line's number, with the same trigger digits."""
    changed = str((int(number[-3]) + 1) % 10)
    return number[:-3] + changed + number[-2:]


def poll(stack: stacks.Stack, session: requests.Session, ran: Ran) -> str:
    params = {"code": ran.completion_code} if ran.completion_code else {}
    answer = session.get(f"{stack.api_url}/checks/{ran.created['check_id']}", params=params, timeout=60,
                         headers={"Authorization": f"Bearer {ran.created['poll_token']}"})
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    return str(answer.json()["status"])


def poll_until_final(stack: stacks.Stack, session: requests.Session, ran: Ran) -> str:
    seen = "NONE"
    for _ in range(POLL_ROUNDS):
        seen = poll(stack, session, ran)
        if seen != "PENDING":
            return seen
        time.sleep(POLL_PAUSE_SECONDS)
    return seen


def expire(stack: stacks.Stack, runs: list[Ran]) -> None:
    """Wait for the expiry of the checks the app can only see expire, then poll them as the app would."""
    waiting = [r for r in runs if r.created and r.scenario.app_sees == "EXPIRED"]
    if not waiting:
        return
    last = max(r.created["expires_at"] for r in waiting)
    expires = time.mktime(time.strptime(last, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    time.sleep(max(0.0, expires - time.time() + 1.5))
    with requests.Session() as app:
        app.headers["x-api-key"] = stack.api_key
        for ran in waiting:
            ran.app_saw = poll(stack, app, ran)


def table(stack: stacks.Stack) -> dict[str, dict[str, Any]]:
    from silentcheck.store import keys

    dynamodb = aws.client("dynamodb", stack.dynamodb.endpoint)
    items: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(
            TableName=stacks.TABLE_NAME, ConsistentRead=True,
            FilterExpression=f"begins_with({keys.PARTITION_KEY}, :check)",
            ExpressionAttributeValues={":check": {"S": keys.CHECK}}):
        for item in page["Items"]:
            items[item["check_id"]["S"]] = item
    return items


def audit(runs: list[Ran], items: dict[str, dict[str, Any]], transitions: Transitions,
          overruns: int) -> tuple[list[str], dict[str, int]]:
    """Every mismatch found (empty: all good) and the tally."""
    problems: list[str] = []
    ids = {r.created["check_id"] for r in runs if r.created}
    stored = {check_id: item["status"]["S"] for check_id, item in items.items() if check_id in ids}
    lost = [r for r in runs if not r.created or r.created["check_id"] not in items]
    problems += [f"lost: {r.scenario.name} {r.error or 'no record'}" for r in lost]
    pending = [c for c, s in stored.items() if s not in FINAL]
    problems += [f"still {stored[c]}: {c[:8]}" for c in pending]
    double = [c for c, n in transitions.won.items() if n > 1 and c in ids]
    problems += [f"changed state {transitions.won[c]} times: {c[:8]}" for c in double]
    for ran in (r for r in runs if r.created and r.created["check_id"] in items):
        check_id, item = ran.created["check_id"], items[ran.created["check_id"]]
        status = item["status"]["S"]
        if not (status == ran.scenario.expected and ran.app_saw == ran.scenario.app_sees):
            problems.append(f"{ran.scenario.name}: expected {ran.scenario.expected} (the app: "
                            f"{ran.scenario.app_sees}), app saw {ran.app_saw}, "
                            f"table has {status} {item.get('reason', {}).get('S', '')} "
                            f"{item.get('raw_code', {}).get('S', '')} ({check_id[:8]})")
        if transitions.won[check_id] != 1:
            problems.append(f"{ran.scenario.name}: {transitions.won[check_id]} transitions ({check_id[:8]})")
        if not _accounted_for(item):
            problems.append(f"{ran.scenario.name}: {status} without a provider reference ({check_id[:8]})")
        if (ran.completion_code is not None) != ("completion_code_hash" in item):
            problems.append(f"{ran.scenario.name}: the phone's completion code and the record disagree")
    expected, in_table = Counter(r.scenario.expected for r in runs), Counter(stored.values())
    app_expected, app_saw = Counter(r.scenario.app_sees for r in runs), Counter(r.app_saw for r in runs)
    if expected != in_table or app_expected != app_saw:
        problems.append(f"counts differ: plan {dict(expected)}, table {dict(in_table)}; the app: planned "
                        f"{dict(app_expected)}, saw {dict(app_saw)}")
    unreferenced = sum(1 for c in ids if c in items and not _accounted_for(items[c]))
    if overruns:
        problems.append(f"{overruns} invocations ran past their function's Timeout")
    tally = {"checks": len(runs), "lost": len(lost), "double": len(double), "pending": len(pending),
             "unreferenced": unreferenced, "overruns": overruns, "faulted": sum(r.scenario.fault for r in runs),
             **{status.lower(): in_table[status] for status in sorted(FINAL)}}
    return problems, tally


def _accounted_for(item: dict[str, Any]) -> bool:
    """A check a provider accepted holds what it handed out (tru.ID's and Infobip's reference; CAMARA
    keys its flow by our state, so its binding); one no provider accepted says why (its attempts or raw code)."""
    if "binding" in item:
        return item["provider"]["S"] == "camara" or "provider_ref" in item
    return item["status"]["S"] == "FAILED" and ("attempts" in item or "raw_code" in item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--phones", type=int, default=16)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    runs = plan(args.checks, args.seed)
    started = time.monotonic()
    with stacks.running_stack(truid_slow_seconds=SLOW_SECONDS, log_level="ERROR",
                              environment={"CHECK_TTL_SECONDS": str(CHECK_TTL_SECONDS)}) as stack:
        routing = {**stacks.SANDBOX_ROUTING,  # breakers would turn planned failures into fallbacks
                   "circuit_breaker": {"failures": 1_000_000, "window_seconds": 1, "open_seconds": 1}}
        stack.configure_routing(routing)
        stack.configure_limits({"number": None, "ip": None, "global": None})
        requests.post(f"{stack.truid.base_url}/_sandbox/callback-faults", json={"mode": "twice", "count": 100},
                      timeout=30).raise_for_status()  # tru.ID's callbacks come twice too (they only hint)
        transitions = Transitions()
        transitions.watch()
        with ThreadPoolExecutor(args.phones) as pool:
            runs = list(pool.map(lambda r: run(stack, r), runs))
        expire(stack, runs)
        stack.truid_simulator.callbacks.close()
        problems, tally = audit(runs, table(stack), transitions, len(stack.gateway.overruns.take()))
    for problem in problems[:50]:
        print(f"soak: MISMATCH {problem}", file=sys.stderr)
    by_scenario = Counter(r.scenario.name for r in runs)
    print(json.dumps({"scenarios": dict(by_scenario), "seconds": round(time.monotonic() - started, 1)}))
    print("soak: " + ", ".join(f"{value} {name}" for name, value in tally.items())
          + f", {round(time.monotonic() - started)} s" + (", FAILED" if problems else ", OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
