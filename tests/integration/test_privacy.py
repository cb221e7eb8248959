"""What leaves the system and what stays in it: no provider ids for the app, no plaintext numbers stored
or logged, no personal data sent to tru.ID as a reference."""

import json
import re

from sandbox.local_aws import services as aws
from sandbox.stack import TABLE_NAME
from tests.integration.conftest import App, completion_code

NUMBER = "+447400900002"


def test_responses_to_the_app_never_contain_truid_ids(app: App):
    check = app.started(NUMBER)
    opened = app.open_on_own_phone(check)
    view = app.poll(check, code=completion_code(opened)).json()

    truid_ids = {c["check_id"] for c in app.stack.truid_simulator.check_summaries()}
    # check_url is tru.ID's own URL for the phone to open (opaque to the app); no other field may carry the id.
    fields = {k: v for k, v in check.items() if k != "check_url"}
    seen = json.dumps([fields, opened.json, view])
    assert not any(truid_id in seen for truid_id in truid_ids)


def test_reference_id_sent_to_truid_holds_no_phone_number(app: App):
    app.started(NUMBER)

    create = next(r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks"))
    body = json.loads(create["body"])

    assert body["reference_id"]
    assert NUMBER.lstrip("+") not in body["reference_id"]


def test_the_table_never_holds_the_plaintext_number(app: App):
    check = app.started(NUMBER)
    app.open_on_own_phone(check)

    client = aws.client("dynamodb", app.stack.dynamodb.endpoint)
    items = client.scan(TableName=TABLE_NAME)["Items"]

    assert items
    assert NUMBER.lstrip("+") not in json.dumps(items, default=str)


def test_the_table_never_holds_tokens_codes_or_states(app: App):
    check = app.started(NUMBER)
    opened = app.open_on_own_phone(check)
    state = re.search(r"state=([^&]+)", opened.hops[-1].url).group(1)  # type: ignore[union-attr]

    client = aws.client("dynamodb", app.stack.dynamodb.endpoint)
    stored = json.dumps(client.scan(TableName=TABLE_NAME)["Items"], default=str)

    for secret in (check["poll_token"], completion_code(opened), state.split(".", 1)[1]):
        assert secret not in stored


def test_logs_of_a_whole_check_hold_no_unmasked_number_or_token(app: App, captured_logs):
    check = app.started(NUMBER)
    opened = app.open_on_own_phone(check)
    app.poll(check, code=completion_code(opened))

    logs = captured_logs.getvalue()
    assert "+44********02" in logs  # the masked form is what support sees
    assert "7400900002" not in logs
    for secret in (check["poll_token"], completion_code(opened)):
        assert secret not in logs
