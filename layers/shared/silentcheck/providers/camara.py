"""CAMARA Number Verification through an Open Gateway aggregator: the OIDC authorization code flow
(device on mobile data, device-bound) and CIBA with a TS.43 operator token (works over Wi-Fi).

Wire format only: the aggregator's OAuth and NV JSON in, `Started` / `Outcome` out. Facts and sources:
shared/reference/providers/camara-number-verification.md; OAuth duties: security-requirements.md §1.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

from silentcheck import http, secrets, tokens
from silentcheck.checks import Binding, Check, Outcome, Reason
from silentcheck.errors import ProviderNotConfigured
from silentcheck.observability import logger
from silentcheck.providers import oidc
from silentcheck.providers.base import (
    CallbackRejected,
    CallbackRequest,
    DeviceNetwork,
    PollAgain,
    ProviderRefused,
    StartContext,
    Started,
    safe_code,
)

# `error` on the authorization response (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, CAMARA ICM appendix A).
AUTHORIZE_ERROR_REASONS: dict[str, Reason] = {
    "access_denied": Reason.USER_NOT_AUTHENTICATED,
    "login_required": Reason.USER_NOT_AUTHENTICATED,
    "interaction_required": Reason.USER_NOT_AUTHENTICATED,
    "consent_required": Reason.USER_NOT_AUTHENTICATED,
    "account_selection_required": Reason.USER_NOT_AUTHENTICATED,
    "invalid_request": Reason.PROVIDER_REJECTED,
    "unauthorized_client": Reason.PROVIDER_REJECTED,
    "unsupported_response_type": Reason.PROVIDER_REJECTED,
    "invalid_scope": Reason.PROVIDER_REJECTED,
    "invalid_request_object": Reason.PROVIDER_REJECTED,
    "request_not_supported": Reason.PROVIDER_REJECTED,
    "request_uri_not_supported": Reason.PROVIDER_REJECTED,
    "server_error": Reason.PROVIDER_ERROR,
    "temporarily_unavailable": Reason.PROVIDER_ERROR,
}
# `error` from the token and backchannel endpoints (RFC 6749 §5.2, CIBA Core §11, §13).
TOKEN_ERROR_REASONS: dict[str, Reason] = {
    "invalid_grant": Reason.REDIRECT_FAILED,  # code or auth_req_id invalid, used, expired, or PKCE failed
    "invalid_client": Reason.PROVIDER_REJECTED,
    "unauthorized_client": Reason.PROVIDER_REJECTED,
    "unsupported_grant_type": Reason.PROVIDER_REJECTED,
    "invalid_scope": Reason.PROVIDER_REJECTED,
    "invalid_request": Reason.PROVIDER_REJECTED,
    "invalid_request_object": Reason.PROVIDER_REJECTED,
    "invalid_dpop_proof": Reason.PROVIDER_REJECTED,
    "unknown_user_id": Reason.USER_NOT_AUTHENTICATED,  # /bc-authorize: operator token not recognised
    "access_denied": Reason.USER_NOT_AUTHENTICATED,
    "server_error": Reason.PROVIDER_ERROR,
    "temporarily_unavailable": Reason.PROVIDER_ERROR,
}
# ErrorInfo `code` of /verify and /device-phone-number, without the `NUMBER_VERIFICATION.` prefix
# (aggregators and spec versions spell it both ways). Anything starting USER_NOT_AUTHENTICATED (the
# aggregators' `..._BY_SUPPORTED_METHOD` too) means "could not verify", never "not this number".
NV_CODE_REASONS: dict[str, Reason] = {
    "USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK": Reason.USER_NOT_AUTHENTICATED,
    "INVALID_TOKEN_CONTEXT": Reason.USER_NOT_AUTHENTICATED,
    "INVALID_TS43_TOKEN": Reason.USER_NOT_AUTHENTICATED,
    "INVALID_ARGUMENT": Reason.PROVIDER_REJECTED,
    "UNAUTHENTICATED": Reason.PROVIDER_REJECTED,
    "AUTHENTICATION_REQUIRED": Reason.PROVIDER_REJECTED,
    "PERMISSION_DENIED": Reason.PROVIDER_REJECTED,
    "SERVICE_NOT_APPLICABLE": Reason.CARRIER_UNSUPPORTED,
    "NOT_IMPLEMENTED": Reason.CARRIER_UNSUPPORTED,
    "QUOTA_EXCEEDED": Reason.PROVIDER_ERROR,
    "TOO_MANY_REQUESTS": Reason.PROVIDER_ERROR,
    "INTERNAL": Reason.PROVIDER_ERROR,
    "BAD_GATEWAY": Reason.PROVIDER_ERROR,
    "UNAVAILABLE": Reason.PROVIDER_ERROR,
    "TIMEOUT": Reason.PROVIDER_ERROR,
}
# Unknown codes fall back by HTTP status.
NV_STATUS_REASONS: dict[int, Reason] = {
    400: Reason.PROVIDER_REJECTED,
    401: Reason.PROVIDER_REJECTED,
    403: Reason.PROVIDER_REJECTED,
    404: Reason.PROVIDER_ERROR,
    422: Reason.PROVIDER_REJECTED,
    429: Reason.PROVIDER_ERROR,
    501: Reason.CARRIER_UNSUPPORTED,
}

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
CIBA_DEFAULT_INTERVAL = 5  # CIBA Core §7.3 when the response has none
SLOW_DOWN_SECONDS = 5



class _Failed(Exception):
    def __init__(self, outcome: Outcome, transient: bool = False, error: str | None = None) -> None:
        super().__init__(outcome.raw_code)
        self.outcome = outcome
        self.transient = transient
        self.error = error  # the OAuth `error`, when there was one


@dataclass(frozen=True)
class _Config:
    issuer: str
    client: oidc.ClientAuth
    api_base_url: str
    scope: str
    ciba_scope: str
    login_hint: Literal["none", "tel", "plain"]
    number_format: Literal["phone_number", "hashed"]
    operation: Literal["verify", "device_phone_number"]
    discovery: bool
    static: Mapping[str, Any] = field(default_factory=dict)
    require_iss: bool | None = None

    @classmethod
    def from_secret(cls) -> _Config:
        raw = secrets.section("camara")
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
        client = oidc.ClientAuth(
            method=chosen["client_auth"], client_id=str(raw["client_id"]),
            client_secret=raw.get("client_secret"), private_key=raw.get("private_key"),
            key_id=raw.get("key_id"), signing_alg=str(raw.get("signing_alg", "RS256")),
            assertion_audience=chosen["assertion_audience"],
        )
        static_keys = ("authorization_endpoint", "token_endpoint", "jwks_uri", "backchannel_authentication_endpoint",
                       "authorization_response_iss_parameter_supported")
        return cls(
            issuer=http.secure_url(str(raw["issuer"]), "camara.issuer"), client=client,
            api_base_url=http.secure_url(str(raw["api_base_url"]).rstrip("/"), "camara.api_base_url"),
            scope=str(raw["scope"]), ciba_scope=str(raw.get("ciba_scope") or raw["scope"]),
            login_hint=chosen["login_hint"], number_format=chosen["number_format"], operation=chosen["operation"],
            discovery=raw.get("discovery", True) is not False,
            static={k: raw[k] for k in static_keys if k in raw},
            require_iss=raw["require_iss"] if isinstance(raw.get("require_iss"), bool) else None,
        )

    def metadata(self) -> oidc.Metadata:
        """Endpoints from the issuer's discovery document; the static configuration when it has none."""
        try:
            discovered = oidc.discover(self.issuer) if self.discovery else None
            if discovered is not None:
                return discovered
            return oidc.Metadata.from_mapping(self.static, self.issuer)
        except oidc.OidcError as error:
            raise ProviderNotConfigured(f"CAMARA endpoints unavailable for issuer {self.issuer}: {error.code}; "
                                        "publish discovery or set the endpoints in secret key camara") from None

    def iss_required(self, metadata: oidc.Metadata) -> bool:
        return self.require_iss if self.require_iss is not None else metadata.iss_parameter_supported


