"""From profiles to the model: which webhook goes where, under which Keptn subscription.

A route of a profile and one of its event types make a `Notification`: one Keptn subscription (with a fixed
id, so files can be committed before Keptn is touched) and one webhook, placed in every `webhook.yaml` that
Keptn's lookup reaches for the events the subscription filter lets through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from .events import EventType, UnknownEventType, load_catalogue
from .keyshape import INTEGRATION_KEY_TOKEN, has_long_run
from .problems import Problem, UserError
from .profiles import Profile

# Fixed namespace for subscription ids: uuid5(this, what the subscription covers).
SUBSCRIPTION_NAMESPACE = uuid.UUID("6f1d5c38-7a51-5b44-9d5e-3c1f0e6b9a27")
PER_RUN_FIELDS = ("keptn_context", "id", "time", "triggeredid", "gitcommitid")
ALERT_ACTIONS = ("resolve", "acknowledge")


@dataclass(frozen=True)
class Location:
    """One webhook.yaml in the project's Git repository."""

    branch: str
    level: str  # project | stage | service
    stage: str | None = None
    service: str | None = None

    @property
    def path(self) -> str:
        """Path inside the branch."""
        return f"{self.service}/webhook/webhook.yaml" if self.service else "webhook/webhook.yaml"


@dataclass
class Notification:
    """One route x one event type: a subscription and the webhook that serves it."""

    profile: Profile
    route_index: int
    event: EventType
    stages: tuple[str, ...]
    services: tuple[str, ...]
    route_name: str
    settings: dict
    project: str
    subscription_id: str = ""
    locations: tuple[Location, ...] = ()

    @property
    def path(self) -> tuple:
        return ("routes", self.route_index, "events", self.event_key)

    @property
    def event_key(self) -> str:
        return self.settings["_key"]

    @property
    def pagerduty(self) -> dict:
        return self.profile.data.get("pagerduty", {})

    @property
    def keptn(self) -> dict:
        return self.profile.data.get("keptn", {})

    @property
    def filter(self) -> dict:
        """The subscription filter, as Keptn's API takes it."""
        result: dict = {"projects": [self.project]}
        if self.stages:
            result["stages"] = list(self.stages)
        if self.services:
            result["services"] = list(self.services)
        return result

    def describe_scope(self) -> str:
        stages = ", ".join(self.stages) if self.stages else "every stage"
        services = ", ".join(self.services) if self.services else "every service"
        return f"stages: {stages}; services: {services}"


@dataclass
class Project:
    name: str
    default_branch: str
    api_version: str
    notifications: list[Notification] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)


def build(profiles: list[Profile]) -> list[Project]:
    """Turn loaded profiles into projects; raise one `UserError` with every problem found."""
    problems: list[Problem] = []
    projects: dict[str, Project] = {}
    for profile in profiles:
        problems.extend(_check_key_shaped_text(profile))
        name = profile.data["project"]
        keptn = profile.data.get("keptn", {})
        project = projects.get(name)
        if project is None:
            project = projects[name] = Project(name, keptn["default_branch"], keptn["api_version"])
        else:
            for key, value in (("default_branch", project.default_branch), ("api_version", project.api_version)):
                if keptn[key] != value:
                    problems.append(profile.problem(
                        ("keptn", key), f"project {name} uses {key} {value!r} in {project.profiles[0].file}, "
                                        f"this profile says {keptn[key]!r}",
                        "profiles of one project share one Git repository: give them the same value"))
        project.profiles.append(profile)
        problems.extend(_check_event_defaults(profile))
        for index, route in enumerate(profile.data.get("routes", [])):
            problems.extend(_add_route(project, profile, index, route))
    for project in projects.values():
        problems.extend(_check_overlaps(project))
    if problems:
        raise UserError(list(dict.fromkeys(problems)))  # a shared file's mistake once, not once a profile
    return [projects[name] for name in sorted(projects)]


def _check_key_shaped_text(profile: Profile) -> list[Problem]:
    """A profile names the secret; a value shaped like the key itself must never reach a generated file."""
    problems: list[Problem] = []
    if not profile.may_hold_key:  # the bytes of its files rule it out (see keyshape.yaml_may_hold_key)
        return problems
    # Every match is a run of 32 letters and digits, which JSON text keeps as it is: one C-speed search
    # rules out nearly every profile before the walk that finds where a match is.
    if not has_long_run(json.dumps(profile.data, ensure_ascii=False, skipkeys=True, default=str).encode()):
        return problems
    for path, text in _strings(profile.data, ()):
        if INTEGRATION_KEY_TOKEN.search(text):
            where = ("pagerduty", "routing_key_secret")
            problems.append(profile.problem(
                path, "this looks like a PagerDuty integration key (32 letters and digits); "
                      "a profile must never hold the key itself",
                "store the key in a Keptn secret (see the output README) and name the secret and key in "
                "pagerduty.routing_key_secret, e.g. {name: pagerduty, key: routing-key}"
                if path[:2] == where else "remove it; keys belong in a Keptn secret, never in a profile"))
    return problems


def _strings(value: object, path: tuple) -> Iterator[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield path + (key,), key  # custom_details names are text too
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))


