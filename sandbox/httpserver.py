"""One way to serve a WSGI app on loopback in a background thread (every sandbox service uses it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # listen backlog: hundreds of phones and callbacks connect at once (races, soak)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class RunningServer:
    """A WSGI app served on 127.0.0.1 until `stop()`."""

    base_url: str
    port: int
    _server: WSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(app: WSGIApp, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    """Serve `app` on a loopback address; port 0 picks a free port."""
    if not host.startswith("127."):
        raise ValueError("the sandbox serves on loopback addresses only")
    server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"wsgi:{server.server_port}", daemon=True)
    thread.start()
    return RunningServer(f"http://{host}:{server.server_port}", server.server_port, server, thread)
