"""Flows with binding `none` verify whoever gets the check URL opened on the right phone (tru.ID v0.1: whoever
polls; Infobip's no-redirect flow: whoever starts the check from it). A deployment that did not choose them
(AllowUnboundChecks, off by default) never starts them, so such a VERIFIED never exists."""

from __future__ import annotations

import requests

from sandbox.device import bound_session
from tests.integration.conftest import App

UK, BRAZIL = "+447400900002", "+5511987650012"


def test_truid_v01_is_never_started_unless_the_deployment_allows_unbound_checks(app: App):
    app.stack.configure_truid(api_version="v0.1")
    app.stack.configure_routing({"default": ["truid"]})

    created = app.started(UK)

    assert (created["status"], created["reason"], created["check_url"]) == ("FAILED", "PROVIDER_REJECTED", None)
    assert app.truid_checks_created() == []  # refused before tru.ID was asked (or billed)


def test_truid_v01_refused_falls_back_to_a_provider_that_binds_the_device(app: App):
    app.stack.configure_truid(api_version="v0.1")

    created = app.started(UK)  # the sandbox routes the UK to tru.ID, then Infobip

    assert (created["provider"], created["binding"], created["status"]) == ("infobip", "device", "PENDING")


def test_infobips_no_redirect_flow_never_verifies_unless_the_deployment_allows_unbound_checks(app: App):
    app.stack.configure_infobip()
    requests.delete(f"{app.stack.infobip.base_url}/_sandbox/delivery", timeout=5)
    with bound_session(app.phone(BRAZIL).ip) as phone:  # started from the phone itself, as the flow needs
        created = phone.post(f"{app.api}/checks", json={"phone_number": BRAZIL, "provider": "infobip"},
                             headers=app.backend_headers, timeout=15).json()
    app.stack.infobip_simulator.courier.wait_idle(10)  # Infobip's VALID callback has come and gone

    assert (created["status"], created["reason"]) == ("FAILED", "PROVIDER_REJECTED")
    assert app.poll(created).json()["status"] == "FAILED"
