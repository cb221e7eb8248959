"""The sandbox's pages beside the API (sandbox/web): the demo page, Swagger UI and nothing else."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from sandbox.local_aws.gateway import Pages
from sandbox.web import pages, site_app
from tests import openapi_doc


def _get(path: str) -> tuple[str, dict[str, str], bytes]:
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.update(status=status, headers=dict(headers))

    app = site_app("v1", {"http://127.0.0.1:1": "tru.ID"})
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO()}, start_response))
    return answered["status"], answered["headers"], body


@pytest.mark.parametrize("path", ["/demo/../pyproject.toml", "/demo/.hidden", "/docs/package.json",
                                  "/docs/../demo/index.html"])
def test_the_site_serves_only_its_own_files(path: str):
    assert _get(path)[0].startswith("404")


def test_swagger_ui_reads_the_committed_document_with_this_sandbox_as_its_server():
    _, _, body = _get("/docs/openapi.json")
    document = json.loads(body)

    assert document["servers"] == [{"url": "/v1", "description": "this sandbox"}]
    assert document["paths"] == openapi_doc.load()["paths"]


def test_the_pages_may_load_nothing_from_another_origin():
    _, headers, _ = _get("/demo/")

    assert "default-src 'self'" in headers["Content-Security-Policy"]


def _named(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [name.encode()]

    return app


@pytest.mark.parametrize(("path", "served_by"), [
    ("/demo/", "pages"), ("/docs", "pages"), ("/docs/openapi.json", "pages"),
    ("/demox", "api"), ("/checks", "api"), ("/", "api"), ("/v1/checks", "api")])
def test_the_gateway_gives_the_pages_only_their_own_prefixes(path: str, served_by: str):
    served = Pages(pages({}).prefixes, lambda stage: _named("pages")).beside(_named("api"), "v1")

    assert b"".join(served({"PATH_INFO": path}, lambda *_: None)) == served_by.encode()
