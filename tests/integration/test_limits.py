"""Start budgets through the real start handler (security requirement 29): beyond a budget, POST /checks
answers 429 with Retry-After, writes nothing and calls no provider."""

from typing import Any

import pytest

from silentcheck.store import keys
from tests.integration.conftest import App
from tests.integration.test_routing import truid_creates

UK, OTHER = "+447400900202", "+447400900204"


def check_items(app: App) -> set[str]:
    return {i["pk"]["S"] for i in app.items(keys.CHECK)}


def limited(app: App, **budgets: Any) -> None:
    app.stack.configure_limits({scope: {"count": count, "window_seconds": 3600} for scope, count in budgets.items()})


def test_req29_a_number_beyond_its_budget_gets_429_and_no_provider_call(app: App):
    limited(app, number=2)
    app.started(UK), app.started(UK)
    creates, records = truid_creates(app), check_items(app)

    refused = app.start(UK)

    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "RATE_LIMITED" and "phone number" in refused.json()["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert (truid_creates(app), check_items(app)) == (creates, records)


def test_req29_another_number_still_starts_when_one_is_spent(app: App):
    limited(app, number=2)
    app.started(UK), app.started(UK)

    assert app.start(OTHER).status_code == 201


def test_req29_one_source_address_is_limited_across_numbers(app: App):
    limited(app, ip=1)
    app.started(UK)
    creates = truid_creates(app)

    refused = app.start(OTHER)

    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert "address" in refused.json()["detail"] and truid_creates(app) == creates


def test_req29_the_global_budget_stops_every_start(app: App):
    limited(app, **{"global": 1})
    app.started(UK)

    assert app.start(OTHER).status_code == 429 and truid_creates(app) == 1


def test_a_request_refused_as_invalid_spends_no_budget(app: App):
    limited(app, number=2)
    assert app.start(UK, provider="nobody").status_code == 400
    app.started(UK)

    assert app.start(UK).status_code == 201


@pytest.mark.parametrize("limits", [{}, {"number": None, "ip": None, "global": None}])
def test_without_budgets_starts_are_not_counted(app: App, limits: dict[str, Any]):
    app.stack.configure_limits(limits)

    for _ in range(3):
        app.started(UK)

    assert app.items(keys.LIMIT) == []
