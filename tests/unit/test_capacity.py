"""Capacity as a parameter: every throttle and limit of template.yaml follows PeakStartsPerSecond (its
Capacity mapping), and at the highest rate a profile allows no DynamoDB key takes more than a small share
of one partition's writes (docs/capacity.md). Profiles, functions and routes are read from the template."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from silentcheck import limits
from silentcheck.store import keys
from tests.fakes import FakeCounters
from tests.template_tools import cfn_lint_all, load_sam_template, start_budgets, transform_offline, write_json

PARAMETER = "PeakStartsPerSecond"
HIGH_PROFILE = "1000"  # the documented national-launch profile
PARTITION_WRITES_PER_SECOND = 1000  # DynamoDB: about 1,000 write units a second per partition
SHARE_OF_A_PARTITION = 0.1  # a shard of the global budget may take at most this share of it at the peak
PEPPER = "a-pepper-of-at-least-16-characters"
WITH_EVERY_CAP = {"StartWaf": "on", "ReserveConcurrency": "on"}  # the WAF rule and reservations are options
SOURCE = load_sam_template()
PROFILES: list[str] = SOURCE["Parameters"][PARAMETER]["AllowedValues"]


def _find_in_map(node: Any) -> str | None:
    """The Capacity attribute a value reads for PeakStartsPerSecond, or None when it is anything else. A value
    set only under a condition (reserved concurrency with ReserveConcurrency on) counts by its set branch."""
    if isinstance(node, dict) and set(node) == {"Fn::If"} and node["Fn::If"][2] == {"Ref": "AWS::NoValue"}:
        return _find_in_map(node["Fn::If"][1])
    if isinstance(node, dict) and set(node) == {"Fn::FindInMap"}:
        name, key, attribute = node["Fn::FindInMap"]
        if name == "Capacity" and key == {"Ref": PARAMETER}:
            return str(attribute)
    return None


def _function_url_and_api_functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}


def _capacity_values(template: dict[str, Any]) -> dict[str, Any]:
    """Every throttle and limit the template sets, by where it is set, as written or as resolved."""
    resources = template["Resources"]
    found: dict[str, Any] = {}
    for name, res in resources.items():
        properties = res.get("Properties") or {}
        if res["Type"] == "AWS::Serverless::Api":
            for setting in properties["MethodSettings"]:
                route = f"{setting['HttpMethod']} {setting['ResourcePath']}"
                found[f"stage rate {route}"] = setting["ThrottlingRateLimit"]
                found[f"stage burst {route}"] = setting["ThrottlingBurstLimit"]
        elif res["Type"] == "AWS::ApiGateway::UsagePlan":
            found["usage plan rate"] = properties["Throttle"]["RateLimit"]
            found["usage plan burst"] = properties["Throttle"]["BurstLimit"]
            found["usage plan quota"] = properties["Quota"]["Limit"]
        elif res["Type"] == "AWS::WAFv2::WebACL":
            for rule in properties["Rules"]:
                found[f"waf {rule['Name']}"] = rule["Statement"]["RateBasedStatement"]["Limit"]
        elif res["Type"] == "AWS::Serverless::Function":
            found[f"reserved concurrency {name}"] = properties.get("ReservedConcurrentExecutions")
            variables = (properties.get("Environment") or {}).get("Variables") or {}
            for variable in ("LIMITS", "GLOBAL_BUDGET_SHARDS"):
                if variable in variables:
                    found[f"{variable} {name}"] = variables[variable]
    return found


def _resolved(profile: str, **parameters: str) -> dict[str, Any]:
    from sandbox.local_aws import conditions

    values = conditions.parameter_values(SOURCE, {PARAMETER: profile, **WITH_EVERY_CAP, **parameters})
    return _capacity_values(conditions.resolve(SOURCE, values, specialise=True))


def _limits_of(profile: str) -> limits.Limits:
    return limits.parse_limits(*start_budgets({PARAMETER: profile}))


def test_every_throttle_and_limit_reads_the_capacity_profile_of_peak_starts_per_second() -> None:
    written = _capacity_values(SOURCE)
    limits_env = {k: v for k, v in written.items() if k.startswith("LIMITS ")}

    not_derived = {where: value for where, value in written.items()
                   if where not in limits_env and _find_in_map(value) is None}

    assert not_derived == {}
    assert {k: _find_in_map(v["Fn::If"][1]["Fn::Sub"][1]["PerDay"]) for k, v in limits_env.items()} == {
        k: "GlobalStartsPerDay" for k in limits_env}
    assert {"usage plan rate", "waf start-check-rate", "stage rate POST /~1checks", "stage rate * /*"} <= set(written)
    assert sum(where.startswith("reserved concurrency") for where in written) == len(
        _function_url_and_api_functions(SOURCE["Resources"]))


@pytest.mark.parametrize("profile", PROFILES)
def test_post_checks_is_throttled_at_the_profiles_peak(profile: str) -> None:
    values = _resolved(profile)

    assert values["stage rate POST /~1checks"] == values["usage plan rate"] == int(profile)


def test_every_throttle_and_limit_grows_with_the_peak() -> None:
    """From one profile to the next, nothing that caps traffic shrinks, and the start rate, the
    concurrency and the global budget grow: a higher peak is never capped by a lower profile's figure."""
    by_profile = [_resolved(profile) for profile in sorted(PROFILES, key=int)]
    budgets = [_limits_of(profile) for profile in sorted(PROFILES, key=int)]

    for lower, higher in itertools.pairwise(by_profile):
        numeric = [where for where, value in lower.items() if isinstance(value, int)]
        assert [w for w in numeric if higher[w] < lower[w]] == []
        assert [w for w in numeric if w.startswith(("reserved concurrency", "stage rate POST"))
                and higher[w] <= lower[w]] == []
    counts = [b.budgets["global"].count for b in budgets]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_a_limits_parameter_given_overrides_the_profiles_budgets() -> None:
    given = '{"number": {"count": 3, "window_seconds": 60}}'

    assert start_budgets({PARAMETER: HIGH_PROFILE, "Limits": given})[0] == given


