"""The Keptn event catalogue: which fields each subscribable event type has, and sample events.

Profiles refer to event fields by placeholder ({project}, {evaluation.score}, {labels.buildId}). To
compile a placeholder into a Go template that cannot fail in Keptn, the generator needs to know each
field's path, kind and whether it may be absent. That knowledge is data (data/events.yaml, checked
against Keptn's sources); this module only reads it and answers questions about it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field as dataclass_field
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from .problems import closest
from .yamlsource import Loader

PREFIX = "sh.keptn.event."
PHASES = ("triggered", "started", "finished")
KINDS = frozenset({"name", "id", "time", "enum", "number", "bool", "text", "url", "list", "map", "object"})
_TYPE_TOKEN = "__event_type__"  # in events.yaml: stands for the type the field belongs to
_SUBSCRIBABLE = re.compile(r"^sh\.keptn\.event\.[a-z0-9][a-z0-9-]*\.(triggered|started|finished)$")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

# Text no template may print as is: a quote, shell metacharacters, a redirect, a percent sign, a newline.
HOSTILE_TEXT = "it's \"quoted\"; $HOME | cat > /tmp/x && echo 100% done\nnext line"
HOSTILE_VARIANTS = (
    "message-absent",
    "labels-absent",
    "empty-lists",
    "message-hostile",
    "message-backticks",
    "message-non-ascii",
    "message-5000",
    "labels-hostile",
)


@dataclass(frozen=True)
class Field:
    """One field of an event: where it is, what it holds, whether a template must guard it."""

    name: str
    path: tuple[str, ...]
    kind: str
    optional: bool
    example: object = dataclass_field(hash=False)  # may be a list or dict: keep Field hashable
    doc: str
    values: tuple[str, ...] = ()
    items: str | None = None


@dataclass(frozen=True)
class EventType:
    """A subscribable event type (task and phase) with every field a template may use."""

    type: str
    task: str
    phase: str
    doc: str
    fields: tuple[Field, ...]

    def __hash__(self) -> int:
        # The type names the entry; hashing every field on each cache lookup costs more than the lookup.
        return hash(self.type)

    @property
    def short(self) -> str:
        return f"{self.task}.{self.phase}"

    def field(self, name: str) -> Field | None:
        """The field called `name`; a key of a map field ("labels.buildId") is an optional text field."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        for candidate in self.fields:
            prefix = candidate.name + "."
            if candidate.kind == "map" and name.startswith(prefix) and len(name) > len(prefix):
                key = name[len(prefix):]
                return Field(
                    name=name,
                    path=(*candidate.path, key),
                    kind="text",
                    optional=True,
                    example=None,
                    doc=f"Value of key {key!r} in {candidate.name}: free text, absent unless the user set it.",
                )
        return None


class UnknownEventType(ValueError):
    """An event type the catalogue cannot serve; str() says why and what to use instead."""


@dataclass(frozen=True)
class Rejection:
    """A family of event types the webhook-service drops, with the reason."""

    pattern: re.Pattern[str]
    example: str
    reason: str


@dataclass(frozen=True)
class Catalogue:
    """All subscribable event types, indexed by full type, and the rejected type families."""

    types: Mapping[str, EventType]
    tasks: tuple[str, ...]
    rejected: tuple[Rejection, ...] = dataclass_field(default=())

    def event_types(self) -> list[EventType]:
        return sorted(self.types.values(), key=lambda t: t.type)

    def lookup(self, name: str) -> EventType:
        """The event type for "evaluation.finished" or "sh.keptn.event.evaluation.finished"."""
        name = name.strip()
        full = name if name.startswith("sh.keptn.") else PREFIX + name
        if full in self.types:
            return self.types[full]
        for rejection in self.rejected:
            if rejection.pattern.search(full):
                raise UnknownEventType(f"{name!r} cannot trigger a webhook. {rejection.reason}")
        raise UnknownEventType(self._explain(name, full))

    def _explain(self, name: str, full: str) -> str:
        parts = full[len(PREFIX):].split(".")
        known = ", ".join(self.tasks)
        if len(parts) == 1:
            options = ", ".join(f"{parts[0]}.{phase}" for phase in PHASES)
            return f"{name!r} names no phase: use one of {options}."
        if len(parts) != 2:
            return f"{name!r} is not a task event type sh.keptn.event.<task>.<triggered|started|finished>."
        task, phase = parts
        if phase not in PHASES:
            close = closest(phase, PHASES)
            hint = f" Did you mean '{task}.{close}'?" if close else ""
            return f"Unknown phase {phase!r} in {name!r}: the phases are {', '.join(PHASES)}.{hint}"
        close = closest(task, self.tasks)
        hint = f" Did you mean '{close}.{phase}'?" if close else ""
        return (
            f"Unknown task {task!r} in {name!r}.{hint} Known tasks: {known}. A task of your own shipyard"
            " carries common data only: use the generic 'webhook' entry for it."
        )


def is_subscribable(type: str) -> bool:  # noqa: A002 - named like the CloudEvent attribute
    """True for the 5-part task types the webhook-service hands to a webhook (sh.keptn.event.<task>.<phase>)."""
    return bool(_SUBSCRIBABLE.match(type))


@functools.cache
def load_catalogue() -> Catalogue:
    """Read data/events.yaml once."""
    text = resources.files("keptn_pagerduty").joinpath("data", "events.yaml").read_text(encoding="utf-8")
    return _build(yaml.load(text, Loader=Loader))


