"""Serves template.yaml's functions over HTTP the way API Gateway and function URLs do, without Docker.

Routes, handlers, environment and timeouts are read from the template (functions.py); each request becomes
the event API Gateway (REST, payload 1.0) or a Lambda function URL (payload 2.0) would send, and goes
through the real `lambda_handler` with a context whose remaining time counts down from the function's
`Timeout` (times `time_scale`; lambda_runtime.py). An invocation that runs past it is answered 502, as
Lambda's kill is, and recorded in `Gateway.overruns` (the integration tests fail on any).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sandbox.httpserver import RunningServer, WSGIApp, serve
from sandbox.local_aws import iam
from sandbox.local_aws.functions import (
    Function,
    GatewayResponse,
    read_functions,
    read_gateway_responses,
    resolve_environment,
    stage_name,
)
from sandbox.local_aws.lambda_runtime import Containers, Invoker, LambdaHandler, Overruns, add_layer_to_path
from sandbox.local_aws.template import TEMPLATE_PATH, load_template

# The functions' environment variables that are durations: `time_scale` shortens them with the Timeouts.
TIME_BUDGET_VARIABLES = frozenset({"PROVIDER_TIMEOUT_SECONDS", "RECORD_MARGIN_SECONDS"})


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    function: Function

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.template.split("/") if part and not part.startswith("{"))


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").title(): str(value)
               for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = str(environ["CONTENT_TYPE"])
    if environ.get("CONTENT_LENGTH"):
        headers["Content-Length"] = str(environ["CONTENT_LENGTH"])
    return headers


def _body(environ: Mapping[str, Any]) -> tuple[str | None, bool]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), True


def _query(environ: Mapping[str, Any]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    multi = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if not multi:
        return None, None
    return {k: v[-1] for k, v in multi.items()}, multi


def _respond(result: Mapping[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    status = int(result.get("statusCode", 200))
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values if (name, str(v)) not in headers)
    headers.extend(("Set-Cookie", c) for c in result.get("cookies") or [])
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
    return [payload]


_REASONS = {200: "OK", 201: "Created", 302: "Found", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


def _json_error(start_response: Callable[..., Any], status: int, message: str) -> list[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Error')}", [("Content-Type", "application/json")])
    return [json.dumps({"message": message}).encode()]


_API_GATEWAY_DEFAULTS = {
    "INVALID_API_KEY": GatewayResponse(403, {"Content-Type": "application/json"}, '{"message": "Forbidden"}'),
}


class RestApi:
    """The REST API: stage prefix, most-specific route match, API keys where the template requires
    them, payload 1.0 events."""

    def __init__(self, functions: Iterable[Function], stage: str, invoke: Invoker, api_keys: Iterable[str] = (),
                 gateway_responses: Mapping[str, GatewayResponse] | None = None) -> None:
        self.stage = stage
        self.invoke = invoke
        self.api_keys = frozenset(api_keys)
        self.gateway_responses = {**_API_GATEWAY_DEFAULTS, **(gateway_responses or {})}
        functions = list(functions)
        self.configure(functions)
        routes = []
        for function in functions:
            for method, path in function.routes:
                regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$"
                routes.append(Route(method, path, re.compile(regex), function))
        # API Gateway prefers literal segments over {params}: /checks/return beats /checks/{check_id}.
        self.routes = sorted(routes, key=lambda r: -r.literal_segments)
        self.handlers: dict[str, LambdaHandler] = {r.function.logical_id: Containers(r.function)
                                                   for r in self.routes}

    def configure(self, functions: Iterable[Function]) -> None:
        """Take the API-key settings of the template read with other parameter values (ClientAuth)."""
        self.key_routes: frozenset[tuple[str, str]] = frozenset().union(*(f.api_key_routes for f in functions))

    def _gateway_response(self, kind: str, start_response: Callable[..., Any]) -> list[bytes]:
        response = self.gateway_responses[kind]
        start_response(f"{response.status} {_REASONS.get(response.status, 'Error')}", list(response.headers.items()))
        return [response.body.encode()]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # WSGI hands the percent-decoded path over as Latin-1 text; API Gateway's is UTF-8.
        full_path = str(environ.get("PATH_INFO", "/")).encode("latin-1").decode("utf-8", errors="replace")
        prefix = f"/{self.stage}"
        if not full_path.startswith(prefix + "/"):
            return _json_error(start_response, 403, "Missing Authentication Token")
        path = full_path[len(prefix):]
        method = str(environ["REQUEST_METHOD"]).upper()
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                key_required = (method, route.template) in self.key_routes
                if key_required and environ.get("HTTP_X_API_KEY") not in self.api_keys:
                    return self._gateway_response("INVALID_API_KEY", start_response)
                event = self._event(environ, route, path, full_path, match.groupdict())
                if key_required:  # API Gateway names the key it checked (its id, 10 characters)
                    key_id = hashlib.sha256(str(environ["HTTP_X_API_KEY"]).encode()).hexdigest()[:10]
                    event["requestContext"]["identity"]["apiKeyId"] = key_id
                handler = self.handlers[route.function.logical_id]
                return _respond(self.invoke(route.function, handler, event, f"{method} {path}"), start_response)
        return _json_error(start_response, 403, "Missing Authentication Token")

    def _event(self, environ: Mapping[str, Any], route: Route, path: str, full_path: str,
               params: dict[str, str]) -> dict[str, Any]:
        headers = _headers(environ)
        query, multi_query = _query(environ)
        body, is_base64 = _body(environ)
        return {
            "resource": route.template,
            "path": path,
            "httpMethod": route.method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.template,
                "httpMethod": route.method,
                "path": full_path,
                "stage": self.stage,
                "domainName": str(environ.get("HTTP_HOST", "127.0.0.1")),
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "accountId": "000000000000",
                "apiId": "sandbox",
                "protocol": str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
                # API Gateway's sourceIp is the TCP peer; X-Forwarded-For is just another header.
                "identity": {"sourceIp": str(environ.get("REMOTE_ADDR", "")),
                             "userAgent": headers.get("User-Agent", "")},
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }


class FunctionUrl:
    """A Lambda function URL: no stage, no routes of its own, payload 2.0 events."""

    def __init__(self, function: Function, invoke: Invoker) -> None:
        self.function = function
        self.handler: LambdaHandler = Containers(function)
        self.invoke = invoke

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {k.lower(): v for k, v in _headers(environ).items()}
        query, _ = _query(environ)
        body, is_base64 = _body(environ)
        path = str(environ.get("PATH_INFO", "/"))
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": str(environ.get("QUERY_STRING", "")),
            "headers": headers,
            "queryStringParameters": query,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "sandbox",
                "domainName": headers.get("host", "127.0.0.1"),
                "http": {"method": str(environ["REQUEST_METHOD"]).upper(), "path": path,
                         "protocol": str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
                         "sourceIp": str(environ.get("REMOTE_ADDR", "")), "userAgent": headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }
        request = f"{environ['REQUEST_METHOD']} /{path.split('/')[1]}/…"  # the capability stays out of reports
        return _respond(self.invoke(self.function, self.handler, event, request), start_response)


@dataclass(frozen=True)
class Pages:
    """What the sandbox serves a browser on the API's origin beside the stage (sandbox/web), where API
    Gateway would answer 403: the paths under `prefixes`, answered by `make(stage)`."""

    prefixes: tuple[str, ...]
    make: Callable[[str], WSGIApp]

    def beside(self, api: WSGIApp, stage: str) -> WSGIApp:
        pages = self.make(stage)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = str(environ.get("PATH_INFO", "/"))
            mine = any(path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes)
            return (pages if mine else api)(environ, start_response)

        return app


@dataclass
class Gateway:
    api: RunningServer
    callback: RunningServer
    stage: str
    rest_api: RestApi
    template_path: Path
    values: Mapping[str, str]  # the sandbox's values for what the template leaves to AWS
    overruns: Overruns

    def configure(self, parameters: Mapping[str, str]) -> None:
        """Serve the template as deployed with other parameter values (ClientAuth, CorsAllowedOrigins…),
        from the next request on: API-key routes and the environment variables they set."""
        functions = read_functions(self.template_path, parameters)
        self.rest_api.configure(functions)
        env = resolve_environment(functions, self.values, self.template_path, parameters)
        from_parameters = {name for function in functions for name, raw in function.environment.items()
                           if isinstance(raw, dict) and "Ref" in raw and name not in self.values}
        os.environ.update({name: value for name, value in env.items() if name in from_parameters})

    @property
    def api_url(self) -> str:
        return f"{self.api.base_url}/{self.stage}"

    @property
    def callback_url(self) -> str:
        return self.callback.base_url

    def stop(self) -> None:
        self.api.stop()
        self.callback.stop()


def start_gateway(env_values: Mapping[str, str], template_path: Path = TEMPLATE_PATH,
                  api_port: int = 0, callback_port: int = 0, api_keys: Iterable[str] = (),
                  pages: Pages | None = None, time_scale: float = 1.0) -> Gateway:
    """Serve the template's functions on loopback; sets the functions' environment in this process.
    `time_scale` shortens (below 1) every function's Timeout alike: the test stack runs the template's
    time budgets in proportion, faster.

    PUBLIC_API_URL defaults to the gateway's own URL, so redirect targets stay configuration, and
    CALLBACK_URL to the function URL's (a function URL ends with "/", as on AWS). `pages` are served
    on the API's origin under their own prefixes; every other path outside the stage is API Gateway's 403.
    """
    functions = read_functions(template_path)
    stage = stage_name(template_path)
    api_server, callback_server = _reserve(api_port), _reserve(callback_port)
    values = {"PUBLIC_API_URL": f"http://127.0.0.1:{api_server}/{stage}",
              "CALLBACK_URL": f"http://127.0.0.1:{callback_server}/", **env_values}
    scaled = {name: str(float(raw) * time_scale) for function in functions
              for name, raw in function.environment.items() if name in TIME_BUDGET_VARIABLES}
    values = {**values, **scaled, **env_values}
    os.environ.update(resolve_environment(functions, values, template_path))
    add_layer_to_path()
    iam.install(iam.TableAccess(_table_names(functions, values, template_path), template_path))
    invoke = Invoker(Overruns(), time_scale)
    rest_api = RestApi([f for f in functions if f.routes], stage, invoke, api_keys,
                       read_gateway_responses(template_path))
    api = serve(rest_api if pages is None else pages.beside(rest_api, stage), port=api_server)
    url_functions = [f for f in functions if f.has_function_url]
    if len(url_functions) != 1:
        raise ValueError("the sandbox expects exactly one function with a function URL")
    callback = serve(FunctionUrl(url_functions[0], invoke), port=callback_server)
    return Gateway(api, callback, stage, rest_api, template_path, values, invoke.overruns)


def _table_names(functions: Iterable[Function], values: Mapping[str, str], template_path: Path) -> dict[str, str]:
    """The sandbox's table for each AWS::DynamoDB::Table the functions find through their environment."""
    resources = load_template(template_path).get("Resources") or {}
    return {raw["Ref"]: values[name] for function in functions for name, raw in function.environment.items()
            if isinstance(raw, dict) and resources.get(raw.get("Ref", ""), {}).get("Type") == "AWS::DynamoDB::Table"}


def _reserve(port: int) -> int:
    if port:
        return port
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

