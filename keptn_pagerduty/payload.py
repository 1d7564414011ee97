"""The JSON body of each webhook request, as Go template text.

Every string value is profile text compiled by `placeholders`, so the body is valid JSON for any event
once Keptn renders it. There is no `timestamp`: PagerDuty then stamps the time it receives the event,
seconds after Keptn sent it, and a malformed time can never turn an alert into a 400. The body is printed one member per line: Keptn passes newlines inside the quoted
`--data` argument unchanged and JSON ignores them, and a reader of webhook.yaml can see each field.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from .model import Notification
from .pagerduty import ALERT_URL_PATH, CHANGE_URL_PATH, EVENTS_BASE_URL
from .placeholders import Context, PlaceholderError, compile_text, json_static

ENV_NAME = "routingKey"
# Where send scripts put the routing key. Braces never appear raw in a body's text (static text escapes
# them, event text is URL-encoded), so the marker cannot be confused with anything a profile or event says.
SCRIPT_ROUTING_KEY = "{PAGERDUTY_ROUTING_KEY}"
RESULTS = ("fail", "warning", "pass", "none")
SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
# Free text is cut so that a summary of names plus one message stays far below 1,024 characters.
CONTEXTS = {
    "summary": Context(free_text_limit=200, allow_lists=False),
    "dedup_key": Context(free_text_limit=64, allow_lists=False),
    "short": Context(free_text_limit=200, allow_lists=False),
    "details": Context(free_text_limit=1000, allow_lists=True),
}
LIMITS = {"summary": SUMMARY_LIMIT, "dedup_key": DEDUP_KEY_LIMIT}


class SettingError(ValueError):
    """A setting that cannot become a safe body; `key` is the setting's path below the event."""

    def __init__(self, key: tuple, message: str, hint: str = ""):
        super().__init__(message)
        self.key = key
        self.hint = hint