def _oidc_key() -> bytes:
    return tokens.subkey(secrets.pepper(), "oidc/v1")


def code_verifier(state: str) -> str:
    """The PKCE verifier of the request that carried `state`: 43 unreserved characters, derived with a
    server-side key, so neither it nor the state is ever stored and the device cannot compute it."""
    return tokens.derive(_oidc_key(), f"pkce:{state}")


def nonce_for(state: str) -> str:
    return tokens.derive(_oidc_key(), f"nonce:{state}")


def hashed_phone_number(e164: str) -> str:
    """CAMARA's hashedPhoneNumber: SHA-256 hex of the E.164 number with its '+'."""
    return hashlib.sha256(e164.encode()).hexdigest()


def _api_version(api_base_url: str) -> str:
    return api_base_url.rstrip("/").rpartition("/")[2]


class Camara:
    name: ClassVar[str] = "camara"
    accepts_operator_token: ClassVar[bool] = True
    uses_callbacks: ClassVar[bool] = False

    def start(self, ctx: StartContext) -> Started:
        config = _Config.from_secret()
        metadata = config.metadata()
        if ctx.operator_token:
            return self._start_ciba(config, metadata, ctx)
        params = {
            "response_type": "code",
            "client_id": config.client.client_id,
            "scope": config.scope,
            "redirect_uri": ctx.redirect_uri,
            "state": ctx.state,
            "nonce": nonce_for(ctx.state),
            "code_challenge": oidc.pkce_challenge(code_verifier(ctx.state)),
            "code_challenge_method": "S256",
            "prompt": "none",
        }
        if config.login_hint == "tel":
            params["login_hint"] = f"tel:{ctx.phone_number}"
        elif config.login_hint == "plain":
            params["login_hint"] = ctx.phone_number
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return Started(
            provider_ref=None,
            check_url=f"{metadata.authorization_endpoint}{separator}{urlencode(params)}",
            binding=Binding.DEVICE,
            provider_version=_api_version(config.api_base_url),
            attributes={"flow": "authorization_code", "issuer": config.issuer, "redirect_uri": ctx.redirect_uri,
                        "iss_required": str(config.iss_required(metadata)).lower()},
            confidential={"phone_number": ctx.phone_number},
        )

    def _start_ciba(self, config: _Config, metadata: oidc.Metadata, ctx: StartContext) -> Started:
        endpoint = metadata.backchannel_authentication_endpoint
        if not endpoint:
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, "bc-authorize:not_offered"))
        form = {"scope": config.ciba_scope, "login_hint": f"operatortoken:{ctx.operator_token}"}
        try:
            body = self._oauth_post(config, endpoint, form, "bc-authorize")
            auth_req_id = str(body["auth_req_id"])
            expires_in = int(body["expires_in"])
            interval = int(body.get("interval") or CIBA_DEFAULT_INTERVAL)
        except _Failed as failure:
            raise ProviderRefused(failure.outcome) from None
        except (KeyError, TypeError, ValueError):
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "bc-authorize:malformed")) from None
        return Started(
            provider_ref=None,
            check_url=None,
            binding=Binding.OPERATOR_TOKEN,
            provider_version=_api_version(config.api_base_url),
            ttl_seconds=expires_in,
            attributes={"flow": "ciba", "issuer": config.issuer},
            confidential={"phone_number": ctx.phone_number, "auth_req_id": auth_req_id},
            poll_interval=max(1, interval),
        )

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome:
        if check.attributes.get("flow") != "authorization_code":
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:unexpected_for_flow")
        issuer = check.attributes.get("issuer", "")
        iss = query.get("iss")
        if iss is not None and iss != issuer:  # RFC 9207 §2.4: simple string comparison
            return Outcome.failed(Reason.REDIRECT_FAILED, "authorize:iss_mismatch")
        if iss is None and check.attributes.get("iss_required") == "true":
            return Outcome.failed(Reason.REDIRECT_FAILED, "authorize:iss_missing")
        error = query.get("error")
        if error:
            reason = AUTHORIZE_ERROR_REASONS.get(error, Reason.REDIRECT_FAILED)
            return Outcome.failed(reason, f"authorize:{safe_code(error)}")
        code, state = query.get("code"), query.get("state", "")
        if not code:
            return Outcome.failed(Reason.REDIRECT_FAILED, "authorize:missing_code")
        config = _Config.from_secret()
        if config.issuer != issuer:
            return Outcome.failed(Reason.PROVIDER_REJECTED, "issuer_changed")
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": check.attributes.get("redirect_uri", ""), "code_verifier": code_verifier(state)}
        return self._redeem(config, check, form, nonce=nonce_for(state))

    def refresh(self, check: Check) -> Outcome | PollAgain | None:
        if check.attributes.get("flow") != "ciba":
            return None  # the authorization code flow decides only on the device's return
        auth_req_id = check.confidential.get("auth_req_id")
        interval = check.poll_interval or CIBA_DEFAULT_INTERVAL
        if not auth_req_id:
            return Outcome.failed(Reason.PROVIDER_ERROR, "ciba:lost_auth_req_id")
        config = _Config.from_secret()
        try:
            return self._redeem(config, check, {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}, nonce=None,
                                raise_pending=True)
        except _Failed as failure:
            if failure.error == "authorization_pending" or failure.transient:
                return PollAgain(interval)
            if failure.error == "slow_down":
                return PollAgain(interval + SLOW_DOWN_SECONDS)
            if failure.error == "expired_token":
                return Outcome.expired("ciba:expired_token")
            if failure.error == "invalid_grant":  # the auth_req_id is unknown, used or revoked
                return Outcome.failed(Reason.PROVIDER_ERROR, "ciba:invalid_grant")
            return failure.outcome

    def device_network(self, ip: str) -> DeviceNetwork | None:
        return None  # no coverage lookup

    def on_callback(self, check: Check, request: CallbackRequest) -> Outcome | None:
        raise CallbackRejected("CAMARA pushes nothing to callbacks")

    # -- token, ID token, NV call ------------------------------------------------------------------

    def _redeem(self, config: _Config, check: Check, form: dict[str, str], nonce: str | None,
                raise_pending: bool = False) -> Outcome:
        """Token endpoint once, the ID token checked, the access token used for one NV call, then dropped."""
        stage = "ciba" if form["grant_type"] == CIBA_GRANT else "token"
        try:
            metadata = config.metadata()
            body = self._oauth_post(config, metadata.token_endpoint, form, stage)
        except _Failed as failure:
            if raise_pending:
                raise
            return failure.outcome
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            return Outcome.failed(Reason.PROVIDER_ERROR, f"{stage}:malformed")
        id_token = body.get("id_token")
        scope = config.ciba_scope if stage == "ciba" else config.scope
        if id_token is None and "openid" in scope.split():
            # OIDC Core §3.1.3.3 / CIBA Core §10.1.1: asked for, so it must come; without it nothing binds
            # these tokens to this issuer, this client and (code flow) this request's nonce.
            logger.warning("ID token missing", check_id=check.check_id, raw_code="id_token_missing")
            return Outcome.failed(Reason.PROVIDER_ERROR, "id_token_missing")
        if id_token is not None:
            try:
                oidc.validate_id_token(str(id_token), issuer=config.issuer, client_id=config.client.client_id,
                                       jwks_uri=metadata.jwks_uri, nonce=nonce)
            except oidc.OidcError as invalid:
                logger.warning("ID token rejected", check_id=check.check_id, raw_code=invalid.code)
                return Outcome.failed(Reason.PROVIDER_ERROR, invalid.code)
        number = check.confidential.get("phone_number")
        if not number:
            return Outcome.failed(Reason.PROVIDER_ERROR, "number_unavailable")
        return self._verify_number(config, access_token, number, check.check_id)

    def _oauth_post(self, config: _Config, endpoint: str, form: dict[str, str], stage: str) -> dict[str, Any]:
        try:
            request = config.client.apply(form, endpoint, config.issuer)
            response = http.send("POST", endpoint, headers={"Accept": "application/json", **request.headers},
                                 data=request.data)
        except http.ProviderUnavailable as unavailable:
            outcome = Outcome.failed(Reason.PROVIDER_ERROR, f"{stage}:{unavailable.kind}")
            raise _Failed(outcome, transient=True) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        status = int(response.status_code)
        if isinstance(error, str) and error in TOKEN_ERROR_REASONS:
            reason = TOKEN_ERROR_REASONS[error]
        else:
            reason = Reason.PROVIDER_ERROR if status >= 500 or status == 429 else Reason.PROVIDER_REJECTED
        code = safe_code(error) if isinstance(error, str) else str(status)
        transient = status >= 500 or status == 429
        raise _Failed(Outcome.failed(reason, f"{stage}:{code}"), transient=transient,
                      error=error if isinstance(error, str) else None)

    def _verify_number(self, config: _Config, access_token: str, e164: str, check_id: str) -> Outcome:
        correlator = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {access_token}", "x-correlator": correlator,
                   "Accept": "application/json"}
        logger.info("calling CAMARA number verification", check_id=check_id, x_correlator=correlator,
                    operation=config.operation)
        try:
            if config.operation == "device_phone_number":
                response = http.send("GET", f"{config.api_base_url}/device-phone-number", headers=headers)
            else:
                body = ({"hashedPhoneNumber": hashed_phone_number(e164)} if config.number_format == "hashed"
                        else {"phoneNumber": e164})
                response = http.send("POST", f"{config.api_base_url}/verify", headers=headers, json=body)
        except http.ProviderUnavailable as unavailable:
            return Outcome.failed(Reason.PROVIDER_ERROR, f"verify:{unavailable.kind}")
        if response.headers.get("x-correlator") not in (None, correlator):
            logger.warning("x-correlator not echoed as sent", check_id=check_id, x_correlator=correlator)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            return _nv_failure(int(response.status_code), payload)
        if config.operation == "device_phone_number":
            return _compare_device_number(payload, e164)
        return _verdict(payload)


