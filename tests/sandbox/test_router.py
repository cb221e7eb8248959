"""The one router the three simulators dispatch through (sandbox/simulators/wsgi.py: route)."""

from __future__ import annotations

from sandbox.simulators.wsgi import Request, Response, Routes, json_response, route

ROUTES: Routes = {
    "/checks": {"POST": lambda request: json_response(201, {"created": True})},
    "/checks/{check_id}": {"GET": lambda request, check_id: json_response(200, {"read": check_id}),
                           "PATCH": lambda request, check_id: json_response(200, {"patched": check_id})},
    "/checks/{check_id}/redirect": {"GET": lambda request, check_id: json_response(302, {"opened": check_id})},
    "/device_ips/{ip:.+}": {"GET": lambda request, ip: json_response(200, {"ip": ip})},
}


def answer(method: str, path: str) -> Response:
    request = Request(method, path, {}, {}, b"", "127.0.0.1", "http://127.0.0.1:1")
    return route(ROUTES, request, lambda: json_response(404, {"shape": "provider's own 404"}),
                 lambda allow: json_response(405, {"allow": allow}))


def test_a_path_parameter_is_passed_to_the_handler_by_name() -> None:
    assert answer("GET", "/checks/c-1").body == b'{"read": "c-1"}'
    assert answer("GET", "/checks/c-1/redirect").body == b'{"opened": "c-1"}'


def test_a_parameter_is_one_segment_unless_its_regex_says_otherwise() -> None:
    assert answer("GET", "/checks/c-1/other").status == 404
    assert answer("GET", "/device_ips/127.64.0.7/32").body == b'{"ip": "127.64.0.7/32"}'


def test_a_trailing_slash_is_ignored() -> None:
    assert answer("POST", "/checks/").status == 201


def test_an_unknown_path_gets_the_providers_own_not_found() -> None:
    assert answer("GET", "/nowhere").body == b'{"shape": "provider\'s own 404"}'


def test_a_method_the_path_does_not_take_gets_not_allowed_with_the_ones_it_takes() -> None:
    response = answer("DELETE", "/checks/c-1")
    assert (response.status, response.body) == (405, b'{"allow": "GET, PATCH"}')
