"""CAMARA Number Verification through an Open Gateway aggregator: the OIDC authorization code flow
(device on mobile data, device-bound) and CIBA with a TS.43 operator token (works over Wi-Fi).

Wire format only: the aggregator's OAuth and NV JSON in, `Started` / `Outcome` out. Facts and sources:
docs/providers.md, CAMARA Number Verification; the OAuth client's duties (RFC 9700, RFC 9207,
OIDC Core): docs/security.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlencode

from silentcheck import provider_http
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.observability import logger
from silentcheck.providers import camara_sim_swap, oauth
from silentcheck.providers.base import (
    PollAgain,
    ProviderRefused,
    StartContext,
    Started,
    http_failure,
    safe_code,
    unavailable,
)
from silentcheck.providers.camara_config import Config, code_verifier, hashed_phone_number, nonce_for
from silentcheck.providers.camara_results import (
    AUTHORIZE_ERROR_REASONS,
    TOKEN_ERROR_REASONS,
    compare_device_number,
    nv_failure,
    verdict,
)
from silentcheck.sim_swap import HoursRange

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
CIBA_DEFAULT_INTERVAL = 5  # CIBA Core §7.3 when the response has none
SLOW_DOWN_SECONDS = 5


def _api_version(api_base_url: str) -> str:
    return api_base_url.rstrip("/").rpartition("/")[2]


class Camara:
    name: ClassVar[str] = "camara"

    def sim_swap_range(self) -> HoursRange:
        return camara_sim_swap.hours_range(Config.from_secret().sim_swap_max_age_hours)

    def start(self, ctx: StartContext) -> Started:
        """The authorization code flow: the device opens check_url on mobile data."""
        config = Config.from_secret()
        metadata = config.metadata()
        params = {
            "response_type": "code",
            "client_id": config.client.client_id,
            "scope": config.scope if ctx.sim_swap_hours is None else camara_sim_swap.with_scope(config.scope),
            "redirect_uri": ctx.redirect_uri,
            "state": ctx.state,
            "nonce": nonce_for(ctx.state),
            "code_challenge": oauth.pkce_challenge(code_verifier(ctx.state)),
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

    def start_with_operator_token(self, ctx: StartContext) -> Started:
        """CIBA with the operator token as login_hint: no device hop; the app's polls redeem it."""
        config = Config.from_secret()
        metadata = config.metadata()
        endpoint = metadata.backchannel_authentication_endpoint
        if not endpoint:
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, "bc-authorize:not_offered"))
        scope = config.ciba if ctx.sim_swap_hours is None else camara_sim_swap.with_scope(config.ciba)
        form = {"scope": scope, "login_hint": f"operatortoken:{ctx.operator_token}"}
        try:
            body = self._oauth_post(config, endpoint, form, "bc-authorize")
            auth_req_id = str(body["auth_req_id"])
            expires_in = int(body["expires_in"])
            interval = int(body.get("interval") or CIBA_DEFAULT_INTERVAL)
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
        config = Config.from_secret()
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
        config = Config.from_secret()
        try:
            return self._redeem(config, check, {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}, nonce=None,
                                raise_pending=True)
        except ProviderRefused as failure:
            if failure.error == "authorization_pending" or failure.transient:
                return PollAgain(max(interval, failure.retry_after or 0))  # no sooner than Retry-After
            if failure.error == "slow_down":
                return PollAgain(interval + SLOW_DOWN_SECONDS)
            if failure.error == "expired_token":
                return Outcome.expired("ciba:expired_token")
            if failure.error == "invalid_grant":  # the auth_req_id is unknown, used or revoked
                return Outcome.failed(Reason.PROVIDER_ERROR, "ciba:invalid_grant")
            return failure.outcome

    # -- token, ID token, NV call ------------------------------------------------------------------

    def _redeem(self, config: Config, check: Check, form: dict[str, str], nonce: str | None,
                raise_pending: bool = False) -> Outcome:
        """Token endpoint once, the ID token checked, the access token used for one NV call, then dropped."""
        stage = "ciba" if form["grant_type"] == CIBA_GRANT else "token"
        try:
            metadata = config.metadata()
            body = self._oauth_post(config, metadata.token_endpoint, form, stage)
        except ProviderRefused as failure:
            if raise_pending:
                raise
            return failure.outcome
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            return Outcome.failed(Reason.PROVIDER_ERROR, f"{stage}:malformed")
        id_token = body.get("id_token")
        scope = config.ciba if stage == "ciba" else config.scope
        if id_token is None and "openid" in scope.split():
            # OIDC Core §3.1.3.3 / CIBA Core §10.1.1: asked for, so it must come; without it nothing binds
            # these tokens to this issuer, this client and (code flow) this request's nonce.
            logger.warning("ID token missing", check_id=check.check_id, raw_code="id_token_missing")
            return Outcome.failed(Reason.PROVIDER_ERROR, "id_token_missing")
        if id_token is not None:
            try:
                oauth.validate_id_token(str(id_token), issuer=config.issuer, client_id=config.client.client_id,
                                       jwks_uri=metadata.jwks_uri, nonce=nonce)
            except oauth.OidcError as invalid:
                logger.warning("ID token rejected", check_id=check.check_id, raw_code=invalid.code)
                return Outcome.failed(Reason.PROVIDER_ERROR, invalid.code)
        number = check.confidential.get("phone_number")
        if not number:
            return Outcome.failed(Reason.PROVIDER_ERROR, "number_unavailable")
        outcome = self._verify_number(config, access_token, number, check.check_id)
        if outcome.status is not Status.VERIFIED or check.sim_swap_hours is None:
            return outcome
        # The same three-legged token: the number is the token's, so nobody learns another line's SIM history.
        answer = camara_sim_swap.check(config.sim_swap_url, access_token, check.sim_swap_hours, check.check_id)
        return replace(outcome, sim_swap=answer)

    def _oauth_post(self, config: Config, endpoint: str, form: dict[str, str], stage: str) -> dict[str, Any]:
        try:
            request = config.client.apply(form, endpoint, config.issuer)
            response = provider_http.send("POST", endpoint, headers={"Accept": "application/json", **request.headers},
                                          data=request.data)
        except provider_http.ProviderUnavailable as failure:
            raise unavailable(failure.kind, f"{stage}:") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
        code = safe_code(error) if error else str(response.status_code)
        raise http_failure(response, f"{stage}:{code}", TOKEN_ERROR_REASONS.get(error or ""), error=error)

    def _verify_number(self, config: Config, access_token: str, e164: str, check_id: str) -> Outcome:
        correlator = str(uuid.uuid4())
        headers = {"Authorization": f"Bearer {access_token}", "x-correlator": correlator,
                   "Accept": "application/json"}
        logger.info("calling CAMARA number verification", check_id=check_id, x_correlator=correlator,
                    operation=config.operation)
        try:
            if config.operation == "device_phone_number":
                response = provider_http.send("GET", f"{config.api_base_url}/device-phone-number", headers=headers)
            else:
                body = ({"hashedPhoneNumber": hashed_phone_number(e164)} if config.number_format == "hashed"
                        else {"phoneNumber": e164})
                response = provider_http.send("POST", f"{config.api_base_url}/verify", headers=headers, json=body)
        except provider_http.ProviderUnavailable as failure:
            return unavailable(failure.kind, "verify:").outcome
        if response.headers.get("x-correlator") not in (None, correlator):
            logger.warning("x-correlator not echoed as sent", check_id=check_id, x_correlator=correlator)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            return nv_failure(int(response.status_code), payload)
        if config.operation == "device_phone_number":
            return compare_device_number(payload, e164)
        return verdict(payload)


def adapter() -> Camara:
    return Camara()