@pytest.mark.parametrize("profile", PROFILES)
def test_each_global_budget_shard_takes_a_tenth_of_a_partition_at_the_peak(profile: str) -> None:
    shards = _limits_of(profile).global_shards

    assert int(profile) / shards <= PARTITION_WRITES_PER_SECOND * SHARE_OF_A_PARTITION


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_transforms_with_its_own_reserved_concurrency(profile: str) -> None:
    transformed = transform_offline(SOURCE, {PARAMETER: profile, **WITH_EVERY_CAP})

    reserved = {name: res["Properties"].get("ReservedConcurrentExecutions")
                for name, res in transformed["Resources"].items() if res["Type"] == "AWS::Lambda::Function"}
    assert reserved and all(isinstance(n, int) and n >= int(profile) for n in reserved.values()), reserved


def test_every_profile_passes_cfn_lint_after_the_transform(tmp_path: Path) -> None:
    """What the deploy rehearsal checks for its parameter sets, for every capacity profile (WAF, reservations on)."""
    paths = [write_json(transform_offline(SOURCE, {PARAMETER: profile, **WITH_EVERY_CAP}), tmp_path / f"{profile}.json")
             for profile in PROFILES]

    found = cfn_lint_all(paths)

    accepted = {"I3042"}  # SAM writes its ARNs with the transform region's partition (test_template.py)
    assert {path.stem: [str(f) for f in findings if f.rule not in accepted] for path, findings in found.items()} == {
        profile: [] for profile in PROFILES}


def test_one_second_at_the_high_profiles_peak_spreads_its_writes_over_the_key_space() -> None:
    """One window of the high profile: a second of starts, each from its own number and address, as at a
    national launch. Every counter key is a `limit#` key; the global budget's writes are spread over its
    shards, none near a partition's 1,000 writes a second; each number, address and pair has its own key."""
    budgets = _limits_of(HIGH_PROFILE)
    counters, written = FakeCounters(), Counter[str]()
    take = counters.take

    def counting(scope: str, subject: str, window: int, count: int, window_end: int) -> bool:
        written[keys.limit(scope, subject, window)] += 1
        return take(scope, subject, window, count, window_end)

    admit = counters.admit

    def admitting(scope: str, subject: str, member: str, window: int, count: int, window_end: int) -> bool:
        written[keys.limit(scope, subject, window)] += 1
        return admit(scope, subject, member, window, count, window_end)

    counters.take = counting  # type: ignore[method-assign]
    counters.admit = admitting  # type: ignore[method-assign]
    peak = int(HIGH_PROFILE)
    for n in range(peak):
        limits.spend(budgets, PEPPER, f"+4474009{n:05d}", f"10.{n // 250}.{n % 250}.1", 1_900_000_000, counters)

    by_scope = Counter(key.split("#")[1] for key in written)
    hottest = max(n for key, n in written.items() if key.startswith(f"{keys.LIMIT}global#"))
    assert all(key.startswith(keys.LIMIT) for key in written)
    assert by_scope == {"ip": peak, "number_address": peak, "number": peak, "global": budgets.global_shards}
    assert hottest <= PARTITION_WRITES_PER_SECOND * SHARE_OF_A_PARTITION * 2
    assert json.dumps(sorted(written)).count(PEPPER) == 0
