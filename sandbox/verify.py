"""Run one check as an app and a phone would, printing each step."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import requests

from sandbox.device import Phone, bound_session

POLL_ATTEMPTS = 20
POLL_INTERVAL_SECONDS = 0.5


def verify(api_url: str, network_url: str, phone_number: str, *, sim: str | None = None,
           bearer: Literal["cellular", "wifi"] = "cellular", provider: str | None = None,
           operator_token_url: str | None = None, api_key: str | None = None, sim_swap_hours: int | None = None,
           sim_changed_hours_ago: float | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Start a check for `phone_number` from an app on a phone holding `sim`, open its check_url on that
    phone, poll the result. The app calls the API from the phone's own address, as a mobile app does, so
    flows that look at the caller's IP (Infobip's OK flow, the coverage pre-check) see the phone.

    With `operator_token_url` (the simulated aggregator), the phone first gets a TS.43 operator token
    for its SIM and the check runs CAMARA's CIBA flow: nothing to open, the app only polls. With
    `sim_swap_hours` the check also asks whether the SIM changed within that many hours; the phone's SIM took
    the number `sim_changed_hours_ago` hours ago (None: never changed)."""
    phone = Phone.join(network_url, sim or phone_number, bearer, sim_changed_hours_ago=sim_changed_hours_ago)
    changed = "never changed" if sim_changed_hours_ago is None else f"took the number {sim_changed_hours_ago:g} h ago"
    say(f"phone   holds SIM {phone.sim} on {phone.bearer} ({phone.ip}); the SIM {changed}")
    with bound_session(phone.ip) as app:
        body: dict[str, Any] = {"phone_number": phone_number}
        if provider:
            body["provider"] = provider
        if sim_swap_hours is not None:
            body["sim_swap"] = {"max_age_hours": sim_swap_hours}
        if operator_token_url:
            minted = app.post(f"{operator_token_url}/_sandbox/operator-tokens", json={"msisdn": sim or phone_number},
                              timeout=30)
            minted.raise_for_status()
            body["operator_token"] = minted.json()["operator_token"]
            say(f"phone   got a TS.43 operator token for SIM {sim or phone_number} (no mobile data needed)")
        started = app.post(f"{api_url}/checks", json=body, timeout=30,
                           headers={"x-api-key": api_key} if api_key else None)
        say(f"app     POST /checks {phone_number}{' via ' + provider if provider else ''} -> {started.status_code}")
        body = started.json()
        if started.status_code != 201:
            say(f"        {body.get('code')}: {body.get('detail')}")
            return body
        say(f"        check {body['check_id'][:12]}… {body['status']} via {body['provider']}, "
            f"expires {body['expires_at']}")
        if body["status"] != "PENDING":
            say(f"result  {body['status']} {body.get('reason', '')}".rstrip())
            return body
        if not body.get("check_url"):
            say(f"        no check_url: binding {body.get('binding')}, the app just polls")
            return _poll(app, api_url, body, None, say)

        opened = phone.open(body["check_url"])
        for hop in opened.hops:
            say(f"phone   {hop.method} {hop.url.split('?')[0]} -> {hop.status}")
        if opened.error:
            say(f"phone   {opened.error}: {opened.error_description}")
        completion_code = (opened.json or {}).get("completion_code") if isinstance(opened.json, dict) else None
        if completion_code:
            say("phone   received a completion code")
            return _poll(app, api_url, body, completion_code, say)
        say("phone   no completion code: whatever the verdict, a poll reads PENDING, then EXPIRED at expires_at")
        return _poll(app, api_url, body, None, say, attempts=1)


def _poll(app: requests.Session, api_url: str, created: dict[str, Any], completion_code: str | None,
          say: Callable[[str], None], attempts: int = POLL_ATTEMPTS) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {created['poll_token']}"}
    params = {"code": completion_code} if completion_code else {}
    view: dict[str, Any] = {}
    for _ in range(attempts):
        polled = app.get(f"{api_url}/checks/{created['check_id']}", headers=headers, params=params, timeout=30)
        view = polled.json()
        if polled.status_code != 200 or view.get("status") != "PENDING":
            break
        time.sleep(POLL_INTERVAL_SECONDS)
    say(f"app     GET /checks/{{id}} -> {view.get('status')} {view.get('reason', '')}".rstrip()
        + (f" (binding: {view['binding']})" if view.get("binding") else ""))
    if isinstance(view.get("sim_swap"), dict):
        say(f"        sim_swap {_sim_swap_text(view['sim_swap'])}")
    if view.get("attestation"):
        _show_attestation(api_url, str(view["attestation"]), say)
    return view


def _show_attestation(api_url: str, attestation: str, say: Callable[[str], None]) -> None:
    """What the customer's backend does with the attestation: verify it against the JWKS, then read it."""
    import jwt

    from sandbox.local_aws.conditions import parameter_values
    from sandbox.local_aws.template import TEMPLATE_PATH, load_template

    audience = parameter_values(load_template(TEMPLATE_PATH))["AttestationAudience"]
    signing_key = jwt.PyJWKClient(f"{api_url}/.well-known/jwks.json", timeout=10).get_signing_key_from_jwt(attestation)
    claims = jwt.decode(attestation, signing_key.key, algorithms=["ES256"], audience=audience, issuer=api_url,
                        options={"require": ["iss", "aud", "sub", "jti", "iat", "exp"]})
    say(f"backend attestation verified (ES256, kid {signing_key.key_id}) against {api_url}/.well-known/jwks.json:")
    for name in ("iss", "aud", "sub", "phone_number", "jti", "status", "reason", "binding", "provider", "sim_swap",
                 "iat", "exp"):
        if name in claims:
            say(f"          {name:<13} {claims[name]}")


def _sim_swap_text(answer: dict[str, Any]) -> str:
    hours = answer.get("max_age_hours")
    if answer.get("swapped") is None:
        return f"no answer within {hours} h ({answer.get('reason')})"
    within = f", last change within {answer['changed_within_hours']} h" if "changed_within_hours" in answer else ""
    return f"{'SWAPPED' if answer['swapped'] else 'not swapped'} within {hours} h{within}"
