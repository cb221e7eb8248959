"""Requirements 2, 16, 33 and 34 over everything: every provider's flow runs once, then every response
the app got, every item in the table and every captured log line is searched for every number, token,
code and secret those flows handled (not chosen fields or strings)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox import stack as stacks
from silentcheck import phone, tokens
from tests.integration.conftest import App, completion_code, sandbox_time
from tests.integration.test_camara_operator_token import poll_until_final

TRUID, TRUID_V01, CAMARA, CIBA, INFOBIP = ("+447400900002", "+447400900202", "+34600000012", "+34600000056",
                                           "+447400900112")
PHONE_NUMBER = re.compile(r"\+?\d{7,15}")  # requirement 34's pattern
E164 = re.compile(r"\+[1-9]\d{6,14}")
LAMBDA_CONTEXT_KEYS = frozenset({"function_arn", "function_request_id", "xray_trace_id", "function_memory_size",
                                 "timestamp"})
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass
class Flows:
    numbers: dict[str, str] = field(default_factory=dict)  # check_id -> the number it was started for
    responses: list[Any] = field(default_factory=list)  # every body the app or the phone got from our API
    secrets: set[str] = field(default_factory=set)  # every token, code and credential the flows handled
    provider_ids: set[str] = field(default_factory=set)
    logs: str = ""


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def _started(app: App, flows: Flows, number: str, **body: Any) -> dict[str, Any]:
    response = app.start(number, **body)
    assert response.status_code == 201, response.text
    check: dict[str, Any] = response.json()
    flows.numbers[check["check_id"]] = number
    flows.responses.append({k: v for k, v in check.items() if k != "check_url"})  # the provider's own URL
    flows.secrets.add(check["poll_token"])
    return check


def _device_bound(app: App, flows: Flows, number: str, **body: Any) -> None:
    check = _started(app, flows, number, **body)
    opened = app.phone(number).open(check["check_url"])
    code = completion_code(opened)
    flows.responses += [opened.json, app.poll(check, code).json()]
    flows.secrets |= {code, *(_query(hop.url).get("state", "") for hop in opened.hops)} - {""}


def _run_every_flow(app: App) -> Flows:
    flows = Flows()
    _device_bound(app, flows, TRUID, provider="truid")
    _device_bound(app, flows, CAMARA, provider="camara")
    app.stack.configure_infobip()
    _device_bound(app, flows, INFOBIP, provider="infobip")
    assert app.stack.infobip_simulator.courier.wait_idle(10)
    operator_token = app.operator_token(CIBA)
    flows.secrets.add(operator_token)
    ciba = _started(app, flows, CIBA, operator_token=operator_token)
    with sandbox_time(app.stack) as advance:
        flows.responses.append(poll_until_final(app, ciba, advance))
    app.stack.configure_truid(api_version="v0.1")
    app.stack.configure_api(allow_unbound_checks=True)  # v0.1: binding none
    v01 = _started(app, flows, TRUID_V01, provider="truid")
    app.phone(TRUID_V01).open(v01["check_url"])
    flows.responses.append(app.poll(v01).json())

    stack = app.stack
    flows.secrets |= set(stack.camara_simulator.tokens.issued())  # access tokens
    for call in app.camara_requests():
        form = parse_qs(call["body"])
        flows.secrets |= {*form.get("code", []), *form.get("code_verifier", []), *form.get("client_assertion", []),
                          *form.get("auth_req_id", [])}
    for call in app.truid_requests():
        if call["method"] == "PATCH":
            flows.secrets |= {op["value"] for op in json.loads(call["body"])}  # tru.ID's codes
        if call["method"] == "POST" and call["path"].endswith("/checks"):
            flows.secrets.add(json.loads(call["body"])["callback_url"].rpartition(".")[2])  # capability secret
    infobip_calls = requests.get(f"{stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    flows.secrets |= {json.loads(c["body"])["callbackUrl"].rpartition(".")[2] for c in infobip_calls
                      if c["path"] == "/mi/verification/1/verify"}
    flows.secrets |= {stack.secret_value["pepper"], stack.secret_value["infobip"]["api_key"],
                      stack.secret_value["camara"]["client_secret"], stack.camara_key_pem,
                      stack.callback_secret_value["truid"]["client_secret"]}
    flows.provider_ids |= {str(c["check_id"]) for c in stack.truid_simulator.check_summaries()}
    flows.provider_ids |= {str(c["token"]) for c in
                           requests.get(f"{stack.infobip.base_url}/_sandbox/checks", timeout=5).json()}
    return flows


@pytest.fixture(scope="module")
def flows(stack: stacks.Stack) -> Iterator[Flows]:
    """Every flow once, from a clean configuration, with every log line the functions write captured."""
    from silentcheck.observability import logger

    for configure in (stack.configure_truid, stack.configure_camara, stack.configure_infobip,
                      stack.configure_routing, stack.configure_limits, stack.reset_counters):
        configure()
    for simulator in (stack.truid, stack.camara, stack.infobip):
        requests.delete(f"{simulator.base_url}/_sandbox/requests", timeout=5)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(handler)
    try:
        ran = _run_every_flow(App(stack))
    finally:
        logging.getLogger(logger.service).removeHandler(handler)
        stack.configure_truid()
    ran.logs = stream.getvalue()
    yield ran


def _strings(value: Any) -> Iterator[str]:
    """Every string in a DynamoDB item (S, SS, L and M values, keys included); B (sealed) and N are skipped."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "S":
                yield str(inner)
            elif key == "SS":
                yield from map(str, inner)
            elif key not in ("B", "N", "BS", "NS"):
                yield key
                yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _all_items(app: App) -> list[dict[str, Any]]:
    """Every item of the table, whatever test wrote it."""
    return app.items("")


