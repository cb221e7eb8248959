"""Each provider's section of a secret as a pydantic model (`SecretSection`): validated when read, and every
mistake told in the same words whichever provider it is in, naming the key, never its value (which may be
a credential):

- a key missing or empty: `<Provider> is not configured: key <section> of <secret> lacks <key>, <key>`
- a choice outside its list: `<section>.<key> must be one of <a>, <b>, not '<value>'`
- a URL that is not https: `<section>.<key> must be an https URL (…)` (provider_http.secure_url)
- a value of the wrong kind: `<section>.<key> must be a string` (a whole number from 1 to 2400, true or false)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, cast, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from silentcheck import provider_http
from silentcheck.config import settings
from silentcheck.errors import ProviderNotConfigured

MAIN_SECRET = "the secret (SECRET_ID)"
CALLBACK_SECRET = "the callback secret (CALLBACK_SECRET_ID)"
# A URL's problem, told by secure_url; pydantic hands it on under this prefix.
_URL_PROBLEM = "must be an https URL"
_KINDS = {"string": "must be a string", "int": "must be a whole number", "bool": "must be true or false",
          "greater_than_equal": "must be a whole number", "less_than_equal": "must be a whole number"}


def _https(url: str) -> str:
    if not provider_http.is_secure_url(url):
        raise ValueError(_URL_PROBLEM)
    return url


HttpsUrl = Annotated[str, AfterValidator(_https)]  # kept as written (an OAuth issuer is compared exactly)
BaseUrl = Annotated[str, AfterValidator(_https), AfterValidator(lambda url: url.rstrip("/"))]  # paths are appended


# The last section each class validated: (the settings it was validated under, the raw section, the model).
_parsed: dict[type[SecretSection], tuple[object, dict[str, Any], SecretSection]] = {}


class SecretSection(BaseModel):
    """One provider's section; subclasses say which (`SECTION`, `PROVIDER`, `SECRET`) and declare its keys."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, strict=False)

    SECTION: ClassVar[str]  # the key of the secret that holds it, e.g. "truid"
    PROVIDER: ClassVar[str]  # its name in messages, e.g. "tru.ID"
    SECRET: ClassVar[str] = MAIN_SECRET

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Self:
        """The section, validated; ProviderNotConfigured naming what to fix. A section read again as it was,
        under the same settings (which say whether a loopback http URL is allowed), is not validated again:
        a secret is read once per container and a call reads its section several times."""
        known = _parsed.get(cls)
        if known is not None and known[0] is settings() and known[1] == raw:
            return cast(Self, known[2])
        section = cls._validated(raw)
        _parsed[cls] = (settings(), dict(raw), section)
        return section

    @classmethod
    def _validated(cls, raw: Mapping[str, Any]) -> Self:
        empty = {key for key, value in raw.items() if value is None or value == ""}  # as good as missing
        try:
            section = cls.model_validate({key: value for key, value in raw.items() if key not in empty})
        except ValidationError as invalid:
            raise ProviderNotConfigured(cls._problem(invalid)) from None
        if missing := section.also_missing():
            raise ProviderNotConfigured(cls._lacks(missing))
        return section

    def also_missing(self) -> list[str]:
        """Keys that one of this section's choices makes necessary and that it lacks."""
        return []

    @classmethod
    def _lacks(cls, missing: list[str]) -> str:
        return f"{cls.PROVIDER} is not configured: key {cls.SECTION} of {cls.SECRET} lacks {', '.join(missing)}"

    @classmethod
    def _problem(cls, invalid: ValidationError) -> str:
        errors = invalid.errors(include_url=False)
        missing = [str(error["loc"][0]) for error in errors if error["type"] == "missing"]
        if missing:
            return cls._lacks(missing)
        error = errors[0]
        key = str(error["loc"][0])
        return f"{cls.SECTION}.{key} {cls._what_is_wrong(key, error)}"

    @classmethod
    def _what_is_wrong(cls, key: str, error: Any) -> str:
        field = next((f for name, f in cls.model_fields.items() if key in (name, *_aliases(f))), None)
        annotation = field.annotation if field is not None else None
        if _URL_PROBLEM in str(error.get("msg", "")):
            return (f"{_URL_PROBLEM} (plain http only to a loopback host, and only in the sandbox: "
                    "SANDBOX_LOOPBACK_PROVIDERS); fix it in the provider secret")
        if error["type"] == "literal_error":  # a choice is no credential: the value is told back
            return f"must be one of {', '.join(_choices(annotation))}, not {error.get('input')!r}"
        bounds = _bounds(annotation)
        if bounds:
            return f"must be a whole number from {bounds[0]} to {bounds[1]}"
        return next((words for prefix, words in _KINDS.items() if error["type"].startswith(prefix)),
                    str(error.get("msg", "")).removeprefix("Value error, "))


def forget() -> None:
    """Drop the sections validated so far (caches.reset_caches)."""
    _parsed.clear()


def _aliases(field: Any) -> tuple[str, ...]:
    choices = getattr(field.validation_alias, "choices", ())
    return tuple(str(choice) for choice in choices)


def _choices(annotation: Any) -> tuple[str, ...]:
    """The values of a Literal (or an optional Literal) annotation; () for anything else."""
    if get_origin(annotation) is Literal:
        return tuple(str(choice) for choice in get_args(annotation))
    return next((found for arg in get_args(annotation) if (found := _choices(arg))), ())


def _bounds(annotation: Any) -> tuple[int, int] | None:
    """(ge, le) of a bounded whole number annotation (also inside Optional and Annotated)."""
    found = {name: getattr(item, name) for arg in get_args(annotation)
             for item in (arg, *getattr(arg, "metadata", ())) for name in ("ge", "le")
             if isinstance(getattr(item, name, None), int)}
    if "ge" in found and "le" in found:
        return found["ge"], found["le"]
    return next((bounds for arg in get_args(annotation) if (bounds := _bounds(arg))), None)
