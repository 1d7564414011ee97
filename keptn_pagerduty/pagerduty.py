"""PagerDuty Events API v2: does an event body pass PagerDuty's rules?

The rules are JSON Schemas in ``data/pagerduty/`` (data, not code). This module compiles them once and
turns jsonschema's errors into messages that name the field the way PagerDuty's 400 answers do, so a
problem found before anything is written reads like the 400 it prevents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from typing import TYPE_CHECKING

from . import schemacheck

if TYPE_CHECKING:  # jsonschema is imported only to explain a failure
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

ALERT_URL_PATH = "/v2/enqueue"
CHANGE_URL_PATH = "/v2/change/enqueue"
EVENTS_BASE_URL = {"us": "https://events.pagerduty.com", "eu": "https://events.eu.pagerduty.com"}
MAX_EVENT_BYTES = 512000

_SCHEMA_FILES = {ALERT_URL_PATH: "alert-event.schema.json", CHANGE_URL_PATH: "change-event.schema.json"}
_JSON_TYPES = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "a boolean", "null": "null"}


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule: ``path`` is a JSON path like ``payload.summary`` ("" for the whole event)."""

    path: str
    message: str


def validate_alert_event(body: object) -> list[Violation]:
    """Violations of an event for ``/v2/enqueue`` (trigger, acknowledge, resolve)."""
    return validate_event(ALERT_URL_PATH, body)


def validate_change_event(body: object) -> list[Violation]:
    """Violations of an event for ``/v2/change/enqueue``."""
    return validate_event(CHANGE_URL_PATH, body)


def validate_event(url_path: str, body: object) -> list[Violation]:
    """Violations of ``body`` sent to ``url_path``, sorted by path then message; [] when PagerDuty accepts it."""
    check = _checks().get(url_path)
    if check is None:
        return [Violation("", f"{url_path!r} is not a PagerDuty Events API v2 path "
                              f"(expected {ALERT_URL_PATH} or {CHANGE_URL_PATH})")]
    if check(body) and _size_ok(body):
        return []
    validator = _validators()[url_path]
    # A set: jsonschema reports each missing property of one `required` separately, and each
    # report names all of them (see _violations).
    found = {v for error in validator.iter_errors(body) for v in _violations(error, validator.schema)}
    try:
        size = event_size(body)
    except (TypeError, ValueError) as exc:
        found.add(Violation("", f"The event cannot be sent as JSON ({exc})"))
    else:
        if size > MAX_EVENT_BYTES:
            found.add(Violation("", f"The event is too large ({size} bytes; maximum is {MAX_EVENT_BYTES} bytes)"))
    return sorted(found)


def event_size(body: object) -> int:
    """Bytes of ``body`` as compact UTF-8 JSON: the smallest form a sender can put on the wire."""
    return len(_COMPACT.encode(body).encode("utf-8"))


# Made once: a call of json.dumps with options makes a new encoder, and this runs for every sample body.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _size_ok(body: object) -> bool:
    try:
        return event_size(body) <= MAX_EVENT_BYTES
    except (TypeError, ValueError):
        return False


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    folder = resources.files("keptn_pagerduty") / "data" / "pagerduty"
    return {path: json.loads((folder / name).read_text(encoding="utf-8")) for path, name in _SCHEMA_FILES.items()}


@cache
def _checks() -> dict[str, schemacheck.Check]:
    """The fast verdict (see `schemacheck`), compiled once."""
    schemas = _schemas()
    return {path: schemacheck.compile_schema(schema, tuple(schemas.values())) for path, schema in schemas.items()}


@cache
def _validators() -> dict[str, Draft202012Validator]:
    """Both schemas, compiled once: validation runs thousands of times per generate.

    One registry holds both because the change-event schema ``$ref``s the alert-event one.
    """
    from jsonschema import Draft202012Validator  # noqa: PLC0415
    from referencing import Registry, Resource  # noqa: PLC0415

    schemas = _schemas()
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return {path: Draft202012Validator(schema, registry=registry) for path, schema in schemas.items()}


def _violations(error: ValidationError, root: dict[str, Any]) -> Iterator[Violation]:
    """Turn one jsonschema error into violations that name the offending field(s)."""
    path = _dotted(error.absolute_path)
    if error.validator == "required":
        missing = (name for name in error.validator_value if name not in error.instance)
        yield from (_violation(_join(path, name), error, root) for name in missing)
    elif error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for name in sorted(set(error.instance) - set(allowed)):
            yield Violation(_join(path, name), f"'{_join(path, name)}' is not a field of this event "
                                               f"(allowed here: {', '.join(allowed)})")
    else:
        yield _violation(path, error, root)


def _violation(path: str, error: ValidationError, root: dict[str, Any]) -> Violation:
    """PagerDuty-style message: the rule's own ``title`` when the schema gives one, else a generic one."""
    field = f"'{path}'" if path else "The event"
    keyword, value, schema = error.validator, error.validator_value, error.schema
    title = schema.get("title") if schema is not root else None  # the root's title names the schema
    if title:
        message = f"{field} {title}"
    elif keyword in ("minLength", "maxLength") and schema.get("minLength") == schema.get("maxLength"):
        message = f"Length of {field} is incorrect (should be {value} characters)"
    elif keyword == "maxLength":
        message = f"{field} is too long (maximum is {value} characters)"
    elif keyword == "minLength":
        message = f"{field} is too short (minimum is {value} characters)"
    elif keyword == "required":
        message = f"{field} is missing or blank"
    elif keyword == "enum":
        message = f"{field} is invalid (must be one of: {', '.join(map(str, value))})"
    elif keyword == "type":
        message = f"{field} must be {_JSON_TYPES.get(value, value)}"
    else:
        message = f"{field} is invalid ({error.message})"
    return Violation(path, message)


def _dotted(parts: Iterable[str | int]) -> str:
    """``['links', 0, 'href']`` -> ``links[0].href``."""
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
