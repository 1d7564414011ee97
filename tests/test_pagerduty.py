"""PagerDuty's rules: PagerDuty's own examples pass, its real 400 errors are caught, and the edges hold."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from keptn_pagerduty.pagerduty import (
    ALERT_URL_PATH,
    CHANGE_URL_PATH,
    MAX_EVENT_BYTES,
    Violation,
    event_size,
    validate_alert_event,
    validate_change_event,
    validate_event,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
OPENAPI = SHARED / "reference" / "pagerduty-events-v2.openapi.json"
KEY = "0123456789abcdefABCDEF0123456789"  # 32 alphanumeric characters


def trigger(**payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": KEY, "event_action": "trigger",
                            "payload": {"summary": "Evaluation failed", "source": "keptn", "severity": "error"}}
    body["payload"].update(payload)
    return body


def change(**payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": KEY, "payload": {"summary": "Deployed carts 1.2.3 to production"}}
    body["payload"].update(payload)
    return body


def paths(violations: list[Violation]) -> list[str]:
    return [v.path for v in violations]


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI.is_file():
        pytest.skip(f"PagerDuty's OpenAPI file is not beside the project ({OPENAPI})")
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


# --- the schemas themselves -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["alert-event.schema.json", "change-event.schema.json"])
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    text = (resources.files("keptn_pagerduty") / "data" / "pagerduty" / name).read_text(encoding="utf-8")
    Draft202012Validator.check_schema(json.loads(text))


def test_schema_enums_and_requirements_agree_with_the_openapi_file(openapi: dict[str, Any]) -> None:
    text = (resources.files("keptn_pagerduty") / "data" / "pagerduty" / "alert-event.schema.json").read_text()
    ours = json.loads(text)
    theirs = openapi["components"]["schemas"]["Payload"]
    theirs_event = openapi["paths"]["/enqueue"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    severities = ours["$defs"]["payload"]["properties"]["severity"]["enum"]
    assert set(severities) == set(theirs["properties"]["severity"]["enum"])
    assert set(ours["$defs"]["payload"]["required"]) == set(theirs["required"])
    assert ours["properties"]["event_action"]["enum"] == theirs_event["properties"]["event_action"]["enum"]
    assert set(theirs_event["properties"]) <= set(ours["properties"])


# --- PagerDuty's own examples -------------------------------------------------------------------------

def _examples(openapi: dict[str, Any], api_path: str) -> list[dict[str, Any]]:
    content = openapi["paths"][api_path]["post"]["requestBody"]["content"]["application/json"]
    return [copy.deepcopy(example["value"]) for example in content["examples"].values()]


@pytest.mark.parametrize("api_path, url_path", [("/enqueue", ALERT_URL_PATH), ("/change/enqueue", CHANGE_URL_PATH)])
def test_pagerdutys_own_examples_pass(openapi: dict[str, Any], api_path: str, url_path: str) -> None:
    examples = _examples(openapi, api_path)
    assert examples
    for example in examples:
        example["routing_key"] = KEY
        assert validate_event(url_path, example) == []


# --- every real 400 error on the reference page is caught, naming its field ---------------------------

def _without(body: dict[str, Any], field: str) -> dict[str, Any]:
    del body["payload"][field]
    return body


REAL_400_ERRORS = [
    ("'payload.severity' is invalid (must be one of the following: ...)", trigger(severity="Critical"),
     "payload.severity", "'payload.severity' is invalid (must be one of: critical, error, warning, info)"),
    ("'payload.severity' is missing or blank", _without(trigger(), "severity"),
     "payload.severity", "'payload.severity' is missing or blank"),
    ("'payload.source' is missing or blank", _without(trigger(), "source"),
     "payload.source", "'payload.source' is missing or blank"),
    ("'payload.source' is missing or blank (blank)", trigger(source="  "),
     "payload.source", "'payload.source' is missing or blank"),
    ("'summary' is too long (maiximum is 1024 characters)", trigger(summary="x" * 1025),
     "payload.summary", "'payload.summary' is too long (maximum is 1024 characters)"),
    ("Invalid routing key", {**trigger(), "routing_key": "not a routing key"},
     "routing_key", "Length of 'routing_key' is incorrect (should be 32 characters)"),
    ("Length of 'routing_key' is incorrect (should be 32 characters)", {**trigger(), "routing_key": KEY[:31]},
     "routing_key", "Length of 'routing_key' is incorrect (should be 32 characters)"),
    ("'routing_key' cannot contain non-alphanumeric characters.", {**trigger(), "routing_key": KEY[:31] + "-"},
     "routing_key", "'routing_key' cannot contain non-alphanumeric characters."),
]


@pytest.mark.parametrize("body, path, message", [case[1:] for case in REAL_400_ERRORS],
                         ids=[case[0] for case in REAL_400_ERRORS])
def test_each_real_400_error_is_caught_naming_its_field(body: dict[str, Any], path: str, message: str) -> None:
    assert message in [v.message for v in validate_alert_event(body) if v.path == path]


# --- boundaries ----------------------------------------------------------------------------------------

def test_summary_of_1024_characters_passes_1025_fails() -> None:
    assert validate_alert_event(trigger(summary="x" * 1024)) == []
    assert paths(validate_alert_event(trigger(summary="x" * 1025))) == ["payload.summary"]


def test_blank_summary_is_rejected() -> None:
    assert validate_alert_event(trigger(summary=" \t")) == [
        Violation("payload.summary", "'payload.summary' is missing or blank")]


def test_dedup_key_of_255_characters_passes_256_fails() -> None:
    assert validate_alert_event({**trigger(), "dedup_key": "k" * 255}) == []
    assert validate_alert_event({**trigger(), "dedup_key": "k" * 256}) == [
        Violation("dedup_key", "'dedup_key' is too long (maximum is 255 characters)")]


@pytest.mark.parametrize("length, ok", [(31, False), (32, True), (33, False)])
def test_routing_key_must_be_32_characters(length: int, ok: bool) -> None:
    violations = validate_alert_event({**trigger(), "routing_key": ("abc123" * 6)[:length]})
    assert (violations == []) is ok
    if not ok:
        assert violations == [
            Violation("routing_key", "Length of 'routing_key' is incorrect (should be 32 characters)")]


@pytest.mark.parametrize("key", [KEY[:31] + "-", KEY[:31] + "\n", KEY[:31] + "é", "{{.env.secret.pagerduty.key}}xxx"])
def test_routing_key_must_be_alphanumeric(key: str) -> None:
    assert "'routing_key' cannot contain non-alphanumeric characters." in [
        v.message for v in validate_alert_event({**trigger(), "routing_key": key})]


@pytest.mark.parametrize("timestamp", [
    "2015-07-17T08:42:58.315+0000",  # PagerDuty's own examples
    "2015-07-17T08:42:58Z",
    "2015-07-17T08:42:58.315Z",
    "2015-07-17T08:42:58+00:00",
    "2015-07-17T10:12:58-05:30",
])
def test_iso_8601_timestamps_pass(timestamp: str) -> None:
    assert validate_alert_event(trigger(timestamp=timestamp)) == []


@pytest.mark.parametrize("timestamp", [
    "yesterday", "2015-07-17", "2015-07-17 08:42:58Z", "2015-07-17T08:42:58", "2015-13-17T08:42:58Z",
    "2015-07-17T08:42:58+000", "2015-07-17T08:42:58Z\n", "1437122578", "",
])
def test_other_timestamps_fail(timestamp: str) -> None:
    violations = validate_alert_event(trigger(timestamp=timestamp))
    assert paths(violations) == ["payload.timestamp"]
    assert "ISO 8601" in violations[0].message


def test_http_image_is_rejected_https_passes() -> None:
    assert validate_alert_event({**trigger(), "images": [{"src": "https://example.com/chart.png"}]}) == []
    assert paths(validate_alert_event({**trigger(), "images": [{"src": "http://example.com/chart.png"}]})) == [
        "images[0].src"]


def test_links_and_images_need_href_and_src() -> None:
    violations = validate_alert_event({**trigger(), "links": [{"text": "bridge"}], "images": [{"alt": "chart"}]})
    assert paths(violations) == ["images[0].src", "links[0].href"]


@pytest.mark.parametrize("field, value, expected", [
    ("component", 1, "a string"), ("group", [], "a string"), ("class", None, "a string"),
    ("custom_details", "text", "an object"),
])
def test_payload_field_types(field: str, value: object, expected: str) -> None:
    assert validate_alert_event(trigger(**{field: value})) == [
        Violation(f"payload.{field}", f"'payload.{field}' must be {expected}")]


def test_event_of_512000_bytes_passes_one_more_fails() -> None:
    body = trigger(custom_details={"log": ""})
    body["payload"]["custom_details"]["log"] = "x" * (MAX_EVENT_BYTES - event_size(body))
    assert event_size(body) == MAX_EVENT_BYTES
    assert validate_alert_event(body) == []
    body["payload"]["custom_details"]["log"] += "x"
    assert validate_alert_event(body) == [
        Violation("", f"The event is too large ({MAX_EVENT_BYTES + 1} bytes; maximum is {MAX_EVENT_BYTES} bytes)")]


def test_event_size_counts_compact_utf8() -> None:
    assert event_size({"a": "é"}) == len('{"a":"é"}'.encode())  # 10 bytes, not 14 for "\u00e9"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_only_a_dedup_key(action: str) -> None:
    assert validate_alert_event({"routing_key": KEY, "event_action": action, "dedup_key": "keptn/sockshop"}) == []
    violations = validate_alert_event({"routing_key": KEY, "event_action": action})
    assert paths(violations) == ["dedup_key"]
    assert violations[0].message.startswith("'dedup_key' is missing")


def test_trigger_needs_a_payload() -> None:
    violations = validate_alert_event({"routing_key": KEY, "event_action": "trigger"})
    assert paths(violations) == ["payload"]
    assert violations[0].message.startswith("'payload' is missing")


@pytest.mark.parametrize("severity", ["Critical", "ERROR", "Warning", "fatal", "", 1])
def test_only_lower_case_severities_pass(severity: object) -> None:
    assert validate_alert_event(trigger(severity=severity)) == [
        Violation("payload.severity", "'payload.severity' is invalid (must be one of: critical, error, warning, info)")]


@pytest.mark.parametrize("severity", ["critical", "error", "warning", "info"])
def test_each_severity_passes(severity: str) -> None:
    assert validate_alert_event(trigger(severity=severity)) == []


def test_unknown_event_action_and_missing_required_fields() -> None:
    assert validate_alert_event({"routing_key": KEY, "event_action": "retrigger"}) == [
        Violation("event_action", "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")]
    assert paths(validate_alert_event({})) == ["event_action", "routing_key"]
    assert validate_alert_event([]) == [Violation("", "The event must be an object")]


def test_violations_are_sorted_and_unique() -> None:
    body = {"routing_key": "short", "event_action": "trigger",
            "payload": {"summary": "", "severity": "High", "custom_details": 1}}
    violations = validate_alert_event(body)
    assert violations == sorted(set(violations))
    assert paths(violations) == ["payload.custom_details", "payload.severity", "payload.source",
                                 "payload.summary", "routing_key"]


def test_unsendable_body_is_a_violation_not_an_exception() -> None:
    assert Violation("", "The event cannot be sent as JSON (Out of range float values are not JSON compliant)") in (
        validate_alert_event(trigger(custom_details={"ratio": float("nan")})))


# --- change events ---------------------------------------------------------------------------------------

def test_minimal_and_full_change_events_pass() -> None:
    assert validate_change_event(change()) == []
    full = change(source="keptn/sockshop/production", timestamp="2026-01-02T03:04:05Z",
                  custom_details={"service": "carts"})
    full["links"] = [{"href": "https://keptn.example.com/bridge", "text": "Keptn Bridge"}]
    assert validate_change_event(full) == []


def test_change_event_needs_a_summary_within_1024_characters() -> None:
    assert validate_change_event({"routing_key": KEY, "payload": {}}) == [
        Violation("payload.summary", "'payload.summary' is missing or blank")]
    assert validate_change_event(change(summary="x" * 1024)) == []
    assert paths(validate_change_event(change(summary="x" * 1025))) == ["payload.summary"]
    assert paths(validate_change_event({"routing_key": KEY})) == ["payload"]


def test_change_event_rejects_alert_fields() -> None:
    body = {**change(severity="info"), "event_action": "trigger", "dedup_key": "x"}
    violations = validate_change_event(body)
    assert paths(violations) == ["dedup_key", "event_action", "payload.severity"]
    assert all("is not a field of this event" in v.message for v in violations)


def test_ruleset_keys_are_refused_for_change_events_only() -> None:
    ruleset_key = "R" + KEY[1:]
    assert validate_alert_event({**trigger(), "routing_key": ruleset_key}) == []
    violations = validate_change_event({**change(), "routing_key": ruleset_key})
    assert paths(violations) == ["routing_key"]
    assert "ruleset key" in violations[0].message


def test_change_event_shares_the_routing_key_and_timestamp_rules() -> None:
    assert paths(validate_change_event({**change(), "routing_key": KEY[:31]})) == ["routing_key"]
    assert paths(validate_change_event(change(timestamp="now"))) == ["payload.timestamp"]


def test_unknown_path_is_a_violation() -> None:
    assert validate_event("/v1/create_event.json", change()) == [Violation("", (
        "'/v1/create_event.json' is not a PagerDuty Events API v2 path (expected /v2/enqueue or /v2/change/enqueue)"))]
