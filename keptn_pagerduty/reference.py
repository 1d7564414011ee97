"""The profile reference (docs/profile-reference.md), generated from the data the generator itself uses.

Every key, type, allowed value and description comes from `data/profile.schema.json`; every default from
`data/defaults.yaml`; the placeholder kinds from `data/kinds.yaml`; the event types from
`data/events.yaml`. So the reference cannot drift from the code: a test regenerates it and fails when the
committed file differs.

    python -m keptn_pagerduty.reference > docs/profile-reference.md
    python -m keptn_pagerduty.reference --check docs/profile-reference.md   # exit 1 when stale
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import yaml

from .events import load_catalogue
from .profiles import shown_pattern

COMMAND = "python -m keptn_pagerduty.reference > docs/profile-reference.md"
# $defs that get a section of their own instead of being repeated wherever they are used.
SECTIONS = {"route": "routes[]", "eventSettings": "Event settings"}

Row = tuple[str, dict, bool]  # key path, schema node (refs resolved), required


def _data(name: str) -> str:
    return resources.files("keptn_pagerduty").joinpath("data", name).read_text(encoding="utf-8")


def _schema() -> dict:
    return json.loads(_data("profile.schema.json"))


def _defaults() -> dict:
    return yaml.safe_load(_data("defaults.yaml"))


def _resolve(node: dict, schema: dict) -> tuple[dict, str | None]:
    """The node with a local $ref followed (the referring node's description wins), and the $defs name."""
    ref = node.get("$ref")
    if not ref:
        return node, None
    name = ref.rsplit("/", 1)[-1]
    target = dict(schema["$defs"][name])
    for key, value in node.items():
        if key != "$ref":
            target[key] = value
    return target, name


def _rows(node: dict, schema: dict, prefix: str) -> Iterator[Row]:
    """The properties of an object node, depth first; $defs with a section of their own are not entered."""
    required = set(node.get("required", ()))
    for key, child in node.get("properties", {}).items():
        resolved, ref = _resolve(child, schema)
        path = f"{prefix}.{key}" if prefix else key
        yield path, resolved, key in required
        if ref in SECTIONS:
            continue
        if "properties" in resolved:
            yield from _rows(resolved, schema, path)
        items = resolved.get("items")
        if isinstance(items, dict):
            items, item_ref = _resolve(items, schema)
            if "properties" in items and item_ref not in SECTIONS:
                yield from _rows(items, schema, path + "[]")


def _types(node: dict) -> list[str]:
    kind = node.get("type")
    return kind if isinstance(kind, list) else [kind] if kind else []


def describe_type(node: dict, schema: dict) -> str:
    """A short, readable type: `text, 1-2000 characters`, `one of us, eu`, `list of names`."""
    ref_name = None
    if "$ref" in node:
        node, ref_name = _resolve(node, schema)
    if ref_name == "eventSettings":
        return "event settings (see [Event settings](#event-settings))"
    if ref_name == "route":
        return "route (see [routes[]](#routes))"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    types = _types(node)
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    main = types[0] if types else "any"
    if main == "string":
        text = "text"
        if "pattern" in node:
            text += f" matching `{shown_pattern(node['pattern'])}`"
        low, high = node.get("minLength"), node.get("maxLength")
        if low and high:
            text += f", {low}-{high} characters"
        elif high:
            text += f", at most {high} characters"
        elif low:
            text += f", at least {low} character{'s' if low != 1 else ''}"
    elif main == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        text = "integer" + (f" from {low} to {high}" if low is not None and high is not None else "")
    elif main == "boolean":
        text = "`true` or `false`"
    elif main == "array":
        items = node.get("items", {})
        text = "list of " + describe_type(items, schema) if items else "list"
        text = text.replace("list of route ", "list of routes ").replace("list of mapping", "list of mappings")
        if node.get("minItems"):
            text += f", at least {node['minItems']}"
        if node.get("uniqueItems"):
            text += ", no repeats"
    elif main == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            text = "map: name → " + describe_type(extra, schema)
        else:
            text = "mapping (keys below)" if node.get("properties") else "mapping"
    else:
        text = main
    if nullable:
        text += ", or `null`"
    return text


def _lookup(data: object, path: str) -> object:
    for part in path.replace("[]", "").split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items())
    return f"`{value}`" if not isinstance(value, str) else f"`{json.dumps(value, ensure_ascii=False)[1:-1]}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[Row], schema: dict, defaults: dict | None, default_prefix: str = "") -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for path, node, required in rows:
        if required:
            default = "required"
        elif defaults is not None:
            found = _lookup(defaults, default_prefix + path)
            default = "see [built-in defaults](#built-in-event-defaults)" if isinstance(found, dict) and \
                path == "custom_details" else _value(found) if not isinstance(found, dict) else ""
        else:
            default = ""
        lines.append(f"| `{path}` | {_cell(describe_type(node, schema))} | {_cell(default)} | "
                     f"{_cell(node.get('description', ''))} |")
    return lines


