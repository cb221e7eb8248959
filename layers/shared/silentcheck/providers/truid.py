"""tru.ID PhoneCheck adapter: v0.2 (redirect + code exchange, default) and v0.1 (poll the result).

Wire format only: tru.ID's JSON in, `Started` / `Outcome` out. Facts and sources:
shared/reference/providers/truid-phonecheck.md.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from silentcheck import http, secrets, tokens
from silentcheck.checks import Binding, Check, Outcome, Reason
from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers import message_signatures, oidc
from silentcheck.providers.base import (
    CallbackRejected,
    CallbackRequest,
    CallbackTooEarly,
    DeviceNetwork,
    ProviderRefused,
    StartContext,
    Started,
    safe_code,
)

# tru.ID problem `type` fragments (…/api-errors#<code>) on HTTP errors.
PROBLEM_REASONS: dict[str, Reason] = {
    "phone_format_invalid": Reason.NUMBER_UNSUPPORTED,
    "mno_not_supported": Reason.CARRIER_UNSUPPORTED,
    "mno_redirect_unsupported": Reason.CARRIER_UNSUPPORTED,
    "not_mobile_ip": Reason.NOT_ON_MOBILE_DATA,
    "bad_request": Reason.PROVIDER_REJECTED,
    "forbidden": Reason.PROVIDER_REJECTED,
    "too_many_requests": Reason.PROVIDER_ERROR,
    "check_not_found": Reason.PROVIDER_ERROR,
}
# When the problem carries no known fragment (e.g. 400 "unsupported country" has the bare type).
STATUS_REASONS: dict[int, Reason] = {
    400: Reason.CARRIER_UNSUPPORTED,
    401: Reason.PROVIDER_REJECTED,
    403: Reason.PROVIDER_REJECTED,
    404: Reason.PROVIDER_ERROR,
    412: Reason.NOT_ON_MOBILE_DATA,
    429: Reason.PROVIDER_ERROR,
    501: Reason.CARRIER_UNSUPPORTED,
}
# `error_code` of a check in status ERROR, and `error` at the end of the redirect chain.
CHECK_ERROR_REASONS: dict[str, Reason] = {
    "not_mobile_ip": Reason.NOT_ON_MOBILE_DATA,
    "mno_not_supported": Reason.CARRIER_UNSUPPORTED,
    "mno_redirect_unsupported": Reason.CARRIER_UNSUPPORTED,
    "mno_user_not_found": Reason.NUMBER_UNSUPPORTED,
    "mno_timeout": Reason.PROVIDER_ERROR,
    "mno_response_error": Reason.PROVIDER_ERROR,
    "mno_server_error": Reason.PROVIDER_ERROR,
    "mno_no_data_available": Reason.PROVIDER_ERROR,
    "ip_mismatch": Reason.REDIRECT_FAILED,
}
# The device's IP belongs to another number: a verdict, not a failure.
MISMATCH_CODES = frozenset({"ip_msisdn_mismatch"})

FINAL_STATUSES = frozenset({"COMPLETED", "EXPIRED", "ERROR"})

Version = Literal["v0.1", "v0.2"]
_TOKEN_MARGIN_SECONDS = 60


class _Failed(Exception):
    def __init__(self, outcome: Outcome, retry_after: int | None = None, transient: bool = False) -> None:
        super().__init__(outcome.raw_code)
        self.outcome = outcome
        self.retry_after = retry_after
        self.transient = transient


@dataclass(frozen=True)
class _Config:
    base_url: str
    client_id: str
    client_secret: str
    version: Version
    scope: str

    @classmethod
    def from_secret(cls) -> _Config:
        # In the callback secret: provider_callback reads checks back from tru.ID with these credentials.
        raw = secrets.callback_section("truid")
        missing = [k for k in ("base_url", "client_id", "client_secret") if not raw.get(k)]
        if missing:
            raise ProviderNotConfigured(f"tru.ID is not configured: key truid of the callback secret "
                                        f"(CALLBACK_SECRET_ID) lacks {', '.join(missing)}")
        version = raw.get("api_version", "v0.2")
        if version not in ("v0.1", "v0.2"):
            raise ProviderNotConfigured(f"truid.api_version must be v0.1 or v0.2, not {version!r}")
        base_url = http.secure_url(str(raw["base_url"]).rstrip("/"), "truid.base_url")
        return cls(base_url, str(raw["client_id"]), str(raw["client_secret"]), version,
                   str(raw.get("scope", "phone_check")))


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_after: float  # time.monotonic()


_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


def _outcome_for_check_error(code: str, prefix: str = "") -> Outcome:
    raw = f"{prefix}{safe_code(code)}"
    if code in MISMATCH_CODES:
        return Outcome.not_verified(raw)
    return Outcome.failed(CHECK_ERROR_REASONS.get(code, Reason.PROVIDER_ERROR), raw)


def _http_failure(response: Any) -> _Failed:
    fragment = ""
    if "json" in response.headers.get("Content-Type", ""):
        try:
            fragment = str(response.json().get("type", "")).rpartition("#")[2]
        except ValueError:
            fragment = ""
    status = int(response.status_code)
    raw = f"{status}:{safe_code(fragment)}" if fragment else str(status)
    if fragment in MISMATCH_CODES:
        return _Failed(Outcome.not_verified(raw))
    reason = PROBLEM_REASONS.get(fragment) or STATUS_REASONS.get(status) or (
        Reason.PROVIDER_ERROR if status >= 500 else Reason.PROVIDER_REJECTED
    )
    retry_after = response.headers.get("Retry-After")
    return _Failed(
        Outcome.failed(reason, raw),
        retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
        transient=status == 429 or status >= 500,
    )


def _result_outcome(body: Any, version: Version) -> Outcome | None:
    """A PhoneCheck resource (GET, PATCH) as an outcome; None while tru.ID has no verdict. ValueError
    when the JSON is not an object."""
    if not isinstance(body, Mapping):
        raise ValueError("a PhoneCheck resource is a JSON object")
    status = body.get("status")
    if status == "COMPLETED":
        # `match` is optional since 2023; only a JSON true verifies.
        return Outcome.verified("COMPLETED") if body.get("match") is True else Outcome.not_verified("COMPLETED")
    if status == "EXPIRED":
        return Outcome.expired("EXPIRED")
    if status == "ERROR":
        return _outcome_for_check_error(str(body.get("error_code") or "unknown"))
    return None


class TruId:
    name: ClassVar[str] = "truid"
    accepts_operator_token: ClassVar[bool] = False
    uses_callbacks: ClassVar[bool] = True

    def start(self, ctx: StartContext) -> Started:
        config = _Config.from_secret()
        payload: dict[str, Any] = {"phone_number": ctx.phone_number.lstrip("+"), "reference_id": ctx.check_id}
        if config.version == "v0.2":
            payload["redirect_url"] = ctx.return_url
        if ctx.callback_url:
            payload["callback_url"] = ctx.callback_url
        try:
            body = self._call(config, "POST", f"/phone_check/{config.version}/checks", json=payload).json()
            check_url = body["_links"]["check_url"]["href"]
            check_id = body["check_id"]
        except _Failed as failure:
            raise ProviderRefused(failure.outcome, failure.retry_after) from None
        except (KeyError, TypeError, ValueError):
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "malformed_create_response")) from None
        ttl = body.get("ttl")
        # v0.2 ends at our /checks/return (device binding); v0.1 has no return hop.
        binding = Binding.DEVICE if config.version == "v0.2" else Binding.NONE
        return Started(provider_ref=str(check_id), check_url=str(check_url), binding=binding,
                       provider_version=config.version, ttl_seconds=int(ttl) if isinstance(ttl, int) else None)

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome:
        if check.provider_version == "v0.1":
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:unexpected_for_v0.1")
        error = query.get("error")
        if error:
            if error in CHECK_ERROR_REASONS or error in MISMATCH_CODES:
                return _outcome_for_check_error(error, prefix="redirect:")
            return Outcome.failed(Reason.REDIRECT_FAILED, f"redirect:{safe_code(error)}")
        code, returned_id = query.get("code"), query.get("check_id", "")
        if not code:
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:missing_code")
        if not check.provider_ref or not hmac.compare_digest(returned_id.encode(), check.provider_ref.encode()):
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:check_id_mismatch")
        config = _Config.from_secret()
        try:
            response = self._call(
                config, "PATCH", f"/phone_check/v0.2/checks/{check.provider_ref}",
                data=_json_patch(code), headers={"Content-Type": "application/json-patch+json"},
            )
            outcome = _result_outcome(response.json(), "v0.2")
        except _Failed as failure:
            if failure.outcome.raw_code in ("404", "404:check_not_found"):
                return Outcome.failed(Reason.REDIRECT_FAILED, failure.outcome.raw_code)
            return failure.outcome
        except ValueError:
            return Outcome.failed(Reason.PROVIDER_ERROR, "malformed_patch_response")
        return outcome or Outcome.failed(Reason.PROVIDER_ERROR, "patch:not_completed")

    def refresh(self, check: Check) -> Outcome | None:
        if not check.provider_ref:
            return None
        config = _Config.from_secret()
        version: Version = "v0.1" if check.provider_version == "v0.1" else "v0.2"
        try:
            body = self._call(config, "GET", f"/phone_check/{version}/checks/{check.provider_ref}").json()
        except _Failed as failure:
            return None if failure.transient else failure.outcome
        except ValueError:
            return None
        outcome = _result_outcome(body, version)
        if version == "v0.2" and outcome is not None and outcome.status.value in ("VERIFIED", "NOT_VERIFIED"):
            return None  # v0.2 verdicts come only from the code exchange, which binds the device
        return outcome

    def device_network(self, ip: str) -> DeviceNetwork | None:
        """tru.ID's Coverage API for a device IP (a token with the `coverage` scope): 200 names the network
        and whether PhoneCheck serves it, 412 says the IP is not on mobile data, 400 that tru.ID does not
        serve the network. Anything else: None (unknown; routing goes on without it)."""
        config = replace(_Config.from_secret(), scope="coverage")
        try:
            body = self._call(config, "GET", f"/coverage/v0.1/device_ips/{quote(ip, safe='')}").json()
        except _Failed as failure:
            code = failure.outcome.raw_code or ""
            if code.startswith("412"):
                return DeviceNetwork(mobile=False)
            if code.startswith("400"):
                return DeviceNetwork(mobile=True, coverage_provider_serves=False)
            return None
        except ValueError:
            return None
        products = body.get("products") if isinstance(body, dict) else None
        serves = isinstance(products, list) and any(
            isinstance(p, dict) and str(p.get("product_id", "")).lower() == "pck" for p in products)
        network_id = body.get("network_id")
        return DeviceNetwork(mobile=True, network_id=str(network_id) if network_id else None,
                             coverage_provider_serves=serves)

    def on_callback(self, check: Check, request: CallbackRequest) -> Outcome | None:
        """A signed callback is only a hint: once its signature holds and it names our check, the check is
        read back from tru.ID and only that answer counts (v0.2: only ERROR/EXPIRED, as on a poll; a v0.2
        match counts only through the device's code exchange)."""
        config = _Config.from_secret()

        def public_key(key_id: str) -> Any:
            try:
                return oidc.signing_key(f"{config.base_url}/.well-known/jwks.json", key_id).key
            except oidc.OidcError as error:
                raise message_signatures.SignatureInvalid(error.code) from None

        try:
            message_signatures.verify(request.method, request.path, request.headers, request.body, tokens.now(),
                                      public_key)
        except message_signatures.SignatureInvalid as invalid:
            raise CallbackRejected(f"signature:{invalid.why}") from None
        try:
            body = json.loads(request.body)
            named = str(body["check_id"])
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("malformed_body") from None
        if not check.provider_ref:
            raise CallbackTooEarly()
        if not hmac.compare_digest(named.encode(), check.provider_ref.encode()):
            raise CallbackRejected("other_check")
        outcome = self.refresh(check)
        if outcome is None and check.provider_version == "v0.1" and body.get("status") in FINAL_STATUSES:
            raise CallbackTooEarly()  # tru.ID's read still lags its callback: have tru.ID deliver again
        return outcome

    # -- HTTP -------------------------------------------------------------------------------------

    def _call(self, config: _Config, method: str, path: str, **kwargs: Any) -> Any:
        """A product API call with a cached token; a 401 (from the API or the token endpoint) makes one more
        try with the secret read afresh and a new token, then the failure stands."""
        extra_headers = kwargs.pop("headers", {})
        for fresh in (False, True):
            if fresh:  # a 401: the credentials may have been rotated; read the secret again, once
                secrets.forget()
                config = _Config.from_secret()
            try:
                token = self._token(config, force=fresh)
            except _Failed as failure:
                if not fresh and (failure.outcome.raw_code or "").startswith("token:401"):
                    continue
                raise
            headers = {**extra_headers, "Authorization": f"Bearer {token}"}
            try:
                response = http.send(method, config.base_url + path, headers=headers, **kwargs)
            except http.ProviderUnavailable as unavailable:
                raise _Failed(Outcome.failed(Reason.PROVIDER_ERROR, unavailable.kind), transient=True) from None
            if response.status_code == 401 and not fresh:
                continue
            if response.status_code >= 400:
                raise _http_failure(response)
            if "json" not in response.headers.get("Content-Type", ""):  # an HTML error page answered 200
                raise _Failed(Outcome.failed(Reason.PROVIDER_ERROR, f"{response.status_code}:not_json"),
                              transient=True)
            return response
        raise AssertionError("unreachable")

    def _token(self, config: _Config, force: bool) -> str:
        key = (config.base_url, config.client_id, config.scope)
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not force and time.monotonic() < cached.refresh_after:
                return cached.value
            try:
                response = http.send(
                    "POST", f"{config.base_url}/oauth2/v1/token",
                    headers={"Authorization": oidc.basic_authorization(config.client_id, config.client_secret)},
                    data={"grant_type": "client_credentials", "scope": config.scope},
                )
            except http.ProviderUnavailable as unavailable:
                raise _Failed(Outcome.failed(Reason.PROVIDER_ERROR, f"token:{unavailable.kind}"),
                              transient=True) from None
            if response.status_code != 200:
                failure = _http_failure(response)
                reason = Reason.PROVIDER_ERROR if failure.transient else Reason.PROVIDER_REJECTED
                raise _Failed(Outcome.failed(reason, f"token:{failure.outcome.raw_code}"),
                              failure.retry_after, failure.transient)
            try:
                body = response.json()
                value, expires_in = str(body["access_token"]), int(body.get("expires_in", 3600))
            except (KeyError, TypeError, ValueError):
                raise _Failed(Outcome.failed(Reason.PROVIDER_ERROR, "token:malformed"), transient=True) from None
            _tokens[key] = _Token(value, time.monotonic() + max(0, expires_in - _TOKEN_MARGIN_SECONDS))
            return value


def _json_patch(code: str) -> str:
    return json.dumps([{"op": "add", "path": "/code", "value": code}])


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()


def adapter() -> TruId:
    return TruId()
