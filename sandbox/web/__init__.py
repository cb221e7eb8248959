"""What the sandbox serves to a browser beside the API, on the API's own origin: the demo page (/demo/) and
Swagger UI for docs/openapi.json (/docs/), offline.

Both sit outside the stage prefix (/v1/…), where API Gateway would answer 403, so they never shadow a
route. The demo page lives on the API's origin because that is where the redirect chain ends: the page
reads the completion code from `/checks/return`'s page in its frame as an app reads it from its web view,
which the browser allows only on the same origin.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from sandbox.httpserver import WSGIApp
from sandbox.local_aws.gateway import Pages
from sandbox.local_aws.services import ensure_node_packages
from sandbox.local_aws.template import REPO_ROOT

WEB_DIR = Path(__file__).resolve().parent
DEMO_DIR = WEB_DIR / "demo"
SWAGGER_DIR = WEB_DIR / "swagger"
OPENAPI = REPO_ROOT / "docs" / "openapi.json"
DEMO_PATH = "/demo/"
DOCS_PATH = "/docs/"
# The files of swagger-ui-dist that Swagger UI's page loads; nothing else of node_modules is served.
SWAGGER_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                            "favicon-32x32.png", "favicon-16x16.png"})
# The pages load only their own files: no CDN, no inline script.
_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self' http://phone.test; frame-src *")


def swagger_ui_dir() -> Path:
    """swagger-ui-dist, installed from sandbox/package-lock.json with the sandbox's other npm packages."""
    directory = ensure_node_packages() / "swagger-ui-dist"
    if not (directory / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"npm installed the sandbox's packages but {directory} has no swagger-ui-bundle.js")
    return directory


def sandbox_openapi(stage: str) -> dict[str, Any]:
    """docs/openapi.json with the sandbox's API as its only server (relative, so it is this origin's)."""
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    document["servers"] = [{"url": f"/{stage}", "description": "this sandbox"}]
    return document


def site_app(stage: str, services: Mapping[str, str], phone_proxy_url: str | None = None,
             api_key: str | None = None) -> WSGIApp:
    """The demo page and Swagger UI. `services` names the simulated services' origins for the demo's hops;
    `phone_proxy_url` is the proxy the page tells a browser to use when it is not a phone yet; with
    `api_key`, the demo page sends it as `x-api-key`, as an app of a deployment with ClientAuth=api_key."""
    swagger = swagger_ui_dir()
    demo_config: dict[str, Any] = {"api": f"/{stage}", "services": dict(services), "phone_proxy": phone_proxy_url}
    if api_key:
        demo_config["api_key"] = api_key
    config = json.dumps(demo_config).encode()
    openapi = json.dumps(sandbox_openapi(stage)).encode()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "/"))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, 405, "text/plain", b"the sandbox's pages are read-only")
        if path in ("/demo", "/docs"):
            return _answer(start_response, 302, "text/plain", b"", (("Location", path + "/"),))
        if path in (DEMO_PATH + "config.json", DOCS_PATH + "config.json"):
            return _answer(start_response, 200, "application/json", config)
        if path == DOCS_PATH + "openapi.json":
            return _answer(start_response, 200, "application/json", openapi)
        if path.startswith(DEMO_PATH):
            return _file(start_response, DEMO_DIR, path[len(DEMO_PATH):] or "index.html")
        if path.startswith(DOCS_PATH):
            name = path[len(DOCS_PATH):] or "index.html"
            if name in SWAGGER_ASSETS:
                return _file(start_response, swagger, name)
            return _file(start_response, SWAGGER_DIR, name)
        return _answer(start_response, 404, "text/plain", b"not found")

    return app


def pages(services: Mapping[str, str], phone_proxy_url: str | None = None, api_key: str | None = None) -> Pages:
    """The demo page and Swagger UI, for the gateway to serve beside the stage (see `site_app`)."""
    return Pages((DEMO_PATH.rstrip("/"), DOCS_PATH.rstrip("/")),
                 lambda stage: site_app(stage, services, phone_proxy_url, api_key))


def _file(start_response: Callable[..., Any], directory: Path, name: str) -> Iterable[bytes]:
    # Only plain names of files that exist directly in `directory`: no traversal, no listings.
    candidate = directory / name
    if "/" in name or name.startswith(".") or not candidate.is_file():
        return _answer(start_response, 404, "text/plain", b"not found")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return _answer(start_response, 200, content_type, candidate.read_bytes())


def _answer(start_response: Callable[..., Any], status: int, content_type: str, body: bytes,
            headers: Iterable[tuple[str, str]] = ()) -> Iterable[bytes]:
    start_response(f"{status} {HTTPStatus(status).phrase}", [
        ("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", _CSP), *headers])
    return [body]
