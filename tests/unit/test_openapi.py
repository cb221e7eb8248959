"""docs/openapi.json against the things it describes: the OpenAPI 3.1 schema, template.yaml's routes,
the Python enums, the pydantic response models and the error classes, so the document cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from pydantic import BaseModel
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from sandbox.local_aws.functions import stage_name
from sandbox.local_aws.template import TEMPLATE_PATH, load_template
from silentcheck import errors, phone, providers
from silentcheck.api_shapes import CheckCreated, CheckView, DeviceReturned, StartRequest
from silentcheck.checks import Binding, Reason, Status
from tests.openapi_doc import DOC_URI, pointer

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PROBLEM_JSON = "application/problem+json"


def _validator(doc: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` in the document, its `#/components/...` refs resolving."""
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
    return Draft202012Validator({"$ref": f"{DOC_URI}#{pointer}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def _template_routes() -> set[tuple[str, str]]:
    resources = load_template(TEMPLATE_PATH)["Resources"]
    return {
        (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
        for resource in resources.values()
        for event in (resource.get("Properties") or {}).get("Events", {}).values()
        if event.get("Type") == "Api"
    }


def _documented_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in HTTP_METHODS}


def _responses(doc: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(pointer parts, response object) for every documented response."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                for status, response in operation["responses"].items():
                    yield ("paths", path, method, "responses", status), response


def _media_types(doc: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(pointer parts, media type object) for every request and response body."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS and "requestBody" in operation:
                for media, content in operation["requestBody"]["content"].items():
                    yield ("paths", path, method, "requestBody", "content", media), content
    for parts, response in _responses(doc):
        for media, content in response.get("content", {}).items():
            yield (*parts, "content", media), content


def _error_classes() -> set[type[errors.SilentCheckError]]:
    found: set[type[errors.SilentCheckError]] = {errors.SilentCheckError}
    pending = [errors.SilentCheckError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.add(sub)
            pending.append(sub)
    return found


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]):
    OpenAPIV31SpecValidator(doc).validate()


def test_every_template_api_route_is_documented_with_its_method(doc: dict[str, Any]):
    assert _template_routes() - _documented_routes(doc) == set()


def test_document_has_no_route_the_template_lacks(doc: dict[str, Any]):
    assert _documented_routes(doc) - _template_routes() == set()


def test_server_url_ends_in_the_template_stage(doc: dict[str, Any]):
    paths = {urlsplit(server["url"]).path for server in doc["servers"]}

    assert paths == {f"/{stage_name()}"}


@pytest.mark.parametrize(("schema", "enum"), [("Status", Status), ("Reason", Reason), ("Binding", Binding)])
def test_enum_in_the_document_equals_the_python_enum(doc: dict[str, Any], schema: str, enum: type[StrEnum]):
    assert doc["components"]["schemas"][schema]["enum"] == [member.value for member in enum]


def test_provider_names_are_the_registered_providers(doc: dict[str, Any]):
    assert doc["components"]["schemas"]["ProviderName"]["enum"] == list(providers.names())


def test_problem_codes_are_the_error_classes_codes(doc: dict[str, Any]):
    assert set(doc["components"]["schemas"]["ProblemCode"]["enum"]) == {cls.code for cls in _error_classes()}


def test_phone_number_pattern_is_the_one_the_code_validates_with(doc: dict[str, Any]):
    documented = doc["components"]["schemas"]["StartRequest"]["properties"]["phone_number"]["pattern"]

    assert documented == phone._E164.pattern


MODELS = [StartRequest, CheckCreated, CheckView, DeviceReturned]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_required_fields_match_the_pydantic_model(doc: dict[str, Any], model: type[BaseModel]):
    required = {name for name, field in model.model_fields.items() if field.is_required()}

    assert set(doc["components"]["schemas"][model.__name__]["required"]) == required


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_documented_fields_are_the_pydantic_model_fields(doc: dict[str, Any], model: type[BaseModel]):
    schema = doc["components"]["schemas"][model.__name__]

    assert set(schema["properties"]) == set(model.model_fields)
    assert schema["additionalProperties"] is False


def test_every_problem_response_names_codes_whose_status_is_the_response_status(doc: dict[str, Any]):
    status_of = {cls.code: cls.status for cls in _error_classes()}
    mismatched = []
    for parts, response in _responses(doc):
        media = response.get("content", {}).get(PROBLEM_JSON)
        if media is None:
            continue
        status = int(parts[-1])
        properties = media["schema"]["properties"]
        codes = [properties["code"]["const"]] if "const" in properties["code"] else properties["code"]["enum"]
        if properties["status"]["const"] != status or any(status_of[code] != status for code in codes):
            mismatched.append((parts, codes))

    assert mismatched == []


def test_every_error_response_of_silentcheck_is_problem_json(doc: dict[str, Any]):
    """4xx/5xx answers come as problem+json, except API Gateway's own throttling answer."""
    not_problem = [parts for parts, response in _responses(doc)
                   if int(parts[-1]) >= 400 and parts[-1] != "429" and PROBLEM_JSON not in response["content"]]

    assert not_problem == []


def test_every_example_validates_against_its_schema(doc: dict[str, Any]):
    invalid = []
    for parts, media in _media_types(doc):
        examples = [media["example"]] if "example" in media else []
        examples += [example["value"] for example in media.get("examples", {}).values()]
        validator = _validator(doc, pointer(*parts, "schema"))
        invalid += [(parts, error.message) for example in examples for error in validator.iter_errors(example)]

    assert invalid == []


def test_responses_of_the_models_validate_against_their_schemas(doc: dict[str, Any]):
    """What the pydantic models serialize (absent optionals dropped, check_url kept as null) is documented."""
    created = CheckCreated(check_id="c", check_url=None, poll_token="p", provider="truid", status=Status.FAILED,
                           reason=Reason.PROVIDER_REJECTED, expires_at="2026-01-01T00:00:00Z")
    view = CheckView(check_id="c", status=Status.VERIFIED, provider="truid", binding=Binding.DEVICE,
                     completed_at="2026-01-01T00:00:00Z")
    errors_found = [
        error.message
        for name, body in (("CheckCreated", created), ("CheckView", view))
        for error in _validator(doc, pointer("components", "schemas", name)).iter_errors(body.model_dump(mode="json"))
    ]

    assert errors_found == []
