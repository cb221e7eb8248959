"""How we authenticate to providers, end to end against simulators that decode as the standards say:
client_secret_basic form-encodes id and secret before base64 (RFC 6749 §2.3.1), so a secret holding
`+ / = % :`, a space or non-ASCII characters works; a private_key_jwt assertion carries the audience the
aggregator's client registration asks for."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import jwt

from tests.integration.conftest import App, completion_code
from tests.integration.test_camara_auth_code import start
from tests.integration.test_camara_operator_token import poll_until_final

CAMARA_NUMBER = "+34600000012"
CIBA_NUMBER = "+34600000056"
TRUID_NUMBER = "+447400900002"
SYMBOLS_CAMARA_CLIENT = "sandbox-camara-symbols-client"
FAPI_CLIENT = "sandbox-camara-fapi-client"  # registered to accept only the issuer as an assertion's aud


def _assertion_audience(call: dict[str, Any]) -> Any:
    assertion = parse_qs(call["body"])["client_assertion"][0]
    return jwt.decode(assertion, options={"verify_signature": False})["aud"]


def test_camara_code_exchange_works_with_a_secret_holding_any_characters(app: App):
    app.stack.configure_camara(client_id=SYMBOLS_CAMARA_CLIENT)
    check = start(app, CAMARA_NUMBER)

    opened = app.phone(CAMARA_NUMBER).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"
    (token_call,) = app.camara_requests("/token")
    assert token_call["headers"]["Authorization"] == "Basic"  # the simulators log only the scheme


def test_camara_ciba_works_with_a_secret_holding_any_characters(app: App, advance):
    app.stack.configure_camara(client_id=SYMBOLS_CAMARA_CLIENT)
    response = app.start(CIBA_NUMBER, operator_token=app.operator_token(CIBA_NUMBER))
    assert response.status_code == 201, response.text

    assert poll_until_final(app, response.json(), advance)["status"] == "VERIFIED"
    (bc_authorize,) = app.camara_requests("/bc-authorize")
    assert bc_authorize["headers"]["Authorization"] == "Basic"


def test_truid_works_with_a_secret_holding_any_characters(app: App):
    app.stack.configure_truid(client_id="sandbox-symbols-client")
    response = app.start(TRUID_NUMBER, provider="truid")  # no fallback to another provider
    assert response.status_code == 201, response.text
    check = response.json()

    code = completion_code(app.open_on_own_phone(check))

    assert app.poll(check, code=code).json()["status"] == "VERIFIED"
    assert {call["headers"]["Authorization"] for call in app.truid_requests()
            if call["path"] == "/oauth2/v1/token"} == {"Basic"}


def test_private_key_jwt_aims_its_assertion_at_the_token_endpoint_by_default(app: App):
    app.stack.configure_camara(client_auth="private_key_jwt")
    check = start(app, CAMARA_NUMBER)

    opened = app.phone(CAMARA_NUMBER).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"
    (token_call,) = app.camara_requests("/token")
    assert _assertion_audience(token_call) == f"{app.stack.camara.base_url}/token"


def test_private_key_jwt_aims_its_assertion_at_the_issuer_when_the_aggregator_wants_that(app: App):
    app.stack.configure_camara(client_auth="private_key_jwt", client_id=FAPI_CLIENT, assertion_audience="issuer")
    check = start(app, CAMARA_NUMBER)

    opened = app.phone(CAMARA_NUMBER).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"
    (token_call,) = app.camara_requests("/token")
    assert _assertion_audience(token_call) == app.stack.camara.base_url


def test_ciba_assertions_aim_at_the_issuer_when_the_aggregator_wants_that(app: App, advance):
    app.stack.configure_camara(client_auth="private_key_jwt", client_id=FAPI_CLIENT, assertion_audience="issuer")
    response = app.start(CIBA_NUMBER, operator_token=app.operator_token(CIBA_NUMBER))
    assert response.status_code == 201, response.text

    assert poll_until_final(app, response.json(), advance)["status"] == "VERIFIED"
    calls = app.camara_requests("/bc-authorize") + app.camara_requests("/token")
    assert {_assertion_audience(call) for call in calls} == {app.stack.camara.base_url}


def test_an_assertion_aimed_at_the_endpoint_fails_where_the_issuer_is_wanted(app: App):
    app.stack.configure_camara(client_auth="private_key_jwt", client_id=FAPI_CLIENT)  # audience left at default
    check = start(app, CAMARA_NUMBER)

    opened = app.phone(CAMARA_NUMBER).open(check["check_url"])

    view = app.poll(check, completion_code(opened)).json()
    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_REJECTED")
