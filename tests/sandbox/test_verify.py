"""`python -m sandbox verify` (sandbox/verify.py) runs each provider's flow end to end against the stack."""

from sandbox.verify import verify
from tests.integration import conftest as integration
from tests.integration.conftest import App

# The whole stack as the integration tests have it: their fixtures (two of them autouse), not copies.
app = integration.app
_fresh_providers = integration._fresh_providers
_within_function_timeouts = integration._within_function_timeouts


def _quiet(_: str) -> None:
    pass


def test_verify_runs_a_truid_check_to_verified(app: App):
    view = verify(app.api, app.stack.network.base_url, "+447400900002",
                  api_key=app.stack.api_key, say=_quiet)

    assert (view["status"], view["binding"]) == ("VERIFIED", "device")


def test_verify_runs_a_camara_check_to_verified(app: App):
    view = verify(app.api, app.stack.network.base_url, "+34600000012", provider="camara",
                  api_key=app.stack.api_key, say=_quiet)

    assert (view["status"], view["binding"]) == ("VERIFIED", "device")


def test_verify_runs_an_infobip_check_to_verified_through_callback_and_return(app: App):
    view = verify(app.api, app.stack.network.base_url, "+447400900112", provider="infobip",
                  api_key=app.stack.api_key, say=_quiet)

    assert (view["status"], view["binding"]) == ("VERIFIED", "device")


def test_verify_with_an_operator_token_verifies_a_phone_on_wifi(app: App):
    view = verify(app.api, app.stack.network.base_url, "+34600000012", provider="camara", bearer="wifi",
                  operator_token_url=app.stack.camara.base_url, api_key=app.stack.api_key, say=_quiet)

    assert (view["status"], view["binding"]) == ("VERIFIED", "operator_token")


def test_verify_calls_the_api_from_the_phone_so_infobips_ok_flow_sees_its_address(app: App):
    app.stack.configure_api(allow_unbound_checks=True)  # the OK flow has binding none, as `make run` allows
    view = verify(app.api, app.stack.network.base_url, "+5511987650012", api_key=app.stack.api_key, say=_quiet)

    assert (view["status"], view["binding"]) == ("VERIFIED", "none")


def test_verify_reports_the_steps_it_took(app: App):
    lines: list[str] = []

    verify(app.api, app.stack.network.base_url, "+34600000012", provider="camara", api_key=app.stack.api_key,
           say=lines.append)

    assert lines[0].startswith("phone   holds SIM +34600000012 on cellular (127.64.")
    assert lines[1] == "app     POST /checks +34600000012 via camara -> 201"
    poll_line = next(i for i, line in enumerate(lines) if line.startswith("app     GET /checks/{id}"))
    assert lines[poll_line].startswith("app     GET /checks/{id} -> VERIFIED")
    assert lines[poll_line + 1].startswith("backend attestation verified (ES256")
    assert "          phone_number  +34600000012" in lines[poll_line + 2:]


def test_verify_shows_a_sim_swapped_12_hours_ago_within_24_hours_and_not_within_6(app: App):
    said: list[str] = []

    swapped = verify(app.api, app.stack.network.base_url, "+447400900002", sim_swap_hours=24,
                     sim_changed_hours_ago=12, api_key=app.stack.api_key, say=said.append)
    not_swapped = verify(app.api, app.stack.network.base_url, "+447400900002", sim_swap_hours=6,
                         sim_changed_hours_ago=12, api_key=app.stack.api_key, say=_quiet)

    assert (swapped["status"], swapped["sim_swap"]["swapped"], not_swapped["sim_swap"]["swapped"]) == (
        "VERIFIED", True, False)
    assert any(line.strip().startswith("sim_swap SWAPPED within 24 h") for line in said)
