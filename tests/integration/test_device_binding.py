"""The device-binding rule (docs/security.md, device binding), end to end for every provider whose flow has a
device hop (tru.ID PhoneCheck v0.2, CAMARA's authorization code flow, Infobip's redirect flow): the verdict
is shown only to the holder of the poll token *and* of the completion code the device received at the end of
the check URL's chain, and only the phone holding the number's SIM verifies it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import App
from tests.integration.device_flows import DEVICE_FLOWS, DeviceFlow, opened, prepare, settle, start


@pytest.fixture(params=DEVICE_FLOWS)
def flow(request: pytest.FixtureRequest, app: App) -> Iterator[DeviceFlow]:
    chosen: DeviceFlow = request.param
    prepare(app, chosen)
    yield chosen
    settle(app, chosen)


def test_the_phone_holding_the_sim_verifies_with_the_completion_code(app: App, flow: DeviceFlow):
    check = start(app, flow)

    polled = app.poll(check, code=opened(app, flow, check, flow.number))

    assert polled.status_code == 200
    view = polled.json()
    assert (view["status"], view["binding"], view["provider"]) == ("VERIFIED", "device", flow.provider)
    assert "completed_at" in view


def test_a_verified_check_reads_pending_without_the_completion_code(app: App, flow: DeviceFlow):
    check = start(app, flow)
    opened(app, flow, check, flow.number)

    view = app.poll(check).json()

    assert (view["status"], view.get("reason"), view.get("binding"), view.get("completed_at")) == (
        "PENDING", None, None, None)


def test_a_phone_holding_another_sim_is_not_verified(app: App, flow: DeviceFlow):
    check = start(app, flow)

    code = opened(app, flow, check, flow.other_sim)

    assert app.poll(check, code=code).json()["status"] == "NOT_VERIFIED"


def test_a_wrong_completion_code_is_refused(app: App, flow: DeviceFlow):
    check = start(app, flow)
    opened(app, flow, check, flow.number)

    response = app.poll(check, code="not-the-code")

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "COMPLETION_CODE_INVALID"


def test_the_completion_code_of_another_check_does_not_open_this_one(app: App, flow: DeviceFlow):
    mine, theirs = start(app, flow), start(app, flow)
    opened(app, flow, mine, flow.number)
    their_code = opened(app, flow, theirs, flow.number)

    assert app.poll(mine, code=their_code).status_code == 403
