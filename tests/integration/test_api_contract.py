"""Bad input gets a clear problem+json and writes nothing; ids and tokens cannot be probed."""

import pytest
import requests

from sandbox.local_aws import services as aws
from sandbox.stack import TABLE_NAME
from tests.integration.conftest import App


def _items(app: App) -> int:
    client = aws.client("dynamodb", app.stack.dynamodb.endpoint)
    return int(client.scan(TableName=TABLE_NAME, Select="COUNT")["Count"])


@pytest.mark.parametrize("number", ["447400900002", "+44 7700 900002", "+4474009000021234567", "", 447400900002])
def test_start_with_a_number_not_in_e164_is_a_400_problem_and_writes_nothing(app: App, number):
    before = _items(app)

    response = app.start(number)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "INVALID_PHONE_NUMBER" and problem["status"] == 400
    assert "+447400900123" in problem["detail"]
    assert _items(app) == before
    assert app.truid_checks_created() == []


def test_start_with_an_unknown_field_names_the_field(app: App):
    response = app.start("+447400900002", phonenumber="+447400900002")

    assert response.status_code == 400
    assert "phonenumber" in response.json()["detail"]


def test_start_without_a_json_object_body_is_a_400_problem(app: App):
    for body in ("not json", "[1, 2]", ""):
        response = requests.post(f"{app.api}/checks", data=body,
                                 headers={"Content-Type": "application/json", **app.backend_headers}, timeout=10)
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_REQUEST"


def test_start_with_an_unknown_provider_is_refused(app: App):
    response = app.start("+447400900002", provider="acme")

    assert response.status_code == 400
    assert "truid" in response.json()["detail"]


def test_poll_with_wrong_token_answers_like_an_unknown_check(app: App):
    check = app.started()

    wrong_token = app.poll(check, token="wrong-token")
    unknown_id = app.poll({"check_id": "no-such-check", "poll_token": check["poll_token"]})
    no_token = requests.get(f"{app.api}/checks/{check['check_id']}", timeout=10)

    assert wrong_token.status_code == unknown_id.status_code == no_token.status_code == 404
    assert wrong_token.json() == unknown_id.json() == no_token.json()


def test_callback_with_an_unknown_capability_is_404_and_creates_nothing(app: App):
    before = _items(app)

    response = requests.post(f"{app.stack.gateway.callback_url}/truid/made-up-capability",
                             json={"check_id": "x", "status": "COMPLETED", "match": True}, timeout=10)

    assert response.status_code == 404
    assert _items(app) == before


def test_routes_outside_the_stage_are_not_served(app: App):
    response = requests.post(f"{app.stack.gateway.api.base_url}/checks", json={}, timeout=10)

    assert response.status_code == 403


def test_unexpected_failure_is_a_500_problem_that_writes_nothing(app: App):
    from sandbox.stack import SECRET_NAME, forget_function_caches

    secrets_client = aws.client("secretsmanager", app.stack.moto.endpoint)
    broken = {k: v for k, v in app.stack.secret_value.items() if k != "pepper"}
    aws.seed_secret(secrets_client, SECRET_NAME, broken)
    forget_function_caches()
    before = _items(app)
    try:
        response = app.start("+447400900002")
    finally:
        app.stack.configure_truid()  # puts the whole secret back

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert _items(app) == before
