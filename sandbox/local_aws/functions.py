"""The functions template.yaml declares, as CloudFormation deploys them for given parameter values: handler,
routes, environment, Timeout, the routes that need an API key, and the answers API Gateway gives itself."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.local_aws import conditions
from sandbox.local_aws.template import TEMPLATE_PATH, load_template


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]
    routes: tuple[tuple[str, str], ...]  # (METHOD, /path/{param})
    has_function_url: bool
    timeout: float = 3.0  # seconds: the function's Timeout, else the Globals' (Lambda's default is 3)
    api_key_routes: frozenset[tuple[str, str]] = frozenset()  # routes whose event sets Auth.ApiKeyRequired


def read_functions(template_path: Path = TEMPLATE_PATH, parameters: Mapping[str, str] | None = None) -> list[Function]:
    """The template's functions as CloudFormation deploys them with `parameters` (defaults otherwise)."""
    source = load_template(template_path)
    template = conditions.resolve(source, conditions.parameter_values(source, parameters))
    global_function = template.get("Globals", {}).get("Function", {})
    global_env = global_function.get("Environment", {}).get("Variables", {})
    functions = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        routes = tuple(
            (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
            for event in props.get("Events", {}).values()
            if event.get("Type") == "Api"
        )
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        keyed = frozenset(
            (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
            for event in props.get("Events", {}).values()
            if event.get("Type") == "Api" and (event["Properties"].get("Auth") or {}).get("ApiKeyRequired") is True
        )
        timeout = float(props.get("Timeout", global_function.get("Timeout", 3)))
        functions.append(Function(logical_id, props["CodeUri"], props["Handler"], env, routes,
                                  "FunctionUrlConfig" in props, timeout=timeout, api_key_routes=keyed))
    return functions


def stage_name(template_path: Path = TEMPLATE_PATH) -> str:
    """The API stage: the template's StageName parameter default (the URL's first segment)."""
    template = load_template(template_path)
    return str(template["Parameters"]["StageName"]["Default"])


def resolve_environment(functions: Iterable[Function], values: Mapping[str, str],
                        template_path: Path = TEMPLATE_PATH, parameter_overrides: Mapping[str, str] | None = None,
                        ) -> dict[str, str]:
    """Environment for the functions: literals as written, Refs from `values` or the parameters' values
    (`parameter_overrides`, else defaults), GetAtts from `values`."""
    parameters = conditions.parameter_values(load_template(template_path), parameter_overrides)
    env: dict[str, str] = {}
    for function in functions:
        for name, raw in function.environment.items():
            if isinstance(raw, dict) and "Ref" in raw:
                ref = raw["Ref"]
                if name in values:
                    value = values[name]
                elif ref in parameters:
                    value = parameters[ref]
                else:
                    raise KeyError(f"no sandbox value for {name} (!Ref {ref}); pass it in `values`")
            elif isinstance(raw, dict) and "Fn::GetAtt" in raw:
                if name not in values:
                    raise KeyError(f"no sandbox value for {name} (!GetAtt {'.'.join(raw['Fn::GetAtt'])}); "
                                   "pass it in `values`")
                value = values[name]
            elif isinstance(raw, str | int | float):
                value = values.get(name, str(raw))
            elif isinstance(raw, dict) and isinstance(raw.get("Fn::Sub"), list) and name not in values:
                value = _substitute(*raw["Fn::Sub"])
            elif name in values:
                value = values[name]
            else:
                raise ValueError(f"cannot resolve {name}: {raw!r}")
            if env.get(name, value) != value:
                raise ValueError(f"functions disagree on {name}; the in-process gateway needs one value")
            env[name] = value
    return env


def _substitute(text: str, variables: Mapping[str, Any]) -> str:
    """A Fn::Sub whose variables are literals (once the PeakStartsPerSecond profile's mapping is read)."""
    return re.sub(r"\$\{(\w+)\}", lambda found: str(variables[found.group(1)]), text)


@dataclass(frozen=True)
class GatewayResponse:
    """An answer API Gateway gives itself, without invoking a function (the template's GatewayResponses)."""

    status: int
    headers: dict[str, str]
    body: str


def read_gateway_responses(template_path: Path = TEMPLATE_PATH) -> dict[str, GatewayResponse]:
    """The REST API's customised gateway responses, by type (INVALID_API_KEY, ...)."""
    resources = load_template(template_path)["Resources"]
    api = next(res for res in resources.values() if res.get("Type") == "AWS::Serverless::Api")
    responses = {}
    for kind, spec in (api["Properties"].get("GatewayResponses") or {}).items():
        headers = {name: str(value).strip("'") for name, value in
                   ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items()}
        body = str((spec.get("ResponseTemplates") or {}).get("application/json", ""))
        responses[kind] = GatewayResponse(int(spec["StatusCode"]), headers, body)
    return responses
