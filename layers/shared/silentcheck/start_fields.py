"""What POST /checks accepts beside the number, validated with a message a developer can act on: the phone's
TS.43 operator token and, from a backend, the phone's address."""

from __future__ import annotations

import ipaddress
import re

from silentcheck.errors import InvalidRequest

_OPERATOR_TOKEN = re.compile(r"[\x21-\x7e]{16,4096}")
_MAX_IP_LENGTH = 45  # the longest IPv6 text form (an IPv4-mapped address in full)


def operator_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _OPERATOR_TOKEN.fullmatch(value):
        raise InvalidRequest("operator_token must be the TS.43 temporary token string the phone obtained from its "
                             "operator: 16 to 4096 visible ASCII characters, no spaces")
    return value


def device_ip(value: object, from_backend: bool) -> str | None:
    if value is None:
        return None
    if not from_backend:
        raise InvalidRequest("device_ip is accepted only from a backend (a request with its API key); "
                             "an app's own address is the connection's")
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) and len(value) <= _MAX_IP_LENGTH else None
    except ValueError:
        address = None
    if address is None:
        raise InvalidRequest("device_ip must be the phone's IPv4 or IPv6 address as your backend saw it, "
                             "e.g. 203.0.113.7 or 2001:db8::7")
    return str(address)
