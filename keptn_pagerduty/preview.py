"""Preview: what Keptn would run and what PagerDuty would get, for one event of the user's.

Given a profile (with its folder, for `extends`) or a webhook.yaml, and a CloudEvent, pick the webhook Keptn
would pick (subscription filter, then service -> stage -> project lookup) and simulate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import pagerduty
from .keptn import webhook_service
from .problems import Problem, UserError

PREVIEW_ROUTING_KEY = "PREVIEWR0UT1NGKEY000000000000000"


@dataclass
class Preview:
    """One simulated request (or the reason none ran)."""

    source: str  # the webhook.yaml it came from
    subscription_id: str
    argv: list[str] | None = None
    url: str | None = None
    body: object | None = None
    error: str | None = None
    pagerduty_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "subscription_id": self.subscription_id, "argv": self.argv, "url": self.url,
                "body": self.body, "error": self.error, "pagerduty_errors": self.pagerduty_errors}


def simulate_file(name: str, text: str, event: dict, subscription_id: str | None = None) -> list[Preview]:
    """Every webhook of a webhook.yaml that matches the event's type (or the given subscription)."""
    try:
        config = webhook_service.decode(text)
    except webhook_service.DecodeError as exc:
        raise UserError([Problem(name, 1, 1, "", f"Keptn would not load this file: {exc}")]) from None
    hooks = [w for w in config.webhooks
             if (subscription_id and w.subscription_id == subscription_id)
             or (not subscription_id and w.type == event.get("type"))]
    if not hooks:
        raise UserError([Problem(name, message=f"no webhook for {event.get('type')!r} in this file",
                                 hint="pass --subscription ID, or an event of a type the file subscribes to")])
    return [_simulate(name, config, hook, event) for hook in hooks]


def simulate_generated(files: dict[str, bytes], subscriptions: dict[str, dict], event: dict,
                       source: str = "event") -> list[Preview]:
    """Route an event through generated files as Keptn would: filter, then service, stage, project level.

    `source` names the event's file in a problem."""
    data = event.get("data", {}) if isinstance(event.get("data"), dict) else {}
    project, stage, service = data.get("project"), data.get("stage"), data.get("service")
    matching = [sid for sid, sub in sorted(subscriptions.items())
                if sub["event"] == event.get("type") and _covers(sub["filter"], project, stage, service)]
    if not matching:
        raise UserError([Problem(source, message=f"no subscription of these profiles receives {event.get('type')} "
                                                  f"for {project}/{stage}/{service}",
                                 hint="check the event's project, stage and service against the profile's routes")])
    previews = []
    for sid in matching:
        sub = subscriptions[sid]
        for path in _lookup_order(project, stage, service, sub["default_branch"]):
            if path not in files:
                continue
            text = files[path].decode()
            config = webhook_service.decode(text)
            hook = webhook_service.find_webhook(config, sid)
            if hook is not None:
                previews.append(_simulate(path, config, hook, event))
                break
    return previews


def _covers(filter_: dict, project: str | None, stage: str | None, service: str | None) -> bool:
    return (project in filter_.get("projects", [project])
            and (not filter_.get("stages") or stage in filter_["stages"])
            and (not filter_.get("services") or service in filter_["services"]))


def _lookup_order(project: str | None, stage: str | None, service: str | None, default_branch: str) -> list[str]:
    base = f"{project}/branches"
    return [f"{base}/{stage}/{service}/webhook/webhook.yaml", f"{base}/{stage}/webhook/webhook.yaml",
            f"{base}/{default_branch}/webhook/webhook.yaml"]


def _simulate(name: str, config, hook, event: dict) -> Preview:
    secrets = {(env[1], env[2]): PREVIEW_ROUTING_KEY for env in hook.env_from}
    simulation = webhook_service.simulate(config, hook, event, secrets)
    preview = Preview(name, hook.subscription_id)
    if not simulation.results:
        preview.error = simulation.ignored or simulation.error or "no request ran"
        return preview
    result = simulation.results[0]
    preview.url = result.url
    preview.error = result.error
    if result.error is None and result.json_body is not None and "pagerduty.com" in (result.url or ""):
        preview.pagerduty_errors = [v.message for v in pagerduty.validate_event(urlsplit(result.url).path,
                                                                                 result.json_body)]
    # Show where the key comes from instead of the stand-in value the simulation used.
    shown = "<secret " + " / ".join(f"{env[1]}:{env[2]}" for env in hook.env_from) + ">"
    preview.argv = [arg.replace(PREVIEW_ROUTING_KEY, shown) for arg in result.argv] if result.argv else None
    body = result.json_body if result.json_body is not None else result.body
    preview.body = _replace(body, PREVIEW_ROUTING_KEY, shown)
    return preview


def _replace(value: object, old: str, new: str) -> object:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value
