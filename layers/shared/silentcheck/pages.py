"""The small pages a browser sees at the end of a redirect chain. Nothing from the request is echoed."""

from __future__ import annotations

from html import escape

from aws_lambda_powertools.event_handler import Response

from silentcheck.api import SECURITY_HEADERS
from silentcheck.api_shapes import DeviceReturned
from silentcheck.errors import InvalidReturn

_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
code{{word-break:break-all}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def completed(returned: DeviceReturned) -> Response[str]:
    body = (
        "<p>Your phone has finished the check. You can go back to the app.</p>"
        f'<p hidden>Completion code: <code id="completion-code" data-check-id="{escape(returned.check_id)}">'
        f"{escape(returned.completion_code)}</code></p>"
    )
    return Response(200, "text/html; charset=utf-8", _PAGE.format(title="Check complete", body=body),
                    headers=dict(_HEADERS))


def invalid_return(error: InvalidReturn) -> Response[str]:
    body = f"<p>{escape(error.detail)}</p>"
    return Response(error.status, "text/html; charset=utf-8", _PAGE.format(title="Link not valid", body=body),
                    headers=dict(_HEADERS))