class SettingErrors(ValueError):
    """Every setting of one notification that cannot be compiled, reported together."""

    def __init__(self, errors: list[SettingError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Body:
    url: str
    template: str  # Go template text of the JSON body
    kind: str  # alert | change


def build(notification: Notification, api_version: str) -> Body:
    """The request body and URL for one notification; raises `SettingErrors` for text that cannot be compiled.

    The body depends on the event type, the settings and the API version only (names are placeholders),
    and a fleet has few distinct ones: each is built once per process.
    """
    # Pickled: equal bytes are equal settings, of the same types (settings merged in another order, or sharing
    # an object where others have equal copies, only miss the memo); a third of the time of their repr.
    key = (notification.event.type, api_version,
           pickle.dumps((notification.settings, notification.pagerduty, notification.keptn), 5))
    built = _BUILT.get(key)
    if built is None:
        if len(_BUILT) >= 4096:
            _BUILT.clear()
        try:
            built = _BUILT[key] = _build(notification, api_version)
        except SettingErrors as exc:
            built = _BUILT[key] = list(exc.errors)
    if isinstance(built, list):
        raise SettingErrors(list(built))
    return built


_BUILT: dict[tuple, Body | list[SettingError]] = {}


def _build(notification: Notification, api_version: str) -> Body:
    settings = notification.settings
    region = notification.pagerduty.get("region", "us")
    builder = _Builder(notification, api_version)
    if settings.get("kind") == "change":
        body = Body(EVENTS_BASE_URL[region] + CHANGE_URL_PATH, builder.change(), "change")
    else:
        body = Body(EVENTS_BASE_URL[region] + ALERT_URL_PATH, builder.alert(), "alert")
    if builder.errors:
        raise SettingErrors(builder.errors)
    return body


class _Builder:
    def __init__(self, notification: Notification, api_version: str):
        self.n = notification
        self.settings = notification.settings
        self.api_version = api_version
        self.errors: list[SettingError] = []

    def text(self, key: tuple, value: str, context: str) -> str:
        base = CONTEXTS[context]
        ctx = Context(base.free_text_limit, base.allow_lists, self.api_version)
        try:
            compiled = compile_text(value, self.n.event, ctx)
        except PlaceholderError as exc:
            self.errors.append(SettingError(key, f"{exc} (at character {exc.offset + 1} of {value!r})", exc.hint))
            return '""'
        limit = LIMITS.get(key[0])
        if limit is not None and (compiled.max_length is None or compiled.max_length > limit):
            self.errors.append(SettingError(
                key, f"{key[0]} can reach {compiled.max_length} characters; PagerDuty rejects more than {limit}",
                "shorten the static text or use fewer placeholders"))
        return f'"{compiled.template}"'

    def bridge_link(self, bridge: str, path: str) -> str:
        """A Bridge page: the configured URL as literal text (braces doubled), then a placeholder path."""
        return self.text(("bridge_url",), bridge.replace("{", "{{").replace("}", "}}") + path, "short")

    def static(self, value: str) -> str:
        return f'"{json_static(value, self.api_version)}"'

    def links(self) -> list[str]:
        items = []
        bridge = self.n.keptn.get("bridge_url")
        if bridge:
            href = self.bridge_link(bridge, "/project/{project}/sequence/{keptn_context}/stage/{stage}")
            items.append(f'{{"href": {href}, "text": "Keptn Bridge"}}')
        for index, link in enumerate(self.settings.get("links", [])):
            href = self.text(("links", index, "href"), link["href"], "short")
            member = f'{{"href": {href}'
            if link.get("text"):
                member += f', "text": {self.text(("links", index, "text"), link["text"], "short")}'
            items.append(member + "}")
        return items

    def details(self) -> list[tuple[str, str]]:
        return [(self.static(name), self.text(("custom_details", name), value, "details"))
                for name, value in sorted(self.settings.get("custom_details", {}).items())]

    def common_payload(self) -> list[tuple[str, str]]:
        members = [('"summary"', self.text(("summary",), self.settings["summary"], "summary")),
                   ('"source"', self.text(("source",), self.settings["source"], "short"))]
        return members

    def alert(self) -> str:
        given = self.settings.get("results", {})
        if "none" not in given:
            self.errors.append(SettingError(("results",), "no PagerDuty action for result `none` (events without a result)",
                                            "give one, e.g. results: {none: info}"))
        results = {r: given.get(r, given.get("none", "info")) for r in RESULTS}
        actions = {r: "trigger" if results[r] in SEVERITIES else results[r] for r in RESULTS}
        triggered = [results[r] for r in RESULTS if results[r] in SEVERITIES]
        fallback = triggered[-1] if triggered else "info"
        severities = {r: results[r] if results[r] in SEVERITIES else fallback for r in RESULTS}
        switch_needed = len(set(actions.values())) > 1 or len(set(severities.values())) > 1
        payload = self.common_payload()
        payload.append(('"severity"', f'"{_switch(severities)}"'))
        for key in ("component", "group", "class"):
            if self.settings.get(key):
                payload.append((f'"{key}"', self.text((key,), self.settings[key], "short")))
        details = self.details()
        if details:
            payload.append(('"custom_details"', _object(details, 2)))
        members = [('"routing_key"', f'"{{{{.env.{ENV_NAME}}}}}"'),
                   ('"event_action"', f'"{_switch(actions)}"'),
                   ('"dedup_key"', self.text(("dedup_key",), self.settings["dedup_key"], "dedup_key")),
                   ('"client"', self.static(self.n.pagerduty.get("client", "Keptn")))]
        bridge = self.n.keptn.get("bridge_url")
        if bridge:
            members.append(('"client_url"', self.bridge_link(bridge, "/project/{project}")))
        members.append(('"payload"', _object(payload, 1)))
        links = self.links()
        if links:
            members.append(('"links"', _array(links, 1)))
        prefix = '{{$r := or (index .data "result") "none" -}}\n' if switch_needed else ""
        return prefix + _object(members, 0)

    def change(self) -> str:
        payload = self.common_payload()
        details = self.details()
        if details:
            payload.append(('"custom_details"', _object(details, 2)))
        members = [('"routing_key"', f'"{{{{.env.{ENV_NAME}}}}}"'), ('"payload"', _object(payload, 1))]
        links = self.links()
        if links:
            members.append(('"links"', _array(links, 1)))
        return _object(members, 0)


def _switch(values: dict[str, str]) -> str:
    """A Go `if` chain on the result variable `$r`, most common value last (as the `else`)."""
    distinct = sorted(set(values.values()), key=lambda v: (-list(values.values()).count(v), RESULTS.index(
        next(r for r in RESULTS if values[r] == v))))
    if len(distinct) == 1:
        return distinct[0]
    default = distinct[0]
    text = ""
    for value in distinct[1:]:
        results = " ".join(f'"{r}"' for r in RESULTS if values[r] == value)
        text += ("{{if " if not text else "{{else if ") + f"eq $r {results}}}}}{value}"
    return text + "{{else}}" + default + "{{end}}"


def _object(members: list[tuple[str, str]], depth: int) -> str:
    pad = "  " * (depth + 1)
    inner = ",\n".join(f"{pad}{key}: {value}" for key, value in members)
    return "{\n" + inner + "\n" + "  " * depth + "}"


def _array(items: list[str], depth: int) -> str:
    pad = "  " * (depth + 1)
    return "[\n" + ",\n".join(pad + item for item in items) + "\n" + "  " * depth + "]"