def test_req02_no_response_to_the_app_carries_a_provider_id(app: App, flows: Flows):
    seen = json.dumps(flows.responses)

    assert flows.provider_ids and sorted(i for i in flows.provider_ids if i in seen) == []


def test_req33_no_item_holds_a_plaintext_number_or_a_hashed_phone_number(app: App, flows: Flows):
    forms = {form for number in flows.numbers.values()
             for form in (number, number.lstrip("+"), hashlib.sha256(number.encode()).hexdigest())}
    strings = [text for item in _all_items(app) for text in _strings(item)]

    assert strings and [t for t in strings if E164.search(t)] == []
    assert [t for t in strings if any(form in t for form in forms)] == []


def test_req33_lookup_keys_are_the_hmac_of_the_number_under_the_pepper(app: App, flows: Flows):
    pepper = app.stack.secret_value["pepper"]

    keys = {check_id: app.item(check_id)["number_key"]["S"] for check_id in flows.numbers}

    assert keys == {check_id: phone.number_key(pepper, number) for check_id, number in flows.numbers.items()}


def test_req16_no_item_holds_a_token_code_or_secret_the_flows_handled(app: App, flows: Flows):
    strings = "\n".join(text for item in _all_items(app) for text in _strings(item))

    assert len(flows.secrets) > 10 and sorted(s[:8] for s in flows.secrets if s in strings) == []


def test_req34_no_log_line_holds_an_unmasked_number_token_code_or_secret(flows: Flows):
    lines = flows.logs.splitlines()
    check_ids = set(flows.numbers)

    def without_ids(line: str) -> str:
        """The line without what is an id by construction: the Lambda context Powertools adds (the function
        ARN holds the 12-digit account id), UUIDs (request ids, x-correlators) and our check ids."""
        logged = {k: v for k, v in json.loads(line).items() if k not in LAMBDA_CONTEXT_KEYS}
        text = json.dumps(logged)
        for check_id in check_ids:
            text = text.replace(check_id, "")
        return UUID.sub("", text)

    assert len(lines) > 10
    assert [line for line in lines if PHONE_NUMBER.search(without_ids(line))] == []
    assert sorted(s[:8] for s in flows.secrets if s in flows.logs) == []


def test_req01_only_the_sha256_of_the_poll_token_is_stored(app: App, flows: Flows):
    poll_hashes = {check_id: app.item(check_id)["poll_token_hash"]["S"] for check_id in flows.numbers}

    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in poll_hashes.values())
    assert len({tokens.digest(s) for s in flows.secrets} & set(poll_hashes.values())) == len(poll_hashes)
