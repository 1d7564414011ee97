"""The whole chain: configure-keptn.sh -> Keptn -> webhook-service -> curl -> PagerDuty.

One Keptn (the API stand-in) holds the three example projects, set up by their configure-keptn.sh. The
webhook-service part is done as Keptn does it: an event goes to every webhook-service subscription whose
event type and filter match; for each, the webhook.yaml files are read back through Keptn's API at service,
stage and project level (default branch), and the first file that loads and holds the subscription id
wins; `webhook_service.simulate` renders the request with the secret's value; the resulting argv is run
with real curl, only the scheme and host of PagerDuty's URL pointed at the PagerDuty stand-in.

What a user expects: a failed evaluation opens an alert with the profile's severity and the next passing
evaluation of the same service resolves it; a deployment records a change event; events of other
projects, stages or types reach nothing; hostile and real Keptn events still produce accepted events.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, quote_plus

import pytest

from keptn_pagerduty import events
from keptn_pagerduty.keptn import webhook_service
from keptn_pagerduty.model import Notification, Project
from keptn_pagerduty.pagerduty import ALERT_URL_PATH, CHANGE_URL_PATH, EVENTS_BASE_URL
from tests.e2e.conftest import (
    OTHER_KEY,
    OUTPUT,
    PROJECTS,
    REAL_EVENT_FILES,
    ROUTING_KEY,
    TOKEN,
    TOPOLOGY,
    IntegrationKeysPagerDuty,
    keptn_topology,
    needs_shared,
    run_script,
    secrets_for,
)
from tests.standins.keptn_api import WEBHOOK_SERVICE_ID, KeptnApiStandIn
from tests.standins.pagerduty import PagerDutyStandIn

SEVERITIES = ("critical", "error", "warning", "info")
RESULTS = ("fail", "warning", "pass")
WEBHOOK_URI = quote("webhook/webhook.yaml", safe="")


# --- Keptn and its webhook-service -----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One subscription an event matched, and the webhook.yaml Keptn's lookup found for it."""

    subscription_id: str
    level: str | None  # service, stage or project; None when no file holds the subscription
    config: webhook_service.WebhookConfig | None
    webhook: webhook_service.Webhook | None


@dataclass
class Delivery:
    """One request the webhook-service made for an event: the simulation's argv, run with real curl."""

    route: Route
    simulation: webhook_service.Simulation
    argv: list[str]  # as run: PagerDuty's scheme and host replaced by the stand-in's
    pagerduty_url: str  # the URL Keptn would have called
    returncode: int = -1
    stdout: str = ""
    stderr: str = ""

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.simulation.results[0].body or "")


