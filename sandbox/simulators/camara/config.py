"""How a simulated CAMARA aggregator is set up: its registered clients and its timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["live", "mock"]


@dataclass(frozen=True)
class CamaraClient:
    """An API consumer registered at onboarding."""

    redirect_uris: tuple[str, ...]  # exact string match
    client_secret: str | None = None  # set => client_secret_basic allowed
    public_jwk: dict[str, Any] | None = None  # set => private_key_jwt allowed (JWK with kid; RS256 or ES256)
    mode: Mode = "live"
    require_pkce: bool = True
    # The one `aud` a private_key_jwt assertion may carry: the URL of the endpoint it is posted to (RFC 7523
    # §3; at /bc-authorize the token endpoint too, CIBA Core §7.1), or only the issuer identifier, as a
    # string (FAPI 2.0 Security Profile §5.3.2.1, draft-ietf-oauth-rfc7523bis).
    assertion_audience: Literal["token_endpoint", "issuer"] = "token_endpoint"


@dataclass(frozen=True)
class CamaraConfig:
    network_url: str
    api_version: str = "v2"  # NV path: /number-verification/{api_version}
    code_ttl_seconds: int = 60
    token_expires_in: int = 300
    ciba_interval: int = 2
    ciba_expires_in: int = 120
    send_iss: bool = True  # RFC 9207 iss in the authorization response; also advertised in metadata
    clock: Callable[[], float] = time.time
    public_url: str | None = None  # issuer/base URL; default: scheme + Host of each request
    sim_swap_max_age_hours: int = 2400  # the operator's own SIM Swap maxAge limit (CAMARA allows 1 to 2400)
