"""CAMARA's configuration (secret key `camara`, a SecretSection) and the values derived per check from the
one-time state (PKCE verifier, nonce), which are never stored."""

from __future__ import annotations

import hashlib
from typing import Annotated, ClassVar, Literal

from pydantic import AliasChoices, Field, StrictBool, StrictInt

from silentcheck import credentials, tokens
from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers import oauth
from silentcheck.providers.secret_sections import BaseUrl, HttpsUrl, SecretSection

_STATIC_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "backchannel_authentication_endpoint",
                     "authorization_response_iss_parameter_supported")


class Config(SecretSection):
    """Key `camara` of the secret (docs/configuration.md, Configuring a CAMARA aggregator)."""

    SECTION: ClassVar[str] = "camara"
    PROVIDER: ClassVar[str] = "CAMARA"

    issuer: HttpsUrl
    api_base_url: BaseUrl
    client_id: str
    scope: str
    # How we authenticate to the token endpoint (RFC 8414's name); `client_auth` is its older key, still read.
    token_endpoint_auth_method: oauth.TokenEndpointAuthMethod = Field(
        "client_secret_basic", validation_alias=AliasChoices("token_endpoint_auth_method", "client_auth"))
    client_secret: str | None = None
    private_key: str | None = None  # PEM
    key_id: str | None = None
    signing_alg: str = "RS256"
    assertion_audience: oauth.AssertionAudience = "token_endpoint"
    ciba_scope: str = ""  # default: `scope`
    login_hint: Literal["none", "tel", "plain"] = "none"
    number_format: Literal["phone_number", "hashed"] = "phone_number"
    operation: Literal["verify", "device_phone_number"] = "verify"
    discovery: StrictBool = True
    authorization_endpoint: str | None = None  # the static endpoints: checked as discovery's are (oauth.Metadata)
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    backchannel_authentication_endpoint: str | None = None
    authorization_response_iss_parameter_supported: StrictBool | None = None
    require_iss: StrictBool | None = None
    sim_swap_api_base_url: BaseUrl | None = None  # default: beside Number Verification's, …/sim-swap/v2
    sim_swap_max_age_hours: Annotated[StrictInt, Field(ge=1, le=2400)] | None = None  # the operator's limit

    @classmethod
    def from_secret(cls) -> Config:
        return cls.parse(credentials.section("camara"))

    def also_missing(self) -> list[str]:
        needs = "client_secret" if self.token_endpoint_auth_method == "client_secret_basic" else "private_key"
        return [] if getattr(self, needs) else [needs]

    @property
    def client(self) -> oauth.TokenEndpointAuth:
        return oauth.TokenEndpointAuth(
            method=self.token_endpoint_auth_method, client_id=self.client_id, client_secret=self.client_secret,
            private_key=self.private_key, key_id=self.key_id, signing_alg=self.signing_alg,
            assertion_audience=self.assertion_audience)

    @property
    def ciba(self) -> str:
        """The scope of the operator-token flow (CIBA)."""
        return self.ciba_scope or self.scope

    @property
    def sim_swap_url(self) -> str:
        """The SIM Swap API's base URL, e.g. https://…/sim-swap/v2."""
        return self.sim_swap_api_base_url or (
            self.api_base_url.rsplit("/number-verification/", 1)[0] + "/sim-swap/v2")

    def metadata(self) -> oauth.Metadata:
        """Endpoints from the issuer's discovery document; the static configuration when it has none."""
        try:
            discovered = oauth.discover(self.issuer) if self.discovery else None
            if discovered is not None:
                return discovered
            static = {key: value for key in _STATIC_ENDPOINTS if (value := getattr(self, key)) is not None}
            return oauth.Metadata.from_mapping(static, self.issuer)
        except oauth.OidcError as error:
            raise ProviderNotConfigured(f"CAMARA endpoints unavailable for issuer {self.issuer}: {error.code}; "
                                        "publish discovery or set the endpoints in secret key camara") from None

    def iss_required(self, metadata: oauth.Metadata) -> bool:
        return self.require_iss if self.require_iss is not None else metadata.iss_parameter_supported


def _oidc_key() -> bytes:
    return tokens.subkey(credentials.pepper(), "oidc/v1")


def code_verifier(state: str) -> str:
    """The PKCE verifier of the request that carried `state`: 43 unreserved characters, derived with a
    server-side key, so neither it nor the state is ever stored and the device cannot compute it."""
    return tokens.derive(_oidc_key(), f"pkce:{state}")


def nonce_for(state: str) -> str:
    return tokens.derive(_oidc_key(), f"nonce:{state}")


def hashed_phone_number(e164: str) -> str:
    """CAMARA's hashedPhoneNumber: SHA-256 hex of the E.164 number with its '+'."""
    return hashlib.sha256(e164.encode()).hexdigest()
