"""CAMARA's configuration (secret key `camara`, validated) and the values derived per check from the
one-time state (PKCE verifier, nonce), which are never stored."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from silentcheck import credentials, provider_http, tokens
from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers import oauth


@dataclass(frozen=True)
class Config:
    issuer: str
    client: oauth.TokenEndpointAuth
    api_base_url: str
    scope: str
    ciba_scope: str
    login_hint: Literal["none", "tel", "plain"]
    number_format: Literal["phone_number", "hashed"]
    operation: Literal["verify", "device_phone_number"]
    discovery: bool
    static: Mapping[str, Any] = field(default_factory=dict)
    require_iss: bool | None = None
    sim_swap_url: str = ""  # the SIM Swap API's base URL, e.g. https://…/sim-swap/v2
    sim_swap_max_age_hours: int | None = None  # the operator's own limit below CAMARA's 2400 hours

    @classmethod
    def from_secret(cls) -> Config:
        raw = credentials.section("camara")
        missing = [k for k in ("issuer", "api_base_url", "client_id", "scope") if not raw.get(k)]
        auth = raw.get("client_auth", "client_secret_basic")
        if auth == "client_secret_basic" and not raw.get("client_secret"):
            missing.append("client_secret")
        if auth == "private_key_jwt" and not raw.get("private_key"):
            missing.append("private_key")
        if missing:
            raise ProviderNotConfigured(f"CAMARA is not configured: secret key camara lacks {', '.join(missing)}")
        choices = {"client_auth": ("client_secret_basic", "private_key_jwt"),
                   "assertion_audience": ("token_endpoint", "issuer"),
                   "login_hint": ("none", "tel", "plain"),
                   "number_format": ("phone_number", "hashed"),
                   "operation": ("verify", "device_phone_number")}
        defaults = {"client_auth": "client_secret_basic", "assertion_audience": "token_endpoint",
                    "login_hint": "none", "number_format": "phone_number", "operation": "verify"}
        chosen = {name: raw.get(name, defaults[name]) for name in choices}
        for name, allowed in choices.items():
            if chosen[name] not in allowed:
                raise ProviderNotConfigured(f"camara.{name} must be one of {', '.join(allowed)}, "
                                            f"not {chosen[name]!r}")
        client = oauth.TokenEndpointAuth(
            method=chosen["client_auth"], client_id=str(raw["client_id"]),
            client_secret=raw.get("client_secret"), private_key=raw.get("private_key"),
            key_id=raw.get("key_id"), signing_alg=str(raw.get("signing_alg", "RS256")),
            assertion_audience=chosen["assertion_audience"],
        )
        static_keys = ("authorization_endpoint", "token_endpoint", "jwks_uri", "backchannel_authentication_endpoint",
                       "authorization_response_iss_parameter_supported")
        return cls(
            issuer=provider_http.secure_url(str(raw["issuer"]), "camara.issuer"), client=client,
            api_base_url=provider_http.secure_url(str(raw["api_base_url"]).rstrip("/"), "camara.api_base_url"),
            scope=str(raw["scope"]), ciba_scope=str(raw.get("ciba_scope") or raw["scope"]),
            login_hint=chosen["login_hint"], number_format=chosen["number_format"], operation=chosen["operation"],
            discovery=raw.get("discovery", True) is not False,
            static={k: raw[k] for k in static_keys if k in raw},
            require_iss=raw["require_iss"] if isinstance(raw.get("require_iss"), bool) else None,
            **_sim_swap(raw, str(raw["api_base_url"])),
        )

    def metadata(self) -> oauth.Metadata:
        """Endpoints from the issuer's discovery document; the static configuration when it has none."""
        try:
            discovered = oauth.discover(self.issuer) if self.discovery else None
            if discovered is not None:
                return discovered
            return oauth.Metadata.from_mapping(self.static, self.issuer)
        except oauth.OidcError as error:
            raise ProviderNotConfigured(f"CAMARA endpoints unavailable for issuer {self.issuer}: {error.code}; "
                                        "publish discovery or set the endpoints in secret key camara") from None

    def iss_required(self, metadata: oauth.Metadata) -> bool:
        return self.require_iss if self.require_iss is not None else metadata.iss_parameter_supported


def _sim_swap(raw: Mapping[str, Any], api_base_url: str) -> dict[str, Any]:
    """`sim_swap_api_base_url` (default: beside Number Verification's, /sim-swap/v2) and
    `sim_swap_max_age_hours` (the operator's limit, 1 to 2400)."""
    limit = raw.get("sim_swap_max_age_hours")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 2400):
        raise ProviderNotConfigured("camara.sim_swap_max_age_hours must be a whole number of hours, 1 to 2400")
    default = api_base_url.rstrip("/").rsplit("/number-verification/", 1)[0] + "/sim-swap/v2"
    url = str(raw.get("sim_swap_api_base_url") or default).rstrip("/")
    return {"sim_swap_url": provider_http.secure_url(url, "camara.sim_swap_api_base_url"),
            "sim_swap_max_age_hours": limit}


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