def render() -> str:
    """The whole reference as Markdown."""
    schema, defaults = _schema(), _defaults()
    out = [
        "# Profile reference",
        "",
        "<!-- Generated from keptn_pagerduty/data (profile.schema.json, defaults.yaml, kinds.yaml, events.yaml)",
        f"     by `{COMMAND}`.",
        "     Do not edit by hand: a test fails when this file differs from what the command prints. -->",
        "",
        schema.get("description", ""),
        "",
        "A profile is a YAML file in the profiles folder; files whose names start with `_` are shared files that",
        "profiles `extends`. Layers merge from the bottom up: the built-in defaults (the *default* column), the",
        "file a profile extends, the profile. Maps merge key by key, the more specific file wins, and a key set",
        "to `null` removes an inherited one. The JSON Schema is `keptn_pagerduty/data/profile.schema.json`.",
        "",
        "## Top level",
        "",
    ]
    top = [row for row in _rows(schema, schema, "") if "." not in row[0]]
    out += _table(top, schema, defaults)
    for key in ("pagerduty", "keptn"):
        node = schema["properties"][key]
        out += ["", f"## {key}", "", node.get("description", ""), ""]
        out += _table(list(_rows(node, schema, key)), schema, defaults)
    route = schema["$defs"]["route"]
    out += ["", "## routes[]", "", schema["properties"]["routes"]["description"],
            "Each route is a mapping:", ""]
    out += _table(list(_rows(route, schema, "")), schema, None)
    settings = schema["$defs"]["eventSettings"]
    out += ["", "## Event settings", "",
            "The value of `event_defaults.<event or *>` and of `routes[].events.<event>`: "
            + settings.get("description", ""),
            "Settings layer as everything else does: built-in defaults for `*`, built-in defaults for the event,",
            "then the profile's `event_defaults` for `*` and for the event, then the route's settings.", ""]
    out += _table(list(_rows(settings, schema, "")), schema, defaults, "event_defaults.*.")
    action = schema["$defs"]["action"]
    out += ["", "### Actions", "", f"`results.<result>` is one of these. {action['description']}", ""]
    out += _results_table()
    out += ["", "## Built-in event defaults", "",
            "From `keptn_pagerduty/data/defaults.yaml`: settings for every event type (`*`), then what",
            "particular event types change.", ""]
    out += _defaults_table(defaults)
    out += ["", "## Placeholder kinds", "",
            "Texts (summary, source, dedup_key, custom_details, links ...) use `{field}` placeholders for fields",
            "of the Keptn event; `{field|text}` prints `text` when the event has no such field. How a field is",
            "printed depends on its kind (`keptn-pagerduty events <event>` shows each field's kind):", "",
            "| kind | free text | what it is, how it is printed |", "|---|---|---|"]
    for kind, spec in yaml.safe_load(_data("kinds.yaml")).items():
        free = "yes: URL-encoded, cut to a length limit" if spec.get("free_text") else "no"
        out.append(f"| `{kind}` | {free} | {_cell(spec.get('doc', ''))} |")
    out += ["", "## Event types", "",
            "The events a route can name (without the `sh.keptn.event.` prefix). Prefer `.finished` and",
            "`.started` events; a `.triggered` event needs `allow_triggered: true`.", "",
            "| event | placeholders beyond the common ones |", "|---|---|"]
    catalogue = load_catalogue()
    common = _common_fields(catalogue)
    for event in catalogue.event_types():
        own = [f"`{{{f.name}}}`" for f in event.fields if f.name not in common]
        out.append(f"| `{event.short}` | {_cell(', '.join(own) or '(common fields only)')} |")
    out += ["", "Common fields of every event: " + ", ".join(f"`{{{name}}}`" for name in sorted(common)) + ";",
            "and `{task}`, `{phase}`, `{event}` for the subscribed event type.", ""]
    return "\n".join(out)


def _results_table() -> list[str]:
    meaning = {
        "critical": "trigger an alert with severity critical",
        "error": "trigger an alert with severity error",
        "warning": "trigger an alert with severity warning",
        "info": "trigger an alert with severity info",
        "resolve": "resolve the alert the same dedup key opened",
        "acknowledge": "acknowledge the alert the same dedup key opened",
    }
    schema = _schema()
    return ["| action | PagerDuty |", "|---|---|"] + [
        f"| `{value}` | {meaning.get(value, '')} |" for value in schema["$defs"]["action"]["enum"]]


def _defaults_table(defaults: dict) -> list[str]:
    lines = ["| event | setting | default |", "|---|---|---|"]
    for event, settings in defaults.get("event_defaults", {}).items():
        for key, value in settings.items():
            lines.append(f"| `{event}` | `{key}` | {_cell(_value(value))} |")
    return lines


def _common_fields(catalogue) -> set[str]:
    names: set[str] | None = None
    for event in catalogue.event_types():
        fields = {f.name for f in event.fields}
        names = fields if names is None else names & fields
    return names or set()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args[:1] == ["--check"] and len(args) == 2:
        current = Path(args[1]).read_text(encoding="utf-8") if Path(args[1]).is_file() else ""
        if current != text:
            print(f"{args[1]} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if args:
        print("usage: python -m keptn_pagerduty.reference [--check FILE]", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