def _check_event_defaults(profile: Profile) -> list[Problem]:
    """Defaults are looked up by the event's short name: any other key would be silently ignored."""
    problems = []
    catalogue = load_catalogue()
    for key in profile.data.get("event_defaults", {}):
        if key == "*":
            continue
        path = ("event_defaults", key)
        try:
            event = catalogue.lookup(key)
        except UnknownEventType as exc:
            problems.append(profile.problem(path, str(exc), "event defaults are keyed by `*` or an event type"))
            continue
        if key != event.short:
            problems.append(profile.problem(path, f"event defaults are keyed by the short name: write {event.short!r}",
                                            f"rename the key to {event.short}"))
    return problems


def _add_route(project: Project, profile: Profile, index: int, route: dict) -> list[Problem]:
    problems: list[Problem] = []
    stages = tuple(route.get("stages", ()))
    services = tuple(route.get("services", ()))
    base = ("routes", index)
    if services and not stages:
        problems.append(profile.problem(
            base + ("services",),
            "at least one stage must be specified when setting up a subscription filter for a service",
            "this is Keptn's rule: add `stages:` to this route"))
        return problems
    if project.default_branch in stages:
        problems.append(profile.problem(
            base + ("stages",), f"stage {project.default_branch!r} has the same name as the default branch",
            "project-level and stage-level files would share one branch; set keptn.default_branch to the other name"))
    catalogue = load_catalogue()
    defaults = profile.data.get("event_defaults", {})
    for key, overrides in route["events"].items():
        path = base + ("events", key)
        try:
            event = catalogue.lookup(key)
        except UnknownEventType as exc:
            problems.append(profile.problem(path, str(exc), getattr(exc, "hint", "")))
            continue
        settings = _settings(defaults, event, overrides or {})
        settings["_key"] = key
        if event.phase != "finished" and "results" in settings:
            # Only .finished events carry a result: the others always take the `none` action.
            settings["results"] = {"none": settings["results"].get("none", "info")}
        if event.phase == "triggered" and not settings.get("allow_triggered"):
            problems.append(profile.problem(
                path, f"a subscription to {event.short} can hang or fail the Keptn task it reacts to",
                "subscribe to the .finished (or .started) event instead, or set `allow_triggered: true` after "
                "reading 'About .triggered subscriptions' in the generated README"))
            continue
        problems.extend(_check_dedup(profile, path, settings))
        name = route.get("name") or "-".join(stages + services) or "all"
        notification = Notification(profile, index, event, stages, services, name, settings, project.name)
        notification.subscription_id = str(uuid.uuid5(
            SUBSCRIPTION_NAMESPACE, "|".join([project.name, event.type, ",".join(stages), ",".join(services)])))
        notification.locations = _locations(project.default_branch, stages, services)
        project.notifications.append(notification)
    return problems


def _settings(defaults: dict, event: EventType, overrides: dict) -> dict:
    """Layer `*`, then the event type's defaults, then the route's settings; null removes a key."""
    result: dict = {}
    for layer in (defaults.get("*", {}), defaults.get(event.short, {}), overrides):
        for key, value in (layer or {}).items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                merged = dict(result[key])
                merged.update(value)
                result[key] = merged
            else:
                result[key] = value
    for key in [k for k, v in result.items() if v is None]:
        del result[key]
    if isinstance(result.get("custom_details"), dict):
        result["custom_details"] = {k: v for k, v in result["custom_details"].items() if v is not None}
    return result


def opening_and_closing(results: dict[str, str]) -> tuple[list[str], list[str]]:
    """The results whose action opens an alert (a severity) and those that act on an open one."""
    return ([r for r, action in results.items() if action not in ALERT_ACTIONS],
            [r for r, action in results.items() if action in ALERT_ACTIONS])


def _check_dedup(profile: Profile, path: tuple, settings: dict) -> list[Problem]:
    """One event type that both opens and closes alerts needs a dedup key that outlives a single run."""
    if settings.get("kind") != "alert":
        return []
    results = settings.get("results", {})
    opening, closing = opening_and_closing(results)
    dedup = settings.get("dedup_key", "")
    used = [f for f in PER_RUN_FIELDS if "{" + f + "}" in dedup or "{" + f + "|" in dedup]
    if closing and opening and used:
        return [profile.problem(
            path + ("dedup_key",),
            f"the dedup key contains {{{used[0]}}}, which changes with every run, so "
            f"`{closing[0]}: {results[closing[0]]}` would never reach the alert `{opening[0]}` opened",
            "keep the dedup key stable, e.g. keptn/{project}/{stage}/{service}/{task}")]
    return []


def _locations(default_branch: str, stages: tuple[str, ...], services: tuple[str, ...]) -> tuple[Location, ...]:
    if not stages:
        return (Location(default_branch, "project"),)
    if not services:
        return tuple(Location(stage, "stage", stage) for stage in stages)
    return tuple(Location(stage, "service", stage, service) for stage in stages for service in services)


def _check_overlaps(project: Project) -> list[Problem]:
    """Two subscriptions for one event, stage and service would send two PagerDuty events for one Keptn event."""
    problems = []
    seen: list[Notification] = []
    for current in project.notifications:
        for other in seen:
            if other.event.type != current.event.type:
                continue
            if _overlap(other.stages, current.stages) and _overlap(other.services, current.services):
                file, line, _ = other.profile.origin(other.path)
                problems.append(current.profile.problem(
                    current.path,
                    f"{current.event.short} for project {project.name} ({current.describe_scope()}) is already "
                    f"claimed at {file}:{line} ({other.describe_scope()})",
                    "each Keptn event may reach one webhook: narrow the stages or services of one route"))
                break
        seen.append(current)
    return problems


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return not a or not b or bool(set(a) & set(b))
