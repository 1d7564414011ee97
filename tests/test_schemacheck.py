"""The fast check says yes exactly when jsonschema says yes: on real bodies and profiles, and on every
mutation of them a test can think of (each value swapped for an odd one, removed, or joined by a stranger)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from keptn_pagerduty import pagerduty, profiles
from keptn_pagerduty.schemacheck import compile_schema

ROOT = Path(__file__).resolve().parent.parent
KEY = "0123456789abcdefABCDEF0123456789"
ODD_VALUES = [None, True, False, 0, 1, 1.0, 1.5, -1, 10**6, "", " ", "\n", "x", "a" * 300, "b" * 2000, "é",
              "https://example.com/x", "http://example.com", "trigger", "critical", "change", "fail",
              "2026-11-27T10:00:00Z", KEY, KEY + "!", [], [1, 1], [True, 1], ["x"], {}, {"x": 1},
              {"href": "https://x"}, {"src": "https://x/i.png"}]


def alert_bodies() -> list[dict]:
    payload = {"summary": "Quality gate failed", "source": "keptn", "severity": "critical", "component": "carts",
               "group": "production", "class": "evaluation", "timestamp": "2026-11-27T10:00:00Z",
               "custom_details": {"score": "60", "nested": {"a": [1, 2]}}}
    return [
        {"routing_key": KEY, "event_action": "trigger", "dedup_key": "keptn/shop/prod/carts", "payload": payload,
         "client": "Keptn", "client_url": "https://keptn.example.com",
         "links": [{"href": "https://keptn.example.com/bridge", "text": "Bridge"}],
         "images": [{"src": "https://example.com/i.png", "href": "https://example.com", "alt": "chart"}]},
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "keptn/shop/prod/carts"},
        {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "k"},
    ]


def change_bodies() -> list[dict]:
    return [{"routing_key": KEY, "payload": {"summary": "Deployed carts", "source": "keptn",
                                             "timestamp": "2026-11-27T10:00:00Z", "custom_details": {"a": "b"}},
             "links": [{"href": "https://keptn.example.com", "text": "Bridge"}]},
            {"routing_key": KEY, "payload": {"summary": "Deployed"}}]


def mutations(value: object) -> Iterator[object]:
    """`value` itself, then one change at a time at every place in it."""
    yield value
    yield from _mutate(value, lambda v: v)


def _mutate(node: object, rebuild) -> Iterator[object]:
    for odd in ODD_VALUES:
        yield rebuild(copy.deepcopy(odd))
    if isinstance(node, dict):
        yield rebuild({**node, "unexpected_field": "x"})
        for key in node:
            yield rebuild({k: v for k, v in node.items() if k != key})
            yield from _mutate(node[key], lambda v, key=key: rebuild({**node, key: v}))
    elif isinstance(node, list):
        yield rebuild(node + node[:1])
        for index, item in enumerate(node):
            yield from _mutate(item, lambda v, i=index: rebuild(node[:i] + [v] + node[i + 1:]))


def pagerduty_pairs() -> list[tuple[str, object, object]]:
    """(url path, fast check, jsonschema validator) for both PagerDuty schemas."""
    folder = resources.files("keptn_pagerduty") / "data" / "pagerduty"
    schemas = {path: json.loads((folder / name).read_text(encoding="utf-8"))
               for path, name in (("/v2/enqueue", "alert-event.schema.json"),
                                  ("/v2/change/enqueue", "change-event.schema.json"))}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return [(path, compile_schema(schema, tuple(schemas.values())), Draft202012Validator(schema, registry=registry))
            for path, schema in schemas.items()]


PAIRS = pagerduty_pairs()


@pytest.mark.parametrize("path, fast, slow", PAIRS, ids=[p[0] for p in PAIRS])
def test_pagerduty_verdicts_match_jsonschema_on_every_mutation(path: str, fast, slow) -> None:
    bodies = alert_bodies() if path == "/v2/enqueue" else change_bodies()
    seen = valid = 0
    for body in bodies:
        for mutated in mutations(body):
            assert fast(mutated) == slow.is_valid(mutated), json.dumps(mutated)[:500]
            seen += 1
            valid += fast(mutated)
    assert seen > 500 and 0 < valid < seen  # both verdicts were exercised


def profile_documents() -> list[object]:
    documents = []
    for file in sorted((ROOT / "profiles").glob("*.yaml")) + sorted((ROOT / "tests" / "bad_profiles").glob("*/profiles/*.y*ml")):
        if "alias-bomb" in file.parts:  # built to explode when expanded; test_profiles covers it
            continue
        try:
            documents.append(yaml.safe_load(file.read_text(encoding="utf-8")))
        except yaml.YAMLError:
            continue
    return documents


@pytest.mark.parametrize("partial", [False, True])
def test_profile_verdicts_match_jsonschema_on_every_mutation(partial: bool) -> None:
    schema = profiles._schema(partial)
    fast, slow = compile_schema(schema), Draft202012Validator(schema)
    seen = valid = 0
    for document in profile_documents():
        for mutated in mutations(document):
            assert fast(mutated) == slow.is_valid(mutated), json.dumps(mutated, default=str)[:500]
            seen += 1
            valid += fast(mutated)
    assert seen > 5000 and 0 < valid < seen


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=5)
                    | st.sampled_from(ODD_VALUES[:24]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["routing_key", "event_action", "dedup_key", "payload", "summary", "source",
                                         "severity", "links", "images", "href", "src", "text", "x"]), inner, max_size=4),
                    max_leaves=12)


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_gets_the_same_verdict(value: object) -> None:
    for _, fast, slow in PAIRS:
        assert fast(value) == slow.is_valid(value)


def test_validate_event_still_explains_with_jsonschema() -> None:
    body = alert_bodies()[0]
    body["payload"]["severity"] = "fatal"
    assert [v.path for v in pagerduty.validate_event("/v2/enqueue", body)] == ["payload.severity"]
    assert pagerduty.validate_event("/v2/enqueue", alert_bodies()[0]) == []


def test_an_unknown_keyword_is_refused_when_compiling() -> None:
    with pytest.raises(ValueError, match="does not support the keyword 'prefixItems'"):
        compile_schema({"type": "array", "prefixItems": [{"type": "string"}]})


def test_refs_within_and_across_documents() -> None:
    base = {"$id": "https://x.invalid/a.json", "$defs": {"name": {"type": "string", "minLength": 2}},
            "properties": {"n": {"$ref": "#/$defs/name"}, "self": {"$ref": "#"}}}
    other = {"$id": "https://x.invalid/b.json", "properties": {"m": {"$ref": "a.json#/$defs/name"}}}
    fast_a, fast_b = compile_schema(base), compile_schema(other, (base,))
    assert fast_a({"n": "ok", "self": {"n": "ok"}}) and not fast_a({"self": {"n": "x"}})
    assert fast_b({"m": "ok"}) and not fast_b({"m": 1})


@pytest.mark.parametrize("schema", [{"enum": [1, "a", [1], {"k": 1}]}, {"const": True}, {"const": 1.0},
                                    {"type": "integer"}, {"uniqueItems": True}, {"minimum": 1, "maximum": 2},
                                    {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "null"}},
                                    {"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1},
                                    {"additionalProperties": {"type": "string"}, "properties": {"a": {}}}])
def test_keyword_semantics_match_jsonschema(schema: dict) -> None:
    fast, slow = compile_schema(schema), Draft202012Validator(schema)
    for value in ODD_VALUES + [2, 2.0, [1, True], [1, 1.0], [[1], [True]], {"A": "x"}, {"a": 1, "b": "x"}]:
        assert fast(value) == slow.is_valid(value), (schema, value)