class Keptn:
    """Keptn's dispatch and the webhook-service's file lookup, reading everything through Keptn's API."""

    def __init__(self, api: KeptnApiStandIn) -> None:
        self.api = api
        self.subscriptions = self._get(f"/api/controlPlane/v1/uniform/registration/{WEBHOOK_SERVICE_ID}/subscription")
        self._files: dict[tuple[str, str | None, str | None], bytes | None] = {}
        # The webhook-service reads secret values from Kubernetes, never through the API: take them as stored.
        self.secrets = {(name, key): value for name, secret in api.secrets().items()
                        if secret["scope"] == "keptn-webhook-service" for key, value in secret["data"].items()}

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.api.url + path, headers={"x-token": TOKEN})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def webhook_file(self, project: str, stage: str | None, service: str | None) -> bytes | None:
        """webhook/webhook.yaml at one level, as the resource-service hands it out; None when absent."""
        key = (project, stage, service)
        if key not in self._files:
            path = f"/api/resource-service/v1/project/{project}"
            path += f"/stage/{stage}" if stage else ""
            path += f"/service/{service}" if service else ""
            try:
                found = self._get(f"{path}/resource/{WEBHOOK_URI}")
            except urllib.error.HTTPError as err:
                assert err.code == 404, f"GET {path}: HTTP {err.code}"
                self._files[key] = None
            else:
                self._files[key] = base64.b64decode(found["resourceContent"])
        return self._files[key]

    def matching(self, event: dict[str, Any]) -> list[str]:
        """Ids of the webhook-service subscriptions that receive this event (empty filter list: any)."""
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        found = []
        for sub in self.subscriptions or []:
            flt = sub.get("filter") or {}
            if sub["event"] != event.get("type"):
                continue
            if all(not flt.get(key) or data.get(field) in flt[key]
                   for key, field in (("projects", "project"), ("stages", "stage"), ("services", "service"))):
                found.append(sub["id"])
        return found

    def route(self, event: dict[str, Any]) -> list[Route]:
        """Per matching subscription: service level, stage level, project level; first file holding the id."""
        data = event["data"]
        project, stage, service = data.get("project"), data.get("stage"), data.get("service")
        routes = []
        for sub_id in self.matching(event):
            route = Route(sub_id, None, None, None)
            for level, where in (("service", (project, stage, service)), ("stage", (project, stage, None)),
                                 ("project", (project, None, None))):
                text = self.webhook_file(*where)
                if text is None:
                    continue
                try:
                    config = webhook_service.decode(text.decode("utf-8"))
                except webhook_service.DecodeError:
                    continue  # Keptn logs it and looks further
                webhook = webhook_service.find_webhook(config, sub_id)
                if webhook is not None:
                    route = Route(sub_id, level, config, webhook)
                    break
            routes.append(route)
        return routes

    def prepare(self, event: dict[str, Any], pagerduty: PagerDutyStandIn) -> list[Delivery]:
        """Everything up to the exec: dispatch, lookup, the webhook-service's rendering and checks."""
        deliveries = []
        for route in self.route(event):
            assert route.webhook is not None, f"no webhook.yaml holds subscription {route.subscription_id}"
            simulation = webhook_service.simulate(route.config, route.webhook, copy.deepcopy(event), self.secrets)
            assert simulation.ok, f"the webhook-service would fail: {simulation.error or simulation.ignored}"
            assert simulation.sent_back == (), "nothing may go back to Keptn"
            (result,) = simulation.results
            argv, original = aimed_at(list(result.argv or ()), pagerduty.url)
            deliveries.append(Delivery(route, simulation, argv, original))
        return deliveries

    def deliver(self, event: dict[str, Any], pagerduty: PagerDutyStandIn) -> list[Delivery]:
        deliveries = self.prepare(event, pagerduty)
        for delivery in deliveries:
            run_curl(delivery)
        return deliveries


PAGERDUTY_BASES = tuple(EVENTS_BASE_URL.values())


def aimed_at(argv: list[str], base: str) -> tuple[list[str], str]:
    """argv with the scheme and host of PagerDuty's URL replaced by `base`; and the original URL."""
    assert argv[0] == "curl" and argv[-1] == "--fail-with-body", argv
    hits = [i for i, arg in enumerate(argv) if any(arg.startswith(b + "/") for b in PAGERDUTY_BASES)]
    assert len(hits) == 1, f"expected one PagerDuty URL in argv, found {len(hits)}"
    original = argv[hits[0]]
    prefix = next(b for b in PAGERDUTY_BASES if original.startswith(b + "/"))
    argv[hits[0]] = base + original[len(prefix):]
    return argv, original


def run_curl(delivery: Delivery) -> None:
    run = subprocess.run(delivery.argv, capture_output=True, text=True, timeout=60)
    delivery.returncode, delivery.stdout, delivery.stderr = run.returncode, run.stdout, run.stderr


def deliver_all(keptn: Keptn, pagerduty: PagerDutyStandIn, batch: list[dict[str, Any]]) -> list[list[Delivery]]:
    """Many independent events at once (order does not matter to the caller): curl runs in parallel."""
    prepared = [keptn.prepare(event, pagerduty) for event in batch]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(run_curl, [d for ds in prepared for d in ds]))
    return prepared


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keptn_api(projects: dict[str, Project], tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeptnApiStandIn]:
    """One Keptn with the three example projects, set up by their own configure-keptn.sh."""
    checkout = tmp_path_factory.mktemp("checkout")
    with KeptnApiStandIn(TOKEN, projects=keptn_topology(*PROJECTS), secrets=secrets_for(*projects.values())) as api:
        for name in PROJECTS:
            workdir = Path(shutil.copytree(OUTPUT / name, checkout / name))
            run = run_script(workdir / "configure-keptn.sh", env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEPTN_API_URL": api.url + "/api",
                "KEPTN_API_TOKEN": TOKEN})
            assert run.returncode == 0, run.stderr
        yield api


