"""tru.ID PhoneCheck adapter: v0.2 (redirect + code exchange, default) and v0.1 (poll the result).

Wire format only: tru.ID's JSON in, `Started` / `Outcome` out. Facts and sources:
docs/providers.md, tru.ID PhoneCheck (with its sources).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar
from urllib.parse import quote

from silentcheck import bodies, clock, credentials, provider_http, sim_swap
from silentcheck.checks import Binding, Check, Outcome, Reason
from silentcheck.config import settings
from silentcheck.errors import CallbackTooEarly, ProviderNotConfigured
from silentcheck.providers import message_signatures, oauth, truid_subscriber
from silentcheck.providers.base import (
    CALLBACK_MAX_BYTES,
    CALLBACK_MAX_DEPTH,
    CallbackRejected,
    CallbackRequest,
    DeviceNetwork,
    ProviderRefused,
    StartContext,
    Started,
    safe_code,
)
from silentcheck.providers.truid_results import (
    CHECK_ERROR_REASONS,
    FINAL_STATUSES,
    MISMATCH_CODES,
    Failed,
    Version,
    http_failure,
    outcome_for_check_error,
    result_outcome,
)

_TOKEN_MARGIN_SECONDS = 60
# What reading a check may answer while credentials rotate (a token of the old client, revoked or from
# another project, may get 403 or 404 as well as 401): read the secret again and retry once before the
# answer can end the check.
_ROTATION_STATUSES = frozenset({401, 403, 404})
# tru.ID publishes no poll interval (its CLI polls every 5 s): an app's polls reach tru.ID at most once
# per this many seconds and a second (checks.next_poll_at); polls in between are answered from the record.
POLL_INTERVAL_SECONDS = 2


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
        raw = credentials.callback_section("truid")
        missing = [k for k in ("base_url", "client_id", "client_secret") if not raw.get(k)]
        if missing:
            raise ProviderNotConfigured(f"tru.ID is not configured: key truid of the callback secret "
                                        f"(CALLBACK_SECRET_ID) lacks {', '.join(missing)}")
        version = raw.get("api_version", "v0.2")
        if version not in ("v0.1", "v0.2"):
            raise ProviderNotConfigured(f"truid.api_version must be v0.1 or v0.2, not {version!r}")
        base_url = provider_http.secure_url(str(raw["base_url"]).rstrip("/"), "truid.base_url")
        return cls(base_url, str(raw["client_id"]), str(raw["client_secret"]), version,
                   str(raw.get("scope", "phone_check")))


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_after: float  # time.monotonic()


_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


class TruId:
    name: ClassVar[str] = "truid"

    def sim_swap_range(self) -> sim_swap.HoursRange | None:  # SubscriberCheck v0.2; v0.1 has no `period`
        return truid_subscriber.HOURS if _Config.from_secret().version == "v0.2" else None

    def start(self, ctx: StartContext) -> Started:
        config = _Config.from_secret()
        if config.version == "v0.1" and not settings().allow_unbound_checks:  # refused before anything is billed
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, "unbound_not_allowed"))
        payload: dict[str, Any] = {"phone_number": ctx.phone_number.lstrip("+"), "reference_id": ctx.check_id}
        product = truid_subscriber.SUBSCRIBER_CHECK if ctx.sim_swap_hours is not None else "phone_check"
        if ctx.sim_swap_hours is not None:
            config = replace(config, scope=truid_subscriber.SCOPE)
            payload["period"] = truid_subscriber.period_minutes(ctx.sim_swap_hours)
        if config.version == "v0.2":
            payload["redirect_url"] = ctx.return_url
        if ctx.callback_url:
            payload["callback_url"] = ctx.callback_url
        if ctx.device_ip:  # tru.ID then ends a chain opened from another address in ERROR ip_mismatch
            payload["phone_ip"] = ctx.device_ip
        try:
            body = self._call(config, "POST", f"/{product}/{config.version}/checks", json=payload).json()
            check_url = body["_links"]["check_url"]["href"]
            check_id = body["check_id"]
        except Failed as failure:
            raise ProviderRefused(failure.outcome, failure.retry_after) from None
        except (KeyError, TypeError, ValueError):
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "malformed_create_response")) from None
        ttl = body.get("ttl")
        # v0.2 ends at our /checks/return (device binding); v0.1 has no return hop.
        binding = Binding.DEVICE if config.version == "v0.2" else Binding.NONE
        return Started(provider_ref=str(check_id), check_url=str(check_url), binding=binding,
                       provider_version=config.version, ttl_seconds=int(ttl) if isinstance(ttl, int) else None,
                       poll_interval=POLL_INTERVAL_SECONDS, attributes={"product": product})

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome:
        if check.provider_version == "v0.1":
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:unexpected_for_v0.1")
        error = query.get("error")
        if error:
            if error in CHECK_ERROR_REASONS or error in MISMATCH_CODES:
                return outcome_for_check_error(error, prefix="redirect:")
            return Outcome.failed(Reason.REDIRECT_FAILED, f"redirect:{safe_code(error)}")
        code, returned_id = query.get("code"), query.get("check_id", "")
        if not code:
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:missing_code")
        if not check.provider_ref or not hmac.compare_digest(returned_id.encode(), check.provider_ref.encode()):
            return Outcome.failed(Reason.REDIRECT_FAILED, "redirect:check_id_mismatch")
        config = _product_config(check)
        try:
            response = self._call(
                config, "PATCH", f"/{truid_subscriber.product_of(check)}/v0.2/checks/{check.provider_ref}",
                data=_json_patch(code), headers={"Content-Type": "application/json-patch+json"},
            )
            outcome = result_outcome(body := response.json(), "v0.2", truid_subscriber.answer(body, check))
        except Failed as failure:
            if failure.outcome.raw_code in ("404", "404:check_not_found"):
                return Outcome.failed(Reason.REDIRECT_FAILED, failure.outcome.raw_code)
            return failure.outcome
        except ValueError:
            return Outcome.failed(Reason.PROVIDER_ERROR, "malformed_patch_response")
        return outcome or Outcome.failed(Reason.PROVIDER_ERROR, "patch:not_completed")

    def refresh(self, check: Check) -> Outcome | None:
        if not check.provider_ref:
            return None
        config = _product_config(check)
        version: Version = "v0.1" if check.provider_version == "v0.1" else "v0.2"
        try:
            path = f"/{truid_subscriber.product_of(check)}/{version}/checks/{check.provider_ref}"
            body = self._call(config, "GET", path, fresh_on=_ROTATION_STATUSES).json()
        except Failed as failure:
            return None if failure.transient else failure.outcome
        except ValueError:
            return None
        outcome = result_outcome(body, version)
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
        except Failed as failure:
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
                return oauth.signing_key(f"{config.base_url}/.well-known/jwks.json", key_id).key
            except oauth.OidcError as error:
                raise message_signatures.SignatureInvalid(error.code) from None

        try:
            message_signatures.verify(request.method, request.path, request.headers, request.body, clock.now(),
                                      public_key)
        except message_signatures.SignatureInvalid as invalid:
            raise CallbackRejected(f"signature:{invalid.why}") from None
        try:
            body = bodies.loads(request.body, CALLBACK_MAX_BYTES, CALLBACK_MAX_DEPTH)
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

    def _call(self, config: _Config, method: str, path: str, fresh_on: frozenset[int] = frozenset({401}),
              **kwargs: Any) -> Any:
        """A product API call with a cached token; a 401 from the token endpoint, or a status in `fresh_on`
        from the API, makes one more try with the secret read afresh and a new token, then the failure stands."""
        extra_headers = kwargs.pop("headers", {})
        for fresh in (False, True):
            if fresh:  # a 401: the credentials may have been rotated; read the secret again, once
                credentials.forget()
                config = replace(_Config.from_secret(), scope=config.scope)  # the scope this call needs
            try:
                token = self._token(config, force=fresh)
            except Failed as failure:
                if not fresh and (failure.outcome.raw_code or "").startswith("token:401"):
                    continue
                raise
            headers = {**extra_headers, "Authorization": f"Bearer {token}"}
            try:
                response = provider_http.send(method, config.base_url + path, headers=headers, **kwargs)
            except provider_http.ProviderUnavailable as unavailable:
                raise Failed(Outcome.failed(Reason.PROVIDER_ERROR, unavailable.kind), transient=True) from None
            if response.status_code in fresh_on and not fresh:
                continue
            if response.status_code >= 400:
                raise http_failure(response)
            if "json" not in response.headers.get("Content-Type", ""):  # an HTML error page answered 200
                raise Failed(Outcome.failed(Reason.PROVIDER_ERROR, f"{response.status_code}:not_json"),
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
                response = provider_http.send(
                    "POST", f"{config.base_url}/oauth2/v1/token",
                    headers={"Authorization": oauth.basic_authorization(config.client_id, config.client_secret)},
                    data={"grant_type": "client_credentials", "scope": config.scope},
                )
            except provider_http.ProviderUnavailable as unavailable:
                raise Failed(Outcome.failed(Reason.PROVIDER_ERROR, f"token:{unavailable.kind}"),
                              transient=True) from None
            if response.status_code != 200:
                failure = http_failure(response)
                reason = Reason.PROVIDER_ERROR if failure.transient else Reason.PROVIDER_REJECTED
                raise Failed(Outcome.failed(reason, f"token:{failure.outcome.raw_code}"),
                              failure.retry_after, failure.transient)
            try:
                body = response.json()
                value, expires_in = str(body["access_token"]), int(body.get("expires_in", 3600))
            except (KeyError, TypeError, ValueError):
                raise Failed(Outcome.failed(Reason.PROVIDER_ERROR, "token:malformed"), transient=True) from None
            _tokens[key] = _Token(value, time.monotonic() + max(0, expires_in - _TOKEN_MARGIN_SECONDS))
            return value


def _product_config(check: Check) -> _Config:  # SubscriberCheck's endpoints need their own scope
    return replace(config := _Config.from_secret(), scope=truid_subscriber.scope_for(check, config.scope))


def _json_patch(code: str) -> str:
    return json.dumps([{"op": "add", "path": "/code", "value": code}])


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()


def adapter() -> TruId:
    return TruId()