def _build(raw: dict[str, Any]) -> Catalogue:
    tasks: dict[str, Any] = raw["tasks"]
    own = {
        f"{task}.{phase}": tuple(_field(item) for item in spec["phases"][phase])
        for task, spec in tasks.items()
        for phase in PHASES
    }
    types: dict[str, EventType] = {}
    for task, spec in tasks.items():
        for phase in PHASES:
            full = PREFIX + f"{task}.{phase}"
            fields = [
                _field(item, full)
                for item in raw["common"]
                if phase in item.get("phases", PHASES)
            ]
            fields += own[f"{task}.{phase}"]
            if phase == "triggered":
                for source in spec.get("carries", ()):
                    fields += [_carried(f, source) for f in own[source]]
            by_name: dict[str, Field] = {}
            for f in fields:
                by_name.setdefault(f.name, f)  # the first definition wins: common, then own, then carried
            doc = f"{spec['doc'].strip()} {raw['phase_docs'][phase].strip()}"
            types[full] = EventType(full, task, phase, doc, tuple(by_name.values()))
    rejected = tuple(Rejection(re.compile(r["pattern"]), r["example"], " ".join(r["reason"].split())) for r in raw["rejected"])
    return Catalogue(MappingProxyType(types), tuple(sorted(tasks)), rejected)


def _field(item: dict[str, Any], event_type: str = "") -> Field:
    kind = item["kind"]
    values = tuple(event_type if v == _TYPE_TOKEN else v for v in item.get("values", ()))
    if kind not in KINDS or (kind == "enum") != bool(values) or (kind == "list") != ("items" in item):
        raise ValueError(f"events.yaml: field {item['name']!r} has an invalid kind, values or items")
    return Field(
        name=item["name"],
        path=tuple(item["path"]),
        kind=kind,
        optional=bool(item["optional"]),
        example=event_type if item["example"] == _TYPE_TOKEN else item["example"],
        doc=" ".join(item["doc"].split()),
        values=values,
        items=item.get("items"),
    )


def _carried(f: Field, source: str) -> Field:
    """A field an earlier task left in the sequence: present only if that task ran, so optional."""
    return Field(f.name, f.path, f.kind, True, f.example, f"{f.doc} (Carried from an earlier {source}.)", f.values, f.items)


def sample_events(event_type: EventType) -> list[tuple[str, dict[str, Any]]]:
    """The labelled sample events of data/samples/<task>.<phase>.json (fresh copies each call)."""
    text = resources.files("keptn_pagerduty").joinpath("data", "samples", f"{event_type.short}.json").read_text(encoding="utf-8")
    return [(entry["label"], entry["event"]) for entry in json.loads(text)]


def hostile_variants(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Variants of `event` that real Keptn installations can produce and a template must survive."""

    def variant(change: Any) -> dict[str, Any]:
        clone = copy.deepcopy(event)
        change(clone.setdefault("data", {}))
        return clone

    def set_message(text: str) -> Any:
        return lambda data: data.__setitem__("message", text)

    def hostile_labels(data: dict[str, Any]) -> None:
        labels = {key: HOSTILE_TEXT for key in (data.get("labels") or {})}
        data["labels"] = {**labels, "buildId": HOSTILE_TEXT, "Problem URL": HOSTILE_TEXT}

    sentence = "Evaluation failed due to key_sli objective 'response_time_p95': value 1203.4 > 1000; "
    changes = {
        "message-absent": lambda data: data.pop("message", None),
        "labels-absent": lambda data: data.pop("labels", None),
        "empty-lists": _empty_lists,
        "message-hostile": set_message(HOSTILE_TEXT),
        "message-backticks": set_message("deployed by `whoami` on `hostname`"),
        "message-non-ascii": set_message("Bereitstellung fehlgeschlagen: Überlast – 日本語 🚨"),
        "message-5000": set_message((sentence * (5000 // len(sentence) + 1))[:5000]),
        "labels-hostile": hostile_labels,
    }
    return [(label, variant(changes[label])) for label in HOSTILE_VARIANTS]


def _empty_lists(value: Any) -> None:
    """Empty every list inside `value`, in place (on a copy)."""
    children = value.values() if isinstance(value, dict) else ()
    for child in list(children):
        if isinstance(child, list):
            child.clear()
        else:
            _empty_lists(child)


_MISSING = object()


def check_event(event_type: EventType, event: Mapping[str, Any]) -> list[str]:
    """Problems of `event` against its catalogue entry: missing required fields, values of the wrong kind.

    A null value counts as absent (templates see both as "no value").
    """
    problems = []
    for f in event_type.fields:
        value: Any = event
        for key in f.path:
            value = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
            if value is _MISSING or value is None:
                break
        if value is _MISSING or value is None:
            if not f.optional:
                problems.append(f"{f.name}: required but absent")
            continue
        problem = kind_problem(f.kind, value, f.values, f.items)
        if problem:
            problems.append(f"{f.name}: {problem}")
    return problems


def kind_problem(kind: str, value: Any, values: tuple[str, ...] = (), items: str | None = None) -> str | None:
    """Why `value` is not of `kind`, or None if it is."""
    ok: bool
    if kind == "name":
        ok = isinstance(value, str) and bool(_NAME.match(value))
    elif kind == "id":
        ok = isinstance(value, str) and bool(_ID.match(value))
    elif kind == "time":
        ok = isinstance(value, str) and (value == "" or bool(_TIME.match(value)))
    elif kind == "enum":
        ok = value in values
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("text", "url"):
        ok = isinstance(value, str)
    elif kind == "map":
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    elif kind == "object":
        ok = isinstance(value, dict)
    elif kind == "list":
        if not isinstance(value, list):
            return f"expected a list, got {value!r:.80}"
        for index, item in enumerate(value):
            problem = kind_problem(items or "text", item)
            if problem:
                return f"item {index}: {problem}"
        return None
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return None if ok else f"expected {kind}{' ' + str(list(values)) if values else ''}, got {value!r:.80}"
