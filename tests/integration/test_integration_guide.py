"""docs/integration.md's verification snippets, run as written against the sandbox: the Python one with
PyJWT, the Node one with jose (installed with DynamoDB Local from sandbox/package-lock.json)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
import pytest

from sandbox.local_aws.services import ensure_node_packages
from sandbox.local_aws.template import REPO_ROOT
from tests.integration.conftest import App, completion_code
from tests.integration.test_truid_callbacks import callbacks, v01_check_opened

GUIDE = REPO_ROOT / "docs" / "integration.md"
AUDIENCE = "silentcheck"  # the template's AttestationAudience default, which the sandbox deploys
NUMBER, OTHER_NUMBER = "+447400900002", "+447400900004"


def snippet(name: str) -> str:
    """The fenced block right after `<!-- snippet: name -->` in the guide."""
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```\w+\n(.*?)\n```", GUIDE.read_text(), re.DOTALL)
    assert match, f"docs/integration.md has no snippet {name}"
    return match.group(1)


def attestation(app: App) -> str:
    check = app.started(NUMBER)
    view = app.poll(check, code=completion_code(app.open_on_own_phone(check))).json()
    assert view["status"] == "VERIFIED"
    return str(view["attestation"])


def unbound_attestation(app: App) -> str:
    """A VERIFIED with binding none: tru.ID v0.1 (which the deployment must allow), settled by its callback."""
    check = v01_check_opened(app, NUMBER)  # sets AllowUnboundChecks
    callbacks(app, check, expected=2)
    view = app.poll(check).json()
    assert (view["status"], view["binding"]) == ("VERIFIED", "none"), view
    return str(view["attestation"])


@pytest.fixture
def python_snippet() -> ModuleType:
    module = ModuleType("verify_attestation")
    exec(compile(snippet("verify_attestation.py"), "verify_attestation.py", "exec"), module.__dict__)
    return module


def test_the_python_snippet_accepts_a_real_attestation(app: App, python_snippet: ModuleType):
    client = jwt.PyJWKClient(f"{app.api}/.well-known/jwks.json")

    claims = python_snippet.verify_attestation(attestation(app), api_url=app.api, audience=AUDIENCE,
                                               phone_number=NUMBER, jwks_client=client, seen=set())

    assert (claims["status"], claims["phone_number"]) == ("VERIFIED", NUMBER)


def test_the_python_snippet_rejects_another_number_and_a_replay(app: App, python_snippet: ModuleType):
    client, seen, token = jwt.PyJWKClient(f"{app.api}/.well-known/jwks.json"), set[str](), attestation(app)
    verify = python_snippet.verify_attestation

    with pytest.raises(python_snippet.AttestationRejected, match="another number"):
        verify(token, api_url=app.api, audience=AUDIENCE, phone_number=OTHER_NUMBER, jwks_client=client, seen=seen)
    verify(token, api_url=app.api, audience=AUDIENCE, phone_number=NUMBER, jwks_client=client, seen=seen)
    with pytest.raises(python_snippet.AttestationRejected, match="used before"):
        verify(token, api_url=app.api, audience=AUDIENCE, phone_number=NUMBER, jwks_client=client, seen=seen)


def test_the_python_snippet_refuses_binding_none_unless_the_backend_chose_it(app: App, python_snippet: ModuleType):
    client, token = jwt.PyJWKClient(f"{app.api}/.well-known/jwks.json"), unbound_attestation(app)
    verify = python_snippet.verify_attestation

    with pytest.raises(python_snippet.AttestationRejected, match="binding"):
        verify(token, api_url=app.api, audience=AUDIENCE, phone_number=NUMBER, jwks_client=client, seen=set())
    claims = verify(token, api_url=app.api, audience=AUDIENCE, phone_number=NUMBER, jwks_client=client, seen=set(),
                    bindings=("device", "operator_token", "none"))
    assert (claims["status"], claims["binding"]) == ("VERIFIED", "none")


RUNNER = """
import { createRemoteJWKSet } from 'jose';
import { verifyAttestation } from './verify_attestation.mjs';

const [token, apiUrl, audience, phoneNumber, otherNumber, unbound] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(`${apiUrl}/.well-known/jwks.json`));
const outcome = async (options) => {
  try { return { ok: (await verifyAttestation(token, { apiUrl, audience, jwks, ...options })).status }; }
  catch (error) { return { error: error.code || error.message }; }
};
const seen = new Set();
console.log(JSON.stringify({
  wrongNumber: await outcome({ phoneNumber: otherNumber, seen }),
  wrongAudience: await outcome({ phoneNumber, audience: 'another-backend', seen }),
  first: await outcome({ phoneNumber, seen }),
  replay: await outcome({ phoneNumber, seen }),
  unbound: await (async () => {
    try { return { ok: (await verifyAttestation(unbound, { apiUrl, audience, jwks, phoneNumber })).status }; }
    catch (error) { return { error: error.code || error.message }; }
  })(),
  unboundChosen: await (async () => {
    try {
      const options = { apiUrl, audience, jwks, phoneNumber, seen: new Set(), bindings: ['device', 'none'] };
      return { ok: (await verifyAttestation(unbound, options)).status };
    } catch (error) { return { error: error.code || error.message }; }
  })(),
}));
"""


def test_the_node_snippet_accepts_a_real_attestation_and_rejects_number_audience_and_replay(app: App,
                                                                                            tmp_path: Path):
    """…and a VERIFIED with binding none, unless the caller chose it."""
    (tmp_path / "node_modules").symlink_to(ensure_node_packages(), target_is_directory=True)
    (tmp_path / "verify_attestation.mjs").write_text(snippet("verify_attestation.mjs"))
    (tmp_path / "run.mjs").write_text(RUNNER)

    token = attestation(app)
    unbound = unbound_attestation(app)
    completed = subprocess.run(["node", "run.mjs", token, app.api, AUDIENCE, NUMBER, OTHER_NUMBER, unbound],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    assert completed.returncode == 0, completed.stderr
    results: dict[str, Any] = json.loads(completed.stdout)
    assert results["first"] == {"ok": "VERIFIED"}
    assert results["wrongNumber"] == {"error": "the attestation is about another number"}
    assert results["wrongAudience"] == {"error": "ERR_JWT_CLAIM_VALIDATION_FAILED"}
    assert results["replay"] == {"error": "this attestation was used before"}
    assert results["unbound"] == {"error": "the attestation's binding is not one this backend accepts"}
    assert results["unboundChosen"] == {"ok": "VERIFIED"}
