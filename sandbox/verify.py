"""Run one check as an app and a phone would, printing each step."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import requests

from sandbox.device import Phone

POLL_ATTEMPTS = 10
POLL_INTERVAL_SECONDS = 0.5


def verify(api_url: str, network_url: str, phone_number: str, *, sim: str | None = None,
           bearer: Literal["cellular", "wifi"] = "cellular", say: Callable[[str], None] = print) -> dict[str, Any]:
    """Start a check for `phone_number`, open its check_url on a phone holding `sim`, poll the result."""
    with requests.Session() as app:
        app.trust_env = False
        started = app.post(f"{api_url}/checks", json={"phone_number": phone_number}, timeout=30)
        say(f"app     POST /checks {phone_number} -> {started.status_code}")
        body: dict[str, Any] = started.json()
        if started.status_code != 201:
            say(f"        {body.get('code')}: {body.get('detail')}")
            return body
        say(f"        check {body['check_id'][:12]}… {body['status']} via {body['provider']}, "
            f"expires {body['expires_at']}")
        if body["status"] != "PENDING" or not body.get("check_url"):
            say(f"result  {body['status']} {body.get('reason', '')}".rstrip())
            return body

        phone = Phone.join(network_url, sim or phone_number, bearer)
        say(f"phone   holds SIM {phone.sim} on {phone.bearer} ({phone.ip})")
        opened = phone.open(body["check_url"])
        for hop in opened.hops:
            say(f"phone   {hop.method} {hop.url.split('?')[0]} -> {hop.status}")
        if opened.error:
            say(f"phone   {opened.error}: {opened.error_description}")
        completion_code = (opened.json or {}).get("completion_code") if isinstance(opened.json, dict) else None
        say("phone   received a completion code" if completion_code else "phone   no completion code")

        headers = {"Authorization": f"Bearer {body['poll_token']}"}
        params = {"code": completion_code} if completion_code else {}
        view: dict[str, Any] = {}
        for _ in range(POLL_ATTEMPTS):
            polled = app.get(f"{api_url}/checks/{body['check_id']}", headers=headers, params=params, timeout=30)
            view = polled.json()
            if polled.status_code != 200 or view.get("status") != "PENDING":
                break
            time.sleep(POLL_INTERVAL_SECONDS)
        say(f"app     GET /checks/{{id}} -> {view.get('status')} {view.get('reason', '')}".rstrip()
            + (f" (binding: {view['binding']})" if view.get("binding") else ""))
        return view
