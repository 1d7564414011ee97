"""The model: where each webhook goes, under which subscription id and filter."""

from __future__ import annotations

import uuid
from pathlib import Path

from keptn_pagerduty import model, profiles

ROOT = Path(__file__).resolve().parent.parent


def projects() -> dict[str, model.Project]:
    return {p.name: p for p in model.build(profiles.load_profiles(ROOT / "profiles"))}


def test_levels_follow_the_subscription_filter() -> None:
    found = projects()
    by_event = {(n.event.short, n.route_name): n for n in found["sockshop"].notifications}
    deployment = by_event[("deployment.finished", "carts")]
    assert deployment.filter == {"projects": ["sockshop"], "stages": ["production"], "services": ["carts"]}
    assert [(loc.branch, loc.path, loc.level) for loc in deployment.locations] == [
        ("production", "carts/webhook/webhook.yaml", "service")]
    staging = by_event[("evaluation.finished", "staging")]
    assert [(loc.branch, loc.path) for loc in staging.locations] == [("staging", "webhook/webhook.yaml")]
    approval = next(n for n in found["podtato-head"].notifications if n.event.short == "approval.started")
    assert approval.filter == {"projects": ["podtato-head"]}
    assert [(loc.branch, loc.level) for loc in approval.locations] == [("master", "project")]


def test_subscription_ids_are_stable_uuid5_of_what_they_cover() -> None:
    first = {n.subscription_id for p in projects().values() for n in p.notifications}
    second = {n.subscription_id for p in projects().values() for n in p.notifications}
    assert first == second
    n = next(n for n in projects()["legacy-shop"].notifications)
    expected = uuid.uuid5(model.SUBSCRIPTION_NAMESPACE,
                          "|".join(["legacy-shop", n.event.type, ",".join(n.stages), ",".join(n.services)]))
    assert n.subscription_id == str(expected)
    assert uuid.UUID(n.subscription_id).version == 5


def test_settings_layer_defaults_then_route_and_only_finished_events_have_results() -> None:
    found = projects()
    production = next(n for n in found["sockshop"].notifications if n.route_name == "production")
    assert production.settings["results"] == {"fail": "critical", "warning": "warning", "pass": "resolve", "none": "info"}
    assert production.settings["custom_details"]["owner"] == "team-shop"  # from _company.yaml
    assert production.settings["custom_details"]["score"] == "{evaluation.score|n/a}"  # built-in default
    started = next(n for n in found["podtato-head"].notifications if n.event.short == "approval.started")
    assert started.settings["results"] == {"none": "warning"}


def test_key_shaped_text_is_found_wherever_it_sits() -> None:
    key = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"
    cases = {
        "after a line break": {"summary": "first line\n" + key},
        "after a quote": {"summary": '"' + key + '"'},
        "beside non-ASCII text": {"custom_details": {"note": "é" + key + "ü"}},
        "as a custom detail name": {"custom_details": {key: "x"}},
        "in a list": {"stages": ["staging", key]},
    }
    for label, data in cases.items():
        problems = model._check_key_shaped_text(profiles.Profile("p.yaml", data))
        assert len(problems) == 1, label
    for harmless in ({"summary": key + "7"}, {"n": 12345678901234567890123456789012},
                     {"summary": "no key here"}):
        assert model._check_key_shaped_text(profiles.Profile("p.yaml", harmless)) == [], harmless
