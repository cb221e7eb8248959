"""Fuzzing: schemathesis generates requests from docs/openapi.json (valid and invalid ones), sends them to
the sandbox gateway (the real handlers, DynamoDB Local, the simulated providers) and runs all its checks on
every answer: no 5xx, and each status, Content-Type, header and body as the document says."""

from __future__ import annotations

import json
import os
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import stack as stacks
from tests import openapi_doc

# ~50 examples per operation keep the whole module near a minute on a small machine; raise it for a longer
# hunt (FUZZ_MAX_EXAMPLES=1000 make test). Derandomized, so a red run is reproduced by running it again.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))

# schemathesis' own default for positive_data_acceptance.
ACCEPTED = ["2xx", "3xx", 401, 403, 404, 409, 429, "5xx"]
CONFIG = {
    "checks": {
        # API Gateway answers a method a resource does not define with 403 Missing Authentication Token, not
        # 405 (docs/openapi.json says so); the sandbox gateway does what API Gateway does.
        "unsupported_method": {"enabled": False},
    },
    # Requests the document's schemas allow that the API still refuses, as the document says it does:
    # acceptance depends on more than the schema can say (server state, libphonenumber's metadata).
    "operations": [
        {
            "include-path": "/checks", "include-method": "POST",
            # 400 INVALID_PHONE_NUMBER: E.164 in shape but no valid number of its country; 422 NUMBER_UNSUPPORTED
            # (a fixed line...) or IDEMPOTENCY_KEY_REUSED (the key came before with another body).
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 400, 422]}},
        },
        {
            "include-path": "/checks/return", "include-method": "GET",
            # 400 INVALID_RETURN: a state of the right shape that was never issued, or was used already.
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, 400]}},
        },
    ],
}

schema = schemathesis.openapi.from_dict(openapi_doc.load(), config=schemathesis.Config.from_dict(CONFIG))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case: schemathesis.Case[Any], stack: stacks.Stack) -> None:
    # The sandbox runs backend mode (ClientAuth=api_key): the fuzzer is a backend with its key.
    case.call_and_validate(base_url=stack.api_url, headers={"x-api-key": stack.api_key}, timeout=15)


# Bodies the document's schemas never describe: any JSON, nesting far past the parser's recursion limit, bytes.
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=40)
HOSTILE_BODIES = st.one_of(
    _JSON.map(json.dumps),
    st.integers(1, 200_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 50_000).map(lambda depth: '{"phone_number": ' * depth + '"+447400900002"' + "}" * depth),
    st.binary(max_size=4096),
)


@given(body=HOSTILE_BODIES, content_type=st.sampled_from(["application/json", "text/plain", None]))
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_any_start_body_is_answered_with_a_2xx_or_a_4xx(body: str | bytes, content_type: str | None,
                                                         stack: stacks.Stack) -> None:
    headers = {"x-api-key": stack.api_key, **({"Content-Type": content_type} if content_type else {})}

    response = requests.post(f"{stack.api_url}/checks", data=body, headers=headers, timeout=30)

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
