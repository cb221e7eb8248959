"""The OAuth client duties of the CAMARA leg: security requirements 8-18
(docs/security.md, the requirements table), one or more tests each, through the real handlers."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest
import requests

from silentcheck import clock
from silentcheck.providers import camara_config, oauth
from tests.integration.conftest import App, completion_code
from tests.integration.test_camara_auth_code import (
    NUMBER,
    _query,
    return_url_without_following,
    start,
    verified_on_own_phone,
)
from tests.integration.test_camara_operator_token import poll_until_final

CIBA_NUMBER = "+34600000056"
ID_TOKEN_DEFECTS = ["bad_signature", "alg_none", "hs256", "wrong_iss", "wrong_aud", "expired", "nonce_mismatch",
                    "missing_iat", "missing_sub", "unknown_kid", "missing"]


def _device_return(url: str) -> requests.Response:
    return requests.get(url, headers={"Accept": "application/json"}, timeout=15)


# 8 -------------------------------------------------------------------------------------------------

def test_req08_authorize_url_has_prompt_none_exact_redirect_uri_state_nonce_and_s256(app: App):
    query = _query(start(app)["check_url"])

    assert query["response_type"] == "code" and query["prompt"] == "none"
    assert query["redirect_uri"] == f"{app.api}/checks/return"
    assert query["code_challenge_method"] == "S256"
    assert query["client_id"] == app.stack.secret_value["camara"]["client_id"]
    assert len(query["state"].partition(".")[2]) >= 43 and len(query["nonce"]) >= 43  # 256 bits each


def test_req08_scope_is_exactly_the_configured_nv_scope_with_its_purpose(app: App):
    query = _query(start(app)["check_url"])

    assert query["scope"] == "openid dpv:FraudPreventionAndDetection number-verification:verify"


def test_req08_the_number_is_in_no_url_unless_login_hint_is_configured(app: App):
    check_url = start(app)["check_url"]

    assert NUMBER not in check_url and NUMBER.lstrip("+") not in check_url


def test_req08_the_old_dpv_hash_scope_form_is_sent_as_configured(app: App):
    app.stack.configure_camara(scope="dpv:FraudPreventionAndDetection#number-verification-verify-read")

    check = start(app)
    polled = app.poll(check, completion_code(app.phone(NUMBER).open(check["check_url"])))

    assert _query(check["check_url"])["scope"] == "dpv:FraudPreventionAndDetection#number-verification-verify-read"
    assert polled.json()["status"] == "VERIFIED"


# 9 -------------------------------------------------------------------------------------------------

def test_req09_code_challenge_is_s256_of_the_verifier_sent_at_the_token_endpoint(app: App):
    check, _ = verified_on_own_phone(app)

    challenge = _query(check["check_url"])["code_challenge"]
    (token_call,) = app.camara_requests("/token")
    verifier = parse_qs(token_call["body"])["code_verifier"][0]
    assert oauth.pkce_challenge(verifier) == challenge
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)


def test_req09_the_verifier_is_derived_server_side_from_the_state(app: App):
    check = start(app)

    query = _query(check["check_url"])
    assert oauth.pkce_challenge(camara_config.code_verifier(query["state"])) == query["code_challenge"]


# 10 ------------------------------------------------------------------------------------------------

def test_req10_an_unknown_state_is_refused_with_no_token_call(app: App):
    start(app)

    response = _device_return(f"{app.api}/checks/return?state=nope.forged&code=abc")

    assert response.status_code == 400 and app.camara_requests("/token") == []


def test_req10_a_used_state_is_refused_with_no_second_token_call(app: App):
    check = start(app)
    final_url = return_url_without_following(app, check)
    assert _device_return(final_url).status_code == 200

    replay = _device_return(final_url)

    assert replay.status_code == 400 and len(app.camara_requests("/token")) == 1


def test_req10_an_expired_state_is_refused_with_no_token_call(app: App, monkeypatch: pytest.MonkeyPatch):
    check = start(app)
    final_url = return_url_without_following(app, check)

    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)

    assert _device_return(final_url).status_code == 400
    assert app.camara_requests("/token") == []


# 11 ------------------------------------------------------------------------------------------------

def test_req11_concurrent_returns_with_one_state_make_exactly_one_token_request(app: App):
    check = start(app)
    final_url = return_url_without_following(app, check)

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(r.status_code for r in pool.map(lambda _: _device_return(final_url), range(4)))

    assert statuses == [200, 400, 400, 400]
    assert len(app.camara_requests("/token")) == 1


# 12 ------------------------------------------------------------------------------------------------

def test_req12_an_iss_other_than_the_issuer_fails_the_check_with_no_token_call(app: App):
    app.camara_fault("authorize", iss="https://mix-up.example")
    check = start(app)

    opened = app.phone(NUMBER).open(check["check_url"])

    view = app.poll(check, completion_code(opened)).json()
    assert (view["status"], view["reason"]) == ("FAILED", "REDIRECT_FAILED")
    assert app.camara_requests("/token") == []


def test_req12_a_missing_iss_fails_when_the_metadata_promises_it(app: App):
    metadata = requests.get(f"{app.stack.camara.base_url}/.well-known/openid-configuration", timeout=5).json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    app.camara_fault("authorize", omit_iss=True)
    check = start(app)

    opened = app.phone(NUMBER).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["reason"] == "REDIRECT_FAILED"
    assert app.camara_requests("/token") == []


def test_req12_a_missing_iss_is_accepted_when_configured_as_not_required(app: App):
    app.stack.configure_camara(require_iss=False)
    app.camara_fault("authorize", omit_iss=True)

    _, polled = verified_on_own_phone(app)

    assert polled.json()["status"] == "VERIFIED"


# 13 ------------------------------------------------------------------------------------------------

def test_req13_an_error_return_reflects_no_request_parameter(app: App):
    check = start(app)
    state = _query(check["check_url"])["state"]
    injected = "<img src=x onerror=alert(1)>"

    response = _device_return(f"{app.api}/checks/return?state={state}&error=access_denied"
                              f"&error_description={injected}&iss={app.stack.camara.base_url}")
    html = requests.get(f"{app.api}/checks/return?state={state}&error={injected}", timeout=15)

    assert response.status_code == 200 and injected not in response.text and "access_denied" not in response.text
    assert injected not in html.text
    assert app.poll(check, response.json()["completion_code"]).json()["status"] == "FAILED"
    assert app.camara_requests("/token") == []


# 14 ------------------------------------------------------------------------------------------------

def test_req14_token_request_uses_basic_auth_the_same_redirect_uri_and_the_verifier(app: App):
    check, _ = verified_on_own_phone(app)

    (token_call,) = app.camara_requests("/token")
    form = {k: v[0] for k, v in parse_qs(token_call["body"]).items()}
    assert token_call["headers"]["Authorization"] == "Basic"
    assert set(form) == {"grant_type", "code", "redirect_uri", "code_verifier"}
    assert form["grant_type"] == "authorization_code"
    assert form["redirect_uri"] == _query(check["check_url"])["redirect_uri"]
    assert token_call["query"] == {}


def test_req14_the_client_secret_is_in_no_request_body_or_url(app: App):
    verified_on_own_phone(app)

    secret = app.stack.secret_value["camara"]["client_secret"]
    assert all(secret not in json.dumps([e["path"], e["query"], e["body"]]) for e in app.camara_requests())


# 15 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("defect", ID_TOKEN_DEFECTS)
def test_req15_a_defective_id_token_fails_the_check_and_verify_is_never_called(app: App, defect):
    app.camara_fault("token", id_token=defect)

    _, polled = verified_on_own_phone(app)

    assert (polled.json()["status"], polled.json()["reason"]) == ("FAILED", "PROVIDER_ERROR")
    assert app.camara_requests("/verify") == []


def test_req15_a_ciba_token_response_without_the_id_token_openid_asked_for_fails(app: App, advance):
    app.camara_fault("token", id_token="missing")
    response = app.start(CIBA_NUMBER, operator_token=app.operator_token(CIBA_NUMBER))
    assert response.status_code == 201, response.text

    view = poll_until_final(app, response.json(), advance)

    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")
    assert app.camara_requests("/verify") == []


def test_req15_no_id_token_is_needed_when_openid_was_not_asked_for(app: App):
    app.stack.configure_camara(scope="dpv:FraudPreventionAndDetection number-verification:verify")

    _, polled = verified_on_own_phone(app)

    assert polled.json()["status"] == "VERIFIED"


def test_req15_an_id_token_signed_with_a_rotated_key_is_verified_after_refetching_the_jwks(app: App):
    verified_on_own_phone(app)  # the JWKS is cached now
    app.camara_fault("token", id_token="rotated")

    _, polled = verified_on_own_phone(app)

    assert polled.json()["status"] == "VERIFIED"
    assert len(app.camara_requests("/jwks")) >= 1


# 16 ------------------------------------------------------------------------------------------------

def test_req16_verify_is_called_once_per_check(app: App):
    verified_on_own_phone(app)

    assert len(app.camara_requests("/verify")) == 1 and len(app.camara_requests("/token")) == 1


def test_req16_the_record_holds_no_code_state_verifier_nonce_or_number(app: App):
    check = start(app)
    final_url = return_url_without_following(app, check)
    pending = app.item(check["check_id"])
    _device_return(final_url)
    final = app.item(check["check_id"])
    pending_item, final_item = (json.dumps(item, default=str) for item in (pending, final))

    query = _query(final_url)
    secrets = [query["code"], query["state"], camara_config.code_verifier(query["state"]),
               camara_config.nonce_for(query["state"]), NUMBER, NUMBER.lstrip("+")]
    for item in (pending_item, final_item):
        assert not [s for s in secrets if s in item]
    assert "sealed" in pending and "sealed" not in final  # what /verify needed: gone once final


def test_req16_logs_hold_no_code_state_or_number(app: App, captured_logs):
    check = start(app)
    final_url = return_url_without_following(app, check)
    _device_return(final_url)

    query = _query(final_url)
    logs = captured_logs.getvalue()
    assert logs and not [s for s in (query["code"], query["state"], NUMBER) if s in logs]


# 17: tests/integration/test_camara_auth_code.py::test_anything_but_a_json_true_or_false_fails_the_check

def test_req17_only_a_json_true_verifies(app: App):
    app.camara_fault("verify", status=200, body={"devicePhoneNumberVerified": "true"})

    _, polled = verified_on_own_phone(app)

    assert polled.json()["status"] == "FAILED"


# 18 ------------------------------------------------------------------------------------------------

def test_req18_by_default_device_phone_number_is_never_called_nor_its_scope_requested(app: App):
    check, _ = verified_on_own_phone(app)

    assert app.camara_requests("/device-phone-number") == []
    assert "device-phone-number" not in _query(check["check_url"])["scope"]
    assert "share" not in _query(check["check_url"])["scope"]