@pytest.fixture(scope="module")
def keptn(keptn_api: KeptnApiStandIn) -> Keptn:
    return Keptn(keptn_api)


@pytest.fixture(scope="module")
def notifications(projects: dict[str, Project]) -> dict[str, Notification]:
    return {n.subscription_id: n for p in projects.values() for n in p.notifications}


# --- events ------------------------------------------------------------------------------------------------


def sample(event_type: str, label: str) -> dict[str, Any]:
    found = dict(events.sample_events(events.load_catalogue().lookup(event_type)))
    return found[label]


def aimed(event: dict[str, Any], project: str, stage: str, service: str, **data: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event.setdefault("data", {}).update(project=project, stage=stage, service=service, **data)
    return event


def scopes(n: Notification) -> list[tuple[str, str]]:
    """Every (stage, service) of the Keptn project that the subscription covers."""
    return [(stage, service) for stage in (n.stages or tuple(TOPOLOGY[n.project]))
            for service in (n.services or TOPOLOGY[n.project][stage])]


def serving_level(n: Notification, stage: str, service: str) -> str:
    """The level Keptn's lookup must find this notification's webhook at, for an event of (stage, service)."""
    levels = {loc.level for loc in n.locations
              if (loc.level == "service" and (loc.stage, loc.service) == (stage, service))
              or (loc.level == "stage" and loc.stage == stage) or loc.level == "project"}
    return next(level for level in ("service", "stage", "project") if level in levels)


def expected_action(n: Notification, event: dict[str, Any]) -> str:
    """What the profile asks for: a severity, resolve or acknowledge; `change` for change events."""
    if n.settings.get("kind") == "change":
        return "change"
    result = (event.get("data") or {}).get("result")
    results = n.settings["results"]
    return results.get(result if result in RESULTS else "none", results.get("none", "info"))


def answers(stdout: str) -> list[Any]:
    """Every JSON answer curl printed: after a retry, stdout holds the refused answer and then the final one."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(stdout):
        answer, at = decoder.raw_decode(stdout, at)
        found.append(answer)
    return found


def check_accepted(delivery: Delivery, n: Notification, event: dict[str, Any]) -> None:
    """curl succeeded, PagerDuty accepted the event, and it is the action the profile asks for."""
    assert delivery.returncode == 0, f"curl exit {delivery.returncode}: {delivery.stderr} {delivery.stdout}"
    answer = answers(delivery.stdout)[-1]
    assert answer["status"] == "success", answer
    region_base = EVENTS_BASE_URL[n.pagerduty.get("region", "us")]
    body = delivery.body
    action = expected_action(n, event)
    if action == "change":
        assert delivery.pagerduty_url == region_base + CHANGE_URL_PATH
        assert answer["message"] == "Change event processed"
    else:
        assert delivery.pagerduty_url == region_base + ALERT_URL_PATH
        if action in SEVERITIES:
            assert (body["event_action"], body["payload"]["severity"]) == ("trigger", action)
        else:
            assert body["event_action"] == action
        assert answer["dedup_key"] == body["dedup_key"]
    assert body["routing_key"] == ROUTING_KEY
    message = (event.get("data") or {}).get("message")
    shown = body.get("payload", {}).get("custom_details", {}).get("message")
    if isinstance(message, str) and message and shown is not None:
        # Free text arrives URL-encoded (Go's urlquery), cut at 1,000 characters: never altered otherwise.
        assert shown == quote_plus(message, safe="")[:1000]


def production_evaluation(notifications: dict[str, Notification]) -> Notification:
    return next(n for n in notifications.values()
                if n.project == "sockshop" and n.event.short == "evaluation.finished" and n.stages == ("production",))


def deliver_one(keptn: Keptn, pagerduty: PagerDutyStandIn, event: dict[str, Any], n: Notification) -> Delivery:
    deliveries = keptn.deliver(event, pagerduty)
    assert [d.route.subscription_id for d in deliveries] == [n.subscription_id]
    check_accepted(deliveries[0], n, event)
    return deliveries[0]


# --- Keptn holds what configure-keptn.sh uploaded ---------------------------------------------------------


def test_the_webhook_files_read_back_from_keptn_are_the_generated_ones(
        keptn: Keptn, projects: dict[str, Project]) -> None:
    for project in projects.values():
        for n in project.notifications:
            for loc in n.locations:
                stage = None if loc.level == "project" else loc.stage
                service = loc.service if loc.level == "service" else None
                expected = (OUTPUT / project.name / "branches" / loc.branch / loc.path).read_bytes()
                assert keptn.webhook_file(project.name, stage, service) == expected
    assert {s["id"] for s in keptn.subscriptions} == {n.subscription_id for p in projects.values()
                                                      for n in p.notifications}


def test_every_covered_stage_and_service_reaches_its_webhook_at_the_right_level(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    for n in notifications.values():
        label, event = events.sample_events(n.event)[0]
        for stage, service in scopes(n):
            sent = aimed(event, n.project, stage, service)
            delivery = deliver_one(keptn, pagerduty, sent, n)
            assert delivery.route.level == serving_level(n, stage, service), (n.event.type, stage, service)


# --- what a user expects --------------------------------------------------------------------------------


def test_a_failed_production_evaluation_pages_critical_and_the_next_pass_resolves_it(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    """The README's promise for sockshop, spelled out."""
    n = production_evaluation(notifications)
    fail = aimed(sample("evaluation.finished", "fail"), "sockshop", "production", "carts")
    delivery = deliver_one(keptn, pagerduty, fail, n)
    assert delivery.route.level == "stage"  # carts has a service-level file, but without this subscription
    alert = pagerduty.open_alert(ROUTING_KEY, "keptn/sockshop/production/carts/evaluation")
    assert alert is not None and alert.severity == "critical"
    assert alert.summary.startswith("Quality gate fail for carts in production: score ")

    other = aimed(sample("evaluation.finished", "pass"), "sockshop", "production", "orders")
    deliver_one(keptn, pagerduty, other, n)
    assert pagerduty.open_alert(ROUTING_KEY, "keptn/sockshop/production/carts/evaluation") is not None

    deliver_one(keptn, pagerduty, aimed(sample("evaluation.finished", "pass"), "sockshop", "production", "carts"), n)
    assert pagerduty.open_alert(ROUTING_KEY, "keptn/sockshop/production/carts/evaluation") is None
    (alert,) = [a for a in pagerduty.alerts() if a.dedup_key == "keptn/sockshop/production/carts/evaluation"]
    assert alert.status == "resolved" and alert.actions == ["trigger", "resolve"]


def _fail_then_pass() -> list[tuple[str, str]]:
    return [("sockshop", "evaluation.finished"), ("sockshop", "test.finished"),
            ("legacy-shop", "evaluation.finished"), ("podtato-head", "action.finished")]


@pytest.mark.parametrize(("project", "event_type"), _fail_then_pass(), ids=lambda v: str(v))
def test_a_failure_opens_an_alert_with_the_profiles_severity_and_the_next_pass_resolves_it(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn,
        project: str, event_type: str) -> None:
    chosen = [n for n in notifications.values() if n.project == project and n.event.short == event_type]
    assert chosen
    for n in chosen:
        severity = n.settings["results"]["fail"]
        assert severity in SEVERITIES and n.settings["results"]["pass"] == "resolve"
        for stage, service in scopes(n):
            context = f"ctx-{stage}-{service}"
            fail = aimed(sample(event_type, "fail"), project, stage, service)
            fail["shkeptncontext"] = context
            opened = deliver_one(keptn, pagerduty, fail, n).body["dedup_key"]
            alert = pagerduty.open_alert(ROUTING_KEY, opened)
            assert alert is not None and alert.severity == severity, (stage, service)
            passed = aimed(sample(event_type, "pass"), project, stage, service)
            passed["shkeptncontext"] = context + "-next-run"
            assert deliver_one(keptn, pagerduty, passed, n).body["dedup_key"] == opened
            assert pagerduty.open_alert(ROUTING_KEY, opened) is None, (stage, service)
    assert pagerduty.alerts() and all(a.status == "resolved" for a in pagerduty.alerts())


def test_a_waiting_approval_opens_a_warning_and_its_decision_resolves_it(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    started = next(n for n in notifications.values() if n.event.short == "approval.started")
    finished = next(n for n in notifications.values() if n.event.short == "approval.finished")
    for stage, service in scopes(started):
        context = f"approval-{stage}"
        wait = aimed(sample("approval.started", "manual"), "podtato-head", stage, service)
        wait["shkeptncontext"] = context
        dedup_key = deliver_one(keptn, pagerduty, wait, started).body["dedup_key"]
        alert = pagerduty.open_alert(ROUTING_KEY, dedup_key)
        assert alert is not None and alert.severity == "warning"
        decision = aimed(sample("approval.finished", "pass"), "podtato-head", stage, service)
        decision["shkeptncontext"] = context
        deliver_one(keptn, pagerduty, decision, finished)
        assert pagerduty.open_alert(ROUTING_KEY, dedup_key) is None


@pytest.mark.parametrize("event_type", ["deployment.finished", "release.finished"])
def test_a_deployment_or_release_records_a_change_event_and_pages_nobody(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn, event_type: str) -> None:
    (n,) = [n for n in notifications.values() if n.event.short == event_type]
    for label, event in events.sample_events(n.event):
        deliver_one(keptn, pagerduty, aimed(event, "sockshop", "production", "carts"), n)
    changes = pagerduty.change_events()
    assert len(changes) == len(events.sample_events(n.event))
    assert all(c["payload"]["source"] == "keptn/sockshop/production/carts" for c in changes)
    if event_type == "deployment.finished":
        assert changes[0]["payload"]["summary"].startswith("Deployed carts to production")
    assert pagerduty.alerts() == []


OUTSIDE = {
    "deployment in staging": ("deployment.finished", "pass", "sockshop", "staging", "carts"),
    "deployment of another service": ("deployment.finished", "pass", "sockshop", "production", "orders"),
    "evaluation in dev": ("evaluation.finished", "fail", "sockshop", "dev", "carts"),
    "evaluation of another project": ("evaluation.finished", "fail", "unknown-project", "production", "carts"),
    "legacy-shop dev": ("evaluation.finished", "fail", "legacy-shop", "dev", "frontend"),
    "approval in sockshop": ("approval.started", "manual", "sockshop", "production", "carts"),
    "test in production": ("test.finished", "fail", "sockshop", "production", "carts"),
    "evaluation.triggered": ("evaluation.triggered", "remediation", "sockshop", "production", "carts"),
    "action.triggered": ("action.triggered", "scaling", "podtato-head", "production", "helloservice"),
}


@pytest.mark.parametrize("case", OUTSIDE.values(), ids=OUTSIDE.keys())
def test_events_outside_every_subscription_reach_nothing(keptn: Keptn, pagerduty: PagerDutyStandIn,
                                                         case: tuple[str, ...]) -> None:
    event_type, label, project, stage, service = case
    event = aimed(sample(event_type, label), project, stage, service)
    assert keptn.matching(event) == []
    assert keptn.deliver(event, pagerduty) == []
    assert pagerduty.requests() == []


def test_a_sequence_event_reaches_nothing(keptn: Keptn, notifications: dict[str, Notification],
                                         pagerduty: PagerDutyStandIn) -> None:
    event = aimed(sample("evaluation.finished", "fail"), "sockshop", "production", "carts")
    event["type"] = "sh.keptn.event.production.delivery.finished"
    assert keptn.deliver(event, pagerduty) == []
    # Even handed to the webhook directly, the webhook-service drops a sequence event.
    (route,) = keptn.route(aimed(sample("evaluation.finished", "fail"), "sockshop", "production", "carts"))
    simulation = webhook_service.simulate(route.config, route.webhook, event, keptn.secrets)
    assert simulation.ignored and simulation.results == ()
    assert pagerduty.requests() == []


# --- hostile and real events ------------------------------------------------------------------------------


def test_hostile_variants_of_every_sample_still_produce_accepted_events(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    batch: list[tuple[Notification, str, dict[str, Any]]] = []
    for n in notifications.values():
        stage, service = scopes(n)[0]
        for label, event in events.sample_events(n.event):
            base = aimed(event, n.project, stage, service)
            batch.append((n, label, base))
            batch += [(n, f"{label}/{variant}", hostile) for variant, hostile in events.hostile_variants(base)]
    prepared = deliver_all(keptn, pagerduty, [event for _, _, event in batch])
    for (n, label, event), deliveries in zip(batch, prepared):
        assert [d.route.subscription_id for d in deliveries] == [n.subscription_id], label
        check_accepted(deliveries[0], n, event)
    requests = pagerduty.requests()
    assert len(requests) == len(batch)
    assert all(r.status == 202 for r in requests)
    assert any("message-hostile" in label for _, label, _ in batch)


def real_events() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, json.loads(path.read_text())) for path in REAL_EVENT_FILES]


@needs_shared
def test_real_keptn_events_as_they_come_reach_what_they_are_subscribed_to(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    last_action: dict[str, str] = {}
    delivered: set[str] = set()
    for name, event in real_events():  # in file order: a fail, later a pass of the same service
        if not isinstance(event.get("data"), dict):
            assert keptn.matching(event) == [], name
            continue
        deliveries = keptn.deliver(event, pagerduty)
        assert len(deliveries) <= 1, f"{name}: more than one subscription would send it"
        for delivery in deliveries:
            n = notifications[delivery.route.subscription_id]
            check_accepted(delivery, n, event)
            delivered.add(n.event.short)
            if "dedup_key" in delivery.body:
                last_action[delivery.body["dedup_key"]] = delivery.body["event_action"]
    subscribed = {n.event.short for n in notifications.values() if n.project == "sockshop"}
    present = {name.rsplit(".", 2)[0] for name, event in real_events()
               if (event.get("data") or {}).get("project") == "sockshop"}
    assert delivered == subscribed & present
    for dedup_key, action in last_action.items():  # the state follows the last event of each alert
        assert (pagerduty.open_alert(ROUTING_KEY, dedup_key) is not None) == (action == "trigger"), dedup_key
    assert pagerduty.requests() and all(r.status == 202 for r in pagerduty.requests())


@needs_shared
def test_real_keptn_events_aimed_at_every_subscription_of_their_type_are_accepted(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    batch: list[tuple[Notification, str, dict[str, Any]]] = []
    for n in notifications.values():
        stage, service = scopes(n)[-1]
        batch += [(n, name, aimed(event, n.project, stage, service))
                  for name, event in real_events() if event.get("type") == n.event.type]
    assert {n.event.short for n, _, _ in batch} >= {"evaluation.finished", "deployment.finished", "action.finished"}
    prepared = deliver_all(keptn, pagerduty, [event for _, _, event in batch])
    for (n, name, event), deliveries in zip(batch, prepared):
        assert [d.route.subscription_id for d in deliveries] == [n.subscription_id], name
        check_accepted(deliveries[0], n, event)


# --- the webhook's own curl options --------------------------------------------------------------------------


def test_the_webhooks_curl_retries_a_rate_limit_and_then_delivers(
        keptn: Keptn, notifications: dict[str, Notification], pagerduty: PagerDutyStandIn) -> None:
    """The generated `--retry 3` (curl retries 429 and 5xx, honouring Retry-After): one 429 costs a second."""
    n = production_evaluation(notifications)
    pagerduty.fail_next(1, 429, retry_after=1)
    delivery = deliver_one(keptn, pagerduty, aimed(sample("evaluation.finished", "fail"), "sockshop",
                                                   "production", "carts"), n)
    assert [r.status for r in pagerduty.requests()] == [429, 202]
    assert [a["status"] for a in answers(delivery.stdout)] == ["throttle event", "success"]
    assert pagerduty.open_alert(ROUTING_KEY, delivery.body["dedup_key"]) is not None


def test_the_webhooks_curl_fails_on_a_400_without_retrying(
        keptn: Keptn, notifications: dict[str, Notification]) -> None:
    """--fail-with-body makes the request fail (Keptn logs it); --retry never repeats a 400."""
    n = production_evaluation(notifications)
    with IntegrationKeysPagerDuty({OTHER_KEY}) as pagerduty:
        (delivery,) = keptn.deliver(aimed(sample("evaluation.finished", "fail"), "sockshop", "production", "carts"),
                                    pagerduty)
        assert delivery.route.subscription_id == n.subscription_id
        assert delivery.returncode == 22  # curl: HTTP error with --fail(-with-body)
        assert json.loads(delivery.stdout)["errors"] == ["Invalid routing key"]
        assert len(pagerduty.requests()) == 1
