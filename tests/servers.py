"""Test servers shared by the sandbox's unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sandbox.httpserver import WSGIApp, serve


class SwappableServer:
    """One server per module serving whichever app the current test sets: a stop costs half a second."""

    def __init__(self) -> None:
        self.app: WSGIApp | None = None
        self._server = serve(self._dispatch)
        self.base_url = self._server.base_url

    def serve(self, app: WSGIApp) -> str:
        self.app = app
        return self.base_url

    def stop(self) -> None:
        self._server.stop()

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self.app is not None
        return self.app(environ, start_response)


def basic_auth(client_id: str, secret: str, *, form_encoded: bool) -> Callable[[Any], Any]:
    """A requests `auth` that sends client_secret_basic credentials built by hand: form-urlencoded before
    base64 as RFC 6749 §2.3.1 says, or the raw UTF-8 pair as a non-compliant client would."""
    import base64
    from urllib.parse import quote_plus

    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}" if form_encoded else f"{client_id}:{secret}"
    header = f"Basic {base64.b64encode(pair.encode()).decode()}"

    def sign(request: Any) -> Any:
        request.headers["Authorization"] = header
        return request

    return sign