def _verdict(payload: Any) -> Outcome:
    """Only a JSON true verifies; "true", a missing field or anything extra is not an answer we trust."""
    if not isinstance(payload, dict) or set(payload) != {"devicePhoneNumberVerified"}:
        return Outcome.failed(Reason.PROVIDER_ERROR, "verify:malformed")
    verdict = payload["devicePhoneNumberVerified"]
    if verdict is True:
        return Outcome.verified("verify:true")
    if verdict is False:
        return Outcome.not_verified("verify:false")
    return Outcome.failed(Reason.PROVIDER_ERROR, "verify:malformed")


def _nv_failure(status: int, payload: Any) -> Outcome:
    """ErrorInfo {status, code, message}, parsed leniently: the code decides, else the HTTP status."""
    raw = payload.get("code") if isinstance(payload, dict) else None
    code = raw.removeprefix("NUMBER_VERIFICATION.") if isinstance(raw, str) else ""
    if code.startswith("USER_NOT_AUTHENTICATED"):
        reason = Reason.USER_NOT_AUTHENTICATED
    else:
        reason = NV_CODE_REASONS.get(code) or NV_STATUS_REASONS.get(status) or (
            Reason.PROVIDER_ERROR if status >= 500 else Reason.PROVIDER_REJECTED)
    return Outcome.failed(reason, f"verify:{status}:{safe_code(raw)}" if isinstance(raw, str) else f"verify:{status}")


def _compare_device_number(payload: Any, e164: str) -> Outcome:
    """device-phone-number mode: compared here, the returned number never stored or logged."""
    shared = payload.get("devicePhoneNumber") if isinstance(payload, dict) else None
    if not isinstance(shared, str) or not shared.startswith("+"):
        return Outcome.failed(Reason.PROVIDER_ERROR, "device-phone-number:malformed")
    if hmac.compare_digest(shared.encode(), e164.encode()):
        return Outcome.verified("device-phone-number:match")
    return Outcome.not_verified("device-phone-number:mismatch")


def adapter() -> Camara:
    return Camara()
