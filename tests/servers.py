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
