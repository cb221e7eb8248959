"""tru.ID PhoneCheck adapter: v0.2 (redirect + code exchange, default) and v0.1 (poll the result).

Wire format only: tru.ID's JSON in, `Started` / `Outcome` out. Facts and sources:
docs/providers.md, tru.ID PhoneCheck (with its sources).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from silentcheck import bodies, clock, credentials, provider_http, sim_swap
from silentcheck.checks import Binding, Check, Outcome, Reason
from silentcheck.config import settings
from silentcheck.errors import CallbackTooEarly
from silentcheck.providers import message_signatures, oauth, truid_subscriber
from silentcheck.providers.base import (
    CALLBACK_MAX_BYTES,
    CALLBACK_MAX_DEPTH,
    CallbackRejected,
    CallbackRequest,
    DeviceNetwork,
    PollAgain,
    ProviderRefused,
    StartContext,
    Started,
    safe_code,
    unavailable,
)
from silentcheck.providers.secret_sections import CALLBACK_SECRET, HttpsUrl, SecretSection
from silentcheck.providers.truid_results import (
    CHECK_ERROR_REASONS,
    FINAL_STATUSES,
    MISMATCH_CODES,
    Version,
    http_failure,
    outcome_for_check_error,
    result_outcome,
)

# What reading a check may answer while credentials rotate (a token of the old client, revoked or from
# another project, may get 403 or 404 as well as 401): read the secret again and retry once before the
# answer can end the check.
_ROTATION_STATUSES = frozenset({401, 403, 404})
# tru.ID publishes no poll interval (its CLI polls every 5 s): an app's polls reach tru.ID at most once
# per this many seconds and a second (checks.next_poll_at); polls in between are answered from the record.
POLL_INTERVAL_SECONDS = 2


class _Config(SecretSection):
    """Key `truid` of the callback secret: provider_callback reads checks back from tru.ID with these credentials."""

    SECTION: ClassVar[str] = "truid"
    PROVIDER: ClassVar[str] = "tru.ID"
    SECRET: ClassVar[str] = CALLBACK_SECRET

    base_url: HttpsUrl
    client_id: str
    client_secret: str
    api_version: Version = "v0.2"
    scope: str = "phone_check"

    @classmethod
    def from_secret(cls, scope: str | None = None) -> _Config:
        """The section as the secret holds it now; with `scope`, for a call that needs that scope."""
        config = cls.parse(credentials.callback_section("truid"))
        return config if scope is None else config.model_copy(update={"scope": scope})

    def token(self, fresh: bool = False) -> str:
        return oauth.client_credentials_token(
            f"{self.base_url}/oauth2/v1/token",
            oauth.TokenEndpointAuth("client_secret_basic", self.client_id, self.client_secret), self.scope, fresh=fresh)


class TruId:
    name: ClassVar[str] = "truid"

    def sim_swap_range(self) -> sim_swap.HoursRange | None:  # SubscriberCheck v0.2; v0.1 has no `period`
        return truid_subscriber.HOURS if _Config.from_secret().api_version == "v0.2" else None

    def start(self, ctx: StartContext) -> Started:
        config = _Config.from_secret()
        version = config.api_version
        if version == "v0.1" and not settings().allow_unbound_checks:  # refused before anything is billed
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, "unbound_not_allowed"))
        payload: dict[str, Any] = {"phone_number": ctx.phone_number.lstrip("+"), "reference_id": ctx.check_id}
        product = truid_subscriber.SUBSCRIBER_CHECK if ctx.sim_swap_hours is not None else "phone_check"
        if ctx.sim_swap_hours is not None:
            config = config.model_copy(update={"scope": truid_subscriber.SCOPE})
            payload["period"] = truid_subscriber.period_minutes(ctx.sim_swap_hours)
        if version == "v0.2":
            payload["redirect_url"] = ctx.return_url
        if ctx.callback_url:
            payload["callback_url"] = ctx.callback_url
        if ctx.device_ip:  # tru.ID then ends a chain opened from another address in ERROR ip_mismatch
            payload["phone_ip"] = ctx.device_ip
        try:
            body = self._call(config, "POST", f"/{product}/{version}/checks", json=payload).json()
            check_url = body["_links"]["check_url"]["href"]
            check_id = body["check_id"]
        except (KeyError, TypeError, ValueError):
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "malformed_create_response")) from None
        ttl = body.get("ttl")
        # v0.2 ends at our /checks/return (device binding); v0.1 has no return hop.
        binding = Binding.DEVICE if version == "v0.2" else Binding.NONE
        return Started(provider_ref=str(check_id), check_url=str(check_url), binding=binding,
                       provider_version=version, ttl_seconds=int(ttl) if isinstance(ttl, int) else None,
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
        except ProviderRefused as failure:
            if failure.outcome.raw_code in ("404", "404:check_not_found"):
                return Outcome.failed(Reason.REDIRECT_FAILED, failure.outcome.raw_code)
            return failure.outcome
        except ValueError:
            return Outcome.failed(Reason.PROVIDER_ERROR, "malformed_patch_response")
        return outcome or Outcome.failed(Reason.PROVIDER_ERROR, "patch:not_completed")

    def refresh(self, check: Check) -> Outcome | PollAgain | None:
        """tru.ID's word on the check; an outage asks again at the next poll, or no sooner than tru.ID's
        Retry-After."""
        if not check.provider_ref:
            return None
        config = _product_config(check)
        version: Version = "v0.1" if check.provider_version == "v0.1" else "v0.2"
        try:
            path = f"/{truid_subscriber.product_of(check)}/{version}/checks/{check.provider_ref}"
            body = self._call(config, "GET", path, fresh_on=_ROTATION_STATUSES).json()
        except ProviderRefused as failure:
            if not failure.transient:
                return failure.outcome
            return PollAgain(max(failure.retry_after, POLL_INTERVAL_SECONDS)) if failure.retry_after else None
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
        config = _Config.from_secret(scope="coverage")
        try:
            body = self._call(config, "GET", f"/coverage/v0.1/device_ips/{quote(ip, safe='')}").json()
        except ProviderRefused as failure:
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
        read = self.refresh(check)
        outcome = read if isinstance(read, Outcome) else None
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
                config = _Config.from_secret(scope=config.scope)  # the scope this call needs
            try:
                token = config.token(fresh=fresh)
            except ProviderRefused as failure:
                if not fresh and (failure.outcome.raw_code or "").startswith("token:401"):
                    continue
                raise
            headers = {**extra_headers, "Authorization": f"Bearer {token}"}
            try:
                response = provider_http.send(method, config.base_url + path, headers=headers, **kwargs)
            except provider_http.ProviderUnavailable as failure:
                raise unavailable(failure.kind) from None
            if response.status_code in fresh_on and not fresh:
                continue
            if response.status_code >= 400:
                raise http_failure(response)
            if "json" not in response.headers.get("Content-Type", ""):  # an HTML error page answered 200
                raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, f"{response.status_code}:not_json"),
                                      transient=True)
            return response
        raise AssertionError("unreachable")


def _product_config(check: Check) -> _Config:  # SubscriberCheck's endpoints need their own scope
    config = _Config.from_secret()
    return config.model_copy(update={"scope": truid_subscriber.scope_for(check, config.scope)})


def _json_patch(code: str) -> str:
    return json.dumps([{"op": "add", "path": "/code", "value": code}])


def adapter() -> TruId:
    return TruId()
