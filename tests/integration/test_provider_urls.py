"""A provider URL that is plain http to a host other than loopback (a typo in the secret, or an
aggregator's discovery document) is a configuration error: the check fails before any request is sent,
and the log says which setting to fix, at ERROR, without the credentials."""

from __future__ import annotations

import json

from tests.integration.conftest import App


def _errors(captured: str) -> list[dict[str, object]]:
    return [line for line in map(json.loads, captured.splitlines()) if line["level"] == "ERROR"]


def test_a_plain_http_truid_base_url_fails_the_check_and_says_which_setting(app: App, captured_logs):
    app.stack.callback_secret_value["truid"]["base_url"] = "http://eu.api.tru.id.invalid"
    app.stack.seed_secrets()

    body = app.start("+447400900002", provider="truid").json()

    assert (body["status"], body["reason"]) == ("FAILED", "PROVIDER_REJECTED")
    assert app.truid_checks_created() == []
    (error,) = _errors(captured_logs.getvalue())
    assert "truid.base_url must be an https URL" in str(error["detail"])
    assert app.stack.callback_secret_value["truid"]["client_secret"] not in captured_logs.getvalue()


def test_a_plain_http_token_endpoint_of_the_aggregator_fails_the_check_before_anything_is_sent(app: App):
    base = app.stack.camara.base_url
    app.stack.configure_camara(discovery=False, authorization_endpoint=f"{base}/authorize",
                               token_endpoint="http://aggregator.invalid/token", jwks_uri=f"{base}/jwks")

    body = app.start("+34600000012", provider="camara").json()

    assert (body["status"], body["reason"], body["check_url"]) == ("FAILED", "PROVIDER_REJECTED", None)
    assert app.camara_requests() == []
