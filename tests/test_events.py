"""The event catalogue against Keptn's real events, the samples, and the hostile variants."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from keptn_pagerduty import events
from keptn_pagerduty.events import (
    HOSTILE_TEXT,
    HOSTILE_VARIANTS,
    UnknownEventType,
    check_event,
    hostile_variants,
    is_subscribable,
    load_catalogue,
    sample_events,
)

# Real CloudEvents from Keptn's fixtures live beside the project, in ../shared; the project must run without them.
SHARED_EVENTS = Path(__file__).resolve().parents[1].parent / "shared" / "keptn-events"
REAL_FILES = sorted(SHARED_EVENTS.glob("*.json")) if SHARED_EVENTS.is_dir() else []
needs_shared = pytest.mark.skipif(not REAL_FILES, reason=f"{SHARED_EVENTS} is absent")

SAMPLES_DIR = Path(events.__file__).parent / "data" / "samples"
TASKS = ("deployment", "test", "evaluation", "release", "rollback", "approval", "get-sli", "get-action", "action", "webhook")
ENVELOPE = {"id", "time", "keptn_context"}
CATALOGUE = load_catalogue()
ALL_TYPES = CATALOGUE.event_types()


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def all_lists(value: Any) -> list[list[Any]]:
    if isinstance(value, list):
        return [value]
    if isinstance(value, dict):
        return [found for child in value.values() for found in all_lists(child)]
    return []


# --- the catalogue ---------------------------------------------------------------------------------


def test_catalogue_loads_once_with_every_task_in_three_phases() -> None:
    assert load_catalogue() is CATALOGUE
    assert set(TASKS) <= set(CATALOGUE.tasks)
    for task in CATALOGUE.tasks:
        for phase in events.PHASES:
            event_type = CATALOGUE.lookup(f"{task}.{phase}")
            assert (event_type.task, event_type.phase, event_type.short) == (task, phase, f"{task}.{phase}")
            assert event_type.type == f"sh.keptn.event.{task}.{phase}"
    assert len(ALL_TYPES) == 3 * len(CATALOGUE.tasks)
    assert [t.type for t in ALL_TYPES] == sorted(t.type for t in ALL_TYPES)


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.short)
def test_every_type_is_well_formed(event_type: events.EventType) -> None:
    names = [f.name for f in event_type.fields]
    assert len(names) == len(set(names)), "field names are unique"
    assert is_subscribable(event_type.type)
    assert event_type.doc
    for f in event_type.fields:
        assert f.doc, f.name
        assert f.path[0] in ("data", "id", "source", "specversion", "type", "time", "shkeptncontext",
                             "triggeredid", "gitcommitid", "shkeptnspecversion", "contenttype"), f.name
        if f.example is not None and f.example != "":
            assert events.kind_problem(f.kind, f.example, f.values, f.items) is None, f.name
    assert event_type.field("type").values == (event_type.type,)


def test_required_and_optional_common_fields() -> None:
    for event_type in ALL_TYPES:
        for name in ("id", "source", "specversion", "type", "time", "project", "stage", "service"):
            assert event_type.field(name).optional is False, (event_type.short, name)
        for name in ("labels", "status", "result", "message", "gitcommitid", "shkeptnspecversion", "keptn_context"):
            assert event_type.field(name).optional is True, (event_type.short, name)
        triggeredid = event_type.field("triggeredid")
        if event_type.phase == "triggered":
            assert triggeredid is None
        else:
            assert triggeredid is not None and triggeredid.optional
    assert "" in CATALOGUE.lookup("get-action.triggered").field("result").values
    assert CATALOGUE.lookup("evaluation.finished").field("evaluation.score").kind == "number"
    assert CATALOGUE.lookup("deployment.finished").field("deployment.deploymentURIsPublic").items == "url"
    assert CATALOGUE.lookup("get-action.triggered").field("problem.ProblemURL").kind == "url"


def test_triggered_events_carry_earlier_results_as_optional() -> None:
    approval = CATALOGUE.lookup("approval.triggered")
    score = approval.field("evaluation.score")
    assert score is not None and score.optional and "Carried" in score.doc
    assert CATALOGUE.lookup("approval.finished").field("evaluation.score") is None


def test_map_keys_resolve_to_optional_text() -> None:
    build_id = CATALOGUE.lookup("evaluation.finished").field("labels.buildId")
    assert build_id is not None
    assert (build_id.kind, build_id.optional, build_id.path) == ("text", True, ("data", "labels", "buildId"))
    spaced = CATALOGUE.lookup("action.triggered").field("labels.Problem URL")
    assert spaced is not None and spaced.path == ("data", "labels", "Problem URL")
    assert CATALOGUE.lookup("evaluation.finished").field("labels.") is None
    assert CATALOGUE.lookup("evaluation.finished").field("evaluation.nonsense") is None
    assert CATALOGUE.lookup("release.finished").field("evaluation.score") is None


# --- lookup and rejection --------------------------------------------------------------------------


def test_lookup_accepts_short_and_full_names() -> None:
    assert CATALOGUE.lookup("evaluation.finished") is CATALOGUE.lookup("sh.keptn.event.evaluation.finished")
    assert CATALOGUE.lookup(" get-action.triggered ").type == "sh.keptn.event.get-action.triggered"


def test_typo_suggests_the_closest() -> None:
    with pytest.raises(UnknownEventType) as caught:
        CATALOGUE.lookup("evalution.finished")
    assert "evaluation.finished" in str(caught.value)
    assert "Known tasks" in str(caught.value)
    with pytest.raises(UnknownEventType, match="evaluation.finished"):
        CATALOGUE.lookup("evaluation.finsihed")
    with pytest.raises(UnknownEventType, match="names no phase"):
        CATALOGUE.lookup("evaluation")
    assert isinstance(UnknownEventType("x"), ValueError)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("production.delivery.finished", "Sequence events"),
        ("sh.keptn.event.production.remediation.triggered", "get-action"),
        ("evaluation.status.changed", "status.changed"),
        ("sh.keptn.events.problem", "legacy problem event"),
        ("sh.keptn.log.error", "Only CloudEvents of type"),
    ],
)
def test_rejected_types_explain_why(name: str, reason: str) -> None:
    with pytest.raises(UnknownEventType, match=re.escape(reason)):
        CATALOGUE.lookup(name)


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("sh.keptn.event.evaluation.finished", True),
        ("sh.keptn.event.get-action.triggered", True),
        ("sh.keptn.event.securityscan.started", True),
        ("sh.keptn.event.production.delivery.finished", False),
        ("sh.keptn.event.approval.status.changed", False),
        ("sh.keptn.events.problem", False),
        ("sh.keptn.event.evaluation.invalidated", False),
        ("evaluation.finished", False),
    ],
)
def test_is_subscribable(event_type: str, expected: bool) -> None:
    assert is_subscribable(event_type) is expected


# --- real events from Keptn's fixtures -------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_event_conforms_or_is_rejected(path: Path) -> None:
    event = load(path)
    if not is_subscribable(event["type"]):
        with pytest.raises(UnknownEventType) as caught:
            CATALOGUE.lookup(event["type"])
        reasons = [r.reason for r in CATALOGUE.rejected if r.pattern.search(event["type"])]
        assert reasons and reasons[0] in str(caught.value)
        return
    problems = check_event(CATALOGUE.lookup(event["type"]), event)
    if event.get("source") != "test":
        assert problems == []
        return
    # Hand-written inputs of Keptn's unit tests (source "test"), not emitted by any Keptn service. The
    # webhook-service drops those without project, stage and service (lib/eventmod.go); the others may
    # lack only envelope attributes that every real Keptn sender sets.
    data = event.get("data") or {}
    if not all(data.get(key) for key in ("project", "stage", "service")):
        return
    assert {p.split(":")[0] for p in problems} <= ENVELOPE, problems


@needs_shared
def test_real_events_cover_the_main_tasks() -> None:
    seen = {load(p)["type"] for p in REAL_FILES}
    for short in ("evaluation.finished", "deployment.finished", "approval.triggered", "get-action.triggered", "action.finished"):
        assert f"sh.keptn.event.{short}" in seen


# --- samples ---------------------------------------------------------------------------------------


def test_sample_files_match_the_catalogue_exactly() -> None:
    assert {p.stem for p in SAMPLES_DIR.glob("*.json")} == {t.short for t in ALL_TYPES}


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.short)
def test_samples_conform(event_type: events.EventType) -> None:
    samples = sample_events(event_type)
    assert 1 <= len(samples) <= 4
    labels = [label for label, _ in samples]
    assert len(labels) == len(set(labels))
    for label, event in samples:
        assert event["type"] == event_type.type, label
        assert check_event(event_type, event) == [], label
        assert (event["data"]["project"], event["data"]["stage"]) in {("sockshop", "staging"), ("sockshop", "production")}


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("*.json")), ids=lambda p: p.name)
def test_sample_files_are_deterministic(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("event_type", [t for t in ALL_TYPES if t.phase == "finished"], ids=lambda t: t.short)
def test_finished_samples_cover_results_and_a_missing_message(event_type: events.EventType) -> None:
    samples = [event for _, event in sample_events(event_type)]
    results = {event["data"].get("result") for event in samples}
    assert {"pass", "fail"} <= results
    if event_type.task == "evaluation":
        assert "warning" in results
        assert any(event["data"]["evaluation"]["result"] == "warning" for event in samples)
    assert any("message" not in event["data"] for event in samples)


def test_samples_carry_realistic_hostile_messages() -> None:
    messages = [e["data"]["message"] for t in ALL_TYPES for _, e in sample_events(t) if e["data"].get("message")]
    for needle in ("'", ";", ">", "=", '"', "https://", "\n"):
        assert any(needle in m for m in messages), needle


@needs_shared
def test_samples_are_written_not_copied() -> None:
    real = [load(p) for p in REAL_FILES]
    real_ids = {e.get(k) for e in real for k in ("id", "shkeptncontext", "triggeredid")} - {None, ""}
    for event_type in ALL_TYPES:
        for label, event in sample_events(event_type):
            assert not {event.get(k) for k in ("id", "shkeptncontext", "triggeredid")} & real_ids, (event_type.short, label)
            assert event not in real


def test_sample_events_returns_fresh_copies() -> None:
    event_type = CATALOGUE.lookup("evaluation.finished")
    sample_events(event_type)[0][1]["data"]["project"] = "changed"
    assert sample_events(event_type)[0][1]["data"]["project"] == "sockshop"


# --- hostile variants ------------------------------------------------------------------------------

EVALUATION_FAIL = dict(sample_events(CATALOGUE.lookup("evaluation.finished")))["fail"]


def test_hostile_variants_do_what_they_say() -> None:
    original = copy.deepcopy(EVALUATION_FAIL)
    variants = dict(hostile_variants(EVALUATION_FAIL))
    assert EVALUATION_FAIL == original, "the input is not mutated"
    assert list(variants) == list(HOSTILE_VARIANTS)

    assert "message" not in variants["message-absent"]["data"]
    assert "labels" not in variants["labels-absent"]["data"]
    emptied = variants["empty-lists"]["data"]
    assert all_lists(emptied) and all(lst == [] for lst in all_lists(emptied))
    assert emptied["evaluation"]["score"] == original["data"]["evaluation"]["score"]

    hostile = variants["message-hostile"]["data"]["message"]
    assert hostile == HOSTILE_TEXT
    for needle in ("'", '"', ";", "$", "|", ">", "&&", "%", "\n"):
        assert needle in hostile
    assert "`" in variants["message-backticks"]["data"]["message"]
    non_ascii = variants["message-non-ascii"]["data"]["message"]
    assert any(ord(ch) > 127 for ch in non_ascii) and any(ord(ch) > 0xFFFF for ch in non_ascii)
    assert len(variants["message-5000"]["data"]["message"]) == 5000

    labels = variants["labels-hostile"]["data"]["labels"]
    assert set(labels.values()) == {HOSTILE_TEXT}
    assert any(" " in key for key in labels)
    assert set(original["data"]["labels"]) <= set(labels)

    for label, variant in variants.items():
        untouched = {k: v for k, v in variant.items() if k != "data"}
        assert untouched == {k: v for k, v in original.items() if k != "data"}, label


def test_hostile_variants_are_deterministic_and_independent() -> None:
    first, second = hostile_variants(EVALUATION_FAIL), hostile_variants(EVALUATION_FAIL)
    assert first == second
    dict(first)["message-absent"]["data"]["project"] = "changed"
    assert all(v["data"]["project"] == "sockshop" for label, v in first if label != "message-absent")


def test_hostile_variants_of_an_event_without_labels_or_message() -> None:
    bare = {"type": "sh.keptn.event.release.started", "data": {"project": "sockshop", "stage": "staging", "service": "carts"}}
    variants = dict(hostile_variants(bare))
    assert variants["message-absent"] == bare and variants["labels-absent"] == bare
    assert bare == {"type": "sh.keptn.event.release.started", "data": {"project": "sockshop", "stage": "staging", "service": "carts"}}


@pytest.mark.parametrize("event_type", ALL_TYPES, ids=lambda t: t.short)
def test_hostile_variants_of_samples_still_conform(event_type: events.EventType) -> None:
    # They model what Keptn can really send, so the catalogue must allow them (message and labels optional, any text).
    for label, event in sample_events(event_type):
        for variant_label, variant in hostile_variants(event):
            assert check_event(event_type, variant) == [], (label, variant_label)


# --- check_event finds real mistakes ---------------------------------------------------------------


def test_check_event_reports_missing_and_wrong_kinds() -> None:
    event_type = CATALOGUE.lookup("evaluation.finished")
    event = copy.deepcopy(EVALUATION_FAIL)
    del event["data"]["project"]
    event["data"]["stage"] = "Sock Stage"
    event["data"]["result"] = "failed"
    event["data"]["evaluation"]["score"] = "33"
    event["data"]["evaluation"]["comparedEvents"] = "abc"
    event["data"]["labels"] = {"buildId": 1187}
    problems = "\n".join(check_event(event_type, event))
    for name in ("project: required", "stage:", "result:", "evaluation.score:", "evaluation.comparedEvents:", "labels:"):
        assert name in problems
    event["data"]["message"] = None  # null counts as absent, allowed for an optional field
    assert not any(p.startswith("message") for p in check_event(event_type, event))


def test_a_list_is_free_text_when_its_items_are() -> None:
    # Items of text or URLs are each printed through urlquery; a list of ids is printed as it is.
    from keptn_pagerduty.events import load_catalogue
    from keptn_pagerduty.generator import event_listing

    kinds_of = {(t.type, f.name): f.items for t in load_catalogue().event_types() for f in t.fields if f.kind == "list"}
    listed = {(item["type"], f["name"]): f["free_text"] for item in event_listing() for f in item["fields"]
              if f["kind"] == "list"}
    assert listed[("sh.keptn.event.deployment.finished", "deployment.deploymentNames")] is True
    assert {items for items in kinds_of.values()} >= {"text", "url", "id"}
    for key, items in kinds_of.items():
        assert listed[key] is (items in ("text", "url")), key
