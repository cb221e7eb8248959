"""Every provider URL, from the secret or from discovery, is https; plain http only to a loopback host
(the sandbox's simulators), and only when the deployment says it is the sandbox. A typo must not send
client secrets, tokens and numbers in clear, and a hostile discovery document must not aim a call at
what listens on the function's loopback (the Lambda Runtime API on 127.0.0.1:9001)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.local_aws import services as aws
from silentcheck import credentials, provider_http
from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers import camara_config, infobip, oauth, truid
from tests.conftest import TEST_CALLBACK_SECRET, TEST_SECRET

PEPPER = "a-pepper-of-at-least-16-characters"


LOOPBACK_HTTP = ["http://127.0.0.1:8080", "http://127.8.9.10/path", "http://[::1]:9000/", "http://localhost:5000",
                 "http://LOCALHOST", "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"]


@pytest.mark.parametrize("url", ["https://eu.api.tru.id", "https://127.0.0.1:8443/x", *LOOPBACK_HTTP])
def test_https_anywhere_and_plain_http_to_loopback_are_secure_in_the_sandbox(url):
    assert provider_http.is_secure_url(url, loopback_http=True)


@pytest.mark.parametrize("url", LOOPBACK_HTTP)
def test_plain_http_to_loopback_is_refused_by_a_deployment(deployed, url):
    assert not provider_http.is_secure_url(url)


def test_a_deployment_still_accepts_https(deployed):
    assert provider_http.is_secure_url("https://eu.api.tru.id")


def test_a_discovery_document_aiming_the_token_call_at_the_runtime_api_is_refused_by_a_deployment(deployed):
    metadata = {"authorization_endpoint": "https://op.example/authorize",
                "token_endpoint": "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"}

    with pytest.raises(oauth.OidcError, match="metadata_not_https:token_endpoint"):
        oauth.Metadata.from_mapping(metadata, "https://op.example")


@pytest.mark.parametrize("url", [
    "http://eu.api.tru.id", "http://10.0.0.1", "http://192.0.2.1:80", "http://[2001:db8::1]/",
    "http://127.0.0.1.example.com", "http://localhost.example.com", "ftp://127.0.0.1", "https://", "eu.api.tru.id",
    "http://[::1", "",
])
def test_plain_http_elsewhere_and_anything_else_are_not(url):
    assert not provider_http.is_secure_url(url, loopback_http=True)


def _seed(moto_env: aws.MotoServer, **sections: Any) -> None:
    secretsmanager = aws.client("secretsmanager", moto_env.endpoint)
    aws.seed_secret(secretsmanager, TEST_SECRET, {"pepper": PEPPER, **sections})
    aws.seed_secret(secretsmanager, TEST_CALLBACK_SECRET, {k: v for k, v in sections.items() if k == "truid"})
    credentials.forget()


CAMARA = {"issuer": "https://op.example", "api_base_url": "https://api.example/number-verification/v2",
          "client_id": "c", "client_secret": "s3cret-value", "scope": "openid number-verification:verify"}


@pytest.mark.parametrize(("section", "load", "setting"), [
    ({"truid": {"base_url": "http://eu.api.tru.id", "client_id": "c", "client_secret": "s3cret-value"}},
     truid._Config.from_secret, "truid.base_url"),
    ({"infobip": {"base_url": "http://api.infobip.com", "api_key": "s3cret-value"}},
     infobip._Config.from_secret, "infobip.base_url"),
    ({"camara": {**CAMARA, "issuer": "http://op.example"}}, camara_config.Config.from_secret, "camara.issuer"),
    ({"camara": {**CAMARA, "api_base_url": "http://api.example/nv"}}, camara_config.Config.from_secret,
     "camara.api_base_url"),
], ids=["truid", "infobip", "camara_issuer", "camara_api"])
def test_a_plain_http_url_in_the_secret_is_a_configuration_error_naming_the_setting(moto_env, section, load,
                                                                                    setting):
    _seed(moto_env, **section)

    with pytest.raises(ProviderNotConfigured, match=f"{setting} must be an https URL") as raised:
        load()

    assert "s3cret-value" not in str(raised.value) and "http://" not in str(raised.value)


@pytest.mark.parametrize("key", ["authorization_endpoint", "token_endpoint", "jwks_uri",
                                 "backchannel_authentication_endpoint"])
def test_a_plain_http_endpoint_in_metadata_is_refused(deployed, key):
    metadata = {"authorization_endpoint": "https://op.example/authorize", "token_endpoint": "https://op.example/token",
                "jwks_uri": "https://op.example/jwks", "backchannel_authentication_endpoint": "https://op.example/bc",
                key: "http://op.example/somewhere"}

    with pytest.raises(oauth.OidcError, match=f"metadata_not_https:{key}"):
        oauth.Metadata.from_mapping(metadata, "https://op.example")


def test_the_template_never_says_a_deployment_is_the_sandbox():
    from sandbox.local_aws.template import TEMPLATE_PATH

    assert "SANDBOX_LOOPBACK_PROVIDERS" not in TEMPLATE_PATH.read_text()
