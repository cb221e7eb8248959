"""The routing table: what it accepts, the clear errors it gives, and which providers it picks."""

import json
import re

import pytest

from silentcheck import phone, routing
from silentcheck.checks import Outcome, Reason
from silentcheck.errors import InvalidRequest
from silentcheck.providers.base import DeviceNetwork
from tests.functions import load_start_function

SPAIN, UK, BRAZIL = phone.parse("+34600000012"), phone.parse("+447400900002"), phone.parse("+5511987650012")


def _table(**raw) -> routing.RoutingTable:
    return routing.parse_table(json.dumps({"default": ["truid"], **raw}))


def test_the_template_default_table_parses():
    assert routing.parse_table(routing.DEFAULT_ROUTING).default == ("truid",)


def test_the_sandbox_table_parses_and_routes_each_country_to_its_providers():
    from sandbox.stack import SANDBOX_ROUTING

    table = routing.parse_table(json.dumps(SANDBOX_ROUTING))

    assert [table.candidates(n) for n in (SPAIN, UK, BRAZIL)] == [("camara", "truid"), ("truid", "infobip"),
                                                                  ("infobip",)]


def test_a_region_route_wins_over_the_calling_code():
    table = _table(countries={"44": ["infobip"], "GB": ["camara"]})

    assert table.candidates(UK) == ("camara",)


def test_disabled_providers_are_left_out_and_an_emptied_route_falls_back_to_the_default():
    table = _table(default=["truid", "infobip"], countries={"34": ["camara"]}, disabled=["camara"])

    assert table.candidates(SPAIN) == ("truid", "infobip")


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "not JSON"),
    ("[]", "JSON object"),
    ('{"countries": {}}', "needs a \"default\""),
    ('{"default": ["twilio"]}', "unknown providers ['twilio']"),
    ('{"default": "truid"}', "must be a list"),
    ('{"default": ["truid", "truid"]}', "twice"),
    ('{"default": ["truid"], "countries": {"UK1": ["truid"]}}', "calling code"),
    ('{"default": ["truid"], "routes": {}}', "unknown keys ['routes']"),
    ('{"default": ["truid"], "disabled": ["truid"]}', "no enabled provider"),
    ('{"default": ["truid"], "coverage_precheck": "yes"}', "true or false"),
    ('{"default": ["truid"], "circuit_breaker": {"failures": 0}}', "positive integer"),
    ('{"default": ["truid"], "networks": {"camara": "21407"}}', "lists of MCC+MNC"),
])
def test_a_bad_table_is_refused_with_a_message_that_says_what_to_fix(text, message):
    with pytest.raises(routing.RoutingInvalid, match=re.escape(message)):
        routing.parse_table(text)


def test_a_bad_table_in_the_environment_fails_when_the_start_function_loads(monkeypatch):
    monkeypatch.setenv("ROUTING", '{"default": ["nobody"]}')

    with pytest.raises(routing.RoutingInvalid, match="nobody"):
        load_start_function()


def test_the_app_may_ask_for_a_provider_the_deployment_allows():
    assert routing.plan(_table(app_may_choose=["camara"]), UK, "camara", False) == ("camara",)


def test_the_app_may_not_ask_for_a_provider_the_deployment_does_not_allow():
    with pytest.raises(InvalidRequest, match="does not let apps choose provider 'infobip'; leave provider out or "
                                             "use one of: camara"):
        routing.plan(_table(app_may_choose=["camara"]), UK, "infobip", False)


def test_an_operator_token_goes_to_the_provider_that_takes_one_even_off_the_route():
    assert routing.plan(_table(default=["truid", "infobip"]), UK, None, True) == ("camara",)


def test_an_operator_token_with_a_provider_that_cannot_take_it_is_refused():
    with pytest.raises(InvalidRequest, match="does not take an operator_token; leave provider out or use camara"):
        routing.plan(_table(app_may_choose=["truid"]), UK, "truid", True)


@pytest.mark.parametrize(("outcome", "falls_back"), [
    (Outcome.failed(Reason.PROVIDER_ERROR, "503"), True),
    (Outcome.failed(Reason.CARRIER_UNSUPPORTED, "400"), True),
    (Outcome.failed(Reason.PROVIDER_REJECTED, "not_configured"), True),
    (Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "412"), False),
    (Outcome.failed(Reason.NUMBER_UNSUPPORTED, "mno_user_not_found"), False),
    (Outcome.not_verified("409"), False),
])
def test_only_refusals_another_provider_may_not_share_fall_back(outcome, falls_back):
    assert routing.may_fall_back(outcome) is falls_back


def test_coverage_keeps_truid_only_where_it_serves_and_others_per_their_networks():
    table = _table(networks={"camara": ["21407"]})
    on_movistar = DeviceNetwork(mobile=True, network_id="21407", coverage_provider_serves=False)
    elsewhere = DeviceNetwork(mobile=True, network_id="21401", coverage_provider_serves=True)

    assert routing.serving(table, ("truid", "camara", "infobip"), on_movistar) == ("camara", "infobip")
    assert routing.serving(table, ("truid", "camara", "infobip"), elsewhere) == ("truid", "infobip")


def test_fallback_names_the_candidates_in_order_skipping_those_whose_breaker_is_open():
    fallback = routing.Fallback(("truid", "camara", "infobip"), open_breakers=frozenset({"camara"}))

    first = fallback.next()
    fallback.refused("truid", Outcome.failed(Reason.PROVIDER_ERROR, "503"))

    assert (first, fallback.next()) == ("truid", "infobip")
    assert fallback.attempts == ["truid:PROVIDER_ERROR:503", "camara:skipped:circuit_open"]


def test_fallback_ends_at_a_refusal_that_does_not_fall_back():
    fallback = routing.Fallback(("truid", "camara"))
    fallback.next()

    goes_on = fallback.refused("truid", Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "412"))

    assert (goes_on, fallback.next(), fallback.last_tried) == (False, None, "truid")


def test_fallback_ends_after_the_last_candidate_refuses():
    fallback = routing.Fallback(("truid",))
    fallback.next()

    assert fallback.refused("truid", Outcome.failed(Reason.PROVIDER_ERROR, "503")) is False
    assert fallback.next() is None


def test_fallback_with_every_candidate_skipped_ends_provider_error_circuit_open():
    fallback = routing.Fallback(("truid", "camara"), open_breakers=frozenset({"truid", "camara"}))

    assert fallback.next() is None
    assert (fallback.outcome.reason, fallback.outcome.raw_code, fallback.last_tried) == (
        Reason.PROVIDER_ERROR, "circuit_open", None)
