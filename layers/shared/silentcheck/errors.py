"""Domain errors; api.py turns each into an RFC 9457 problem (the only place that knows HTTP)."""

from __future__ import annotations


class SilentCheckError(Exception):
    """Base class: a stable `code`, an HTTP `status` and a message a developer can act on.

    A 5xx answers with its class's `public_detail`, never `detail`: what went wrong on our side (a
    setting's name, a URL, a provider's answer) is for the logs, not for whoever called."""

    status: int = 500
    code: str = "INTERNAL_ERROR"
    title: str = "Internal error"
    public_detail: str = "something went wrong on our side; the check was not verified"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def headers(self) -> dict[str, str]:
        """Response headers this problem needs beyond the usual ones."""
        return {}


class InvalidRequest(SilentCheckError):
    status = 400
    code = "INVALID_REQUEST"
    title = "Invalid request"


class InvalidPhoneNumber(SilentCheckError):
    status = 400
    code = "INVALID_PHONE_NUMBER"
    title = "Invalid phone number"


class UnsupportedMediaType(SilentCheckError):
    """A body in another media type than the route reads (POST /checks reads application/json only, which a
    cross-site HTML form cannot send without a CORS preflight)."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "Unsupported media type"


class NumberUnsupported(SilentCheckError):
    """A valid number that no SIM answers for (fixed-line, toll-free, premium-rate, VoIP…)."""

    status = 422
    code = "NUMBER_UNSUPPORTED"
    title = "Number cannot be verified silently"


class SimSwapUnsupported(SilentCheckError):
    """sim_swap asked of a check no provider of its route can answer it for (Infobip has no SIM-swap answer)."""

    status = 400
    code = "SIM_SWAP_UNSUPPORTED"
    title = "SIM swap cannot be answered"


class SimSwapOutOfRange(SilentCheckError):
    """sim_swap.max_age_hours outside what the providers of the route can answer; the detail names the limits."""

    status = 400
    code = "SIM_SWAP_OUT_OF_RANGE"
    title = "SIM swap period out of range"


class RateLimited(SilentCheckError):
    """A start budget (per number, per source IP or the deployment's) is spent for this window."""

    status = 429
    code = "RATE_LIMITED"
    title = "Too many checks"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class IdempotencyKeyReused(SilentCheckError):
    """An Idempotency-Key seen before with another body: the first request's answer is not this one's."""

    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "Idempotency key reused with another request"


class IdempotencyKeyInUse(SilentCheckError):
    """A request with this Idempotency-Key is still being answered; its answer will be replayed once it is."""

    status = 409
    code = "IDEMPOTENCY_KEY_IN_USE"
    title = "A request with this idempotency key is in progress"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class CheckNotFound(SilentCheckError):
    """Unknown check and wrong poll token answer alike, so ids cannot be probed."""

    status = 404
    code = "CHECK_NOT_FOUND"
    title = "Check not found"


class InvalidReturn(SilentCheckError):
    """A device return with an unknown, used or expired state: changes nothing."""

    status = 400
    code = "INVALID_RETURN"
    title = "Invalid or expired return"


class CompletionCodeInvalid(SilentCheckError):
    status = 403
    code = "COMPLETION_CODE_INVALID"
    title = "Completion code does not match"


class ProviderNotConfigured(SilentCheckError):
    status = 500
    code = "PROVIDER_NOT_CONFIGURED"
    title = "Provider not configured"


class CallbackNotAccepted(SilentCheckError):
    """A callback with a valid capability whose message is not authentic or names another check."""

    status = 403
    code = "CALLBACK_NOT_ACCEPTED"
    title = "Callback not accepted"


class CallbackTooEarly(SilentCheckError):
    """The callback came before the check could take it (the provider's reference is not recorded yet, or
    the provider's own read still lags its callback): answered so that the provider delivers it again.
    Raised by the adapters as it is."""

    status = 503
    code = "CALLBACK_TOO_EARLY"
    title = "Retry the callback later"
    public_detail = "the check is not ready for this callback yet; retry after the seconds in Retry-After"

    def __init__(self, detail: str = public_detail) -> None:
        super().__init__(detail)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class TemporarilyUnavailable(SilentCheckError):
    """DynamoDB or Secrets Manager kept throttling or not answering after the SDK's retries: nothing was
    decided, the same request may be sent again after Retry-After."""

    status = 503
    code = "TEMPORARILY_UNAVAILABLE"
    title = "Temporarily unavailable"
    public_detail = "the service is busy; retry after the seconds in Retry-After"
    retry_after = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RouteNotFound(SilentCheckError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class OriginNotAllowed(SilentCheckError):
    """A browser preflight from an origin the deployment does not list (CorsAllowedOrigins)."""

    status = 403
    code = "ORIGIN_NOT_ALLOWED"
    title = "Origin not allowed"


class ApiKeyInvalid(SilentCheckError):
    """POST /checks without a valid x-api-key (ClientAuth=api_key). API Gateway answers it itself, from
    template.yaml's INVALID_API_KEY gateway response, which must say exactly this."""

    status = 403
    code = "API_KEY_INVALID"
    title = "API key missing or invalid"
