"""Render the model through the Jinja templates: webhook.yaml files, scripts and a README per project.

Only text is produced here; nothing is written. Payloads come from `payload` (their escaping is code, not
template); the templates lay out the files around them.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import payload
from .model import Location, Notification, Project
from .pagerduty import EVENTS_BASE_URL
from .problems import Problem, UserError
from .yamlsource import format_path

if TYPE_CHECKING:
    import jinja2

BUNDLED_TEMPLATES = Path(__file__).resolve().parent / "templates"
CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# What templates get for each webhook, subscription, upload and README row: attributes, read as `hook.url` (or
# `hook["url"]`). Jinja finds an attribute at once; for a dict key, its lookup fails first and then tries
# the key, at the cost of an exception each time, over a hundred times a project.
Record = SimpleNamespace

API_VERSIONS = {"v1beta1": "webhookconfig.keptn.sh/v1beta1", "v1alpha1": "webhookconfig.keptn.sh/v1alpha1"}


def default_templates() -> Path:
    """The installed copy of the templates, or, in a source checkout, the top-level templates/ folder."""
    return BUNDLED_TEMPLATES if BUNDLED_TEMPLATES.is_dir() else CHECKOUT_TEMPLATES


def environment(templates: Path | None = None) -> jinja2.Environment:
    import jinja2  # noqa: PLC0415  (here, so that `check` does not pay for it)

    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.FileSystemLoader(str(default_templates())))

    class Environment(jinja2.Environment):
        def make_globals(self, d: dict | None) -> dict:
            """A plain dict rather than Jinja's ChainMap: every render copies its template's globals, and a
            ChainMap copies key by key in Python (8 renders a project). Nothing here changes globals later."""
            return {**self.globals, **(d or {})}

    env = Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                      autoescape=False, bytecode_cache=_bytecode_cache(), auto_reload=False)
    env.filters["json"] = _JSON.encode
    env.filters["shell_quote"] = shell_quote
    # A webhook sits in the files of several stages, its payload indented alike in each.
    env.filters["indent"] = lru_cache(maxsize=256)(jinja2.filters.do_indent)
    return env


# The templates the generator renders; a templates folder may hold others only for these to include.
RENDERED = ("webhook.yaml.j2", "configure-keptn.sh.j2", "send-event.sh.j2", "project-readme.md.j2")


def unused_templates(templates: Path, env: jinja2.Environment) -> list[Problem]:
    """Templates in the overrides folder that nothing renders, includes, imports or extends: a misspelt
    override (`webhook.yml.j2`) would otherwise leave the bundled template in use without a word. Hidden
    files (an editor's lock file) are left alone, and so is every file when a template names another one
    only as it renders (`{% include name %}`)."""
    import jinja2  # noqa: PLC0415
    import jinja2.meta  # noqa: PLC0415

    used: set[str] = set()
    waiting = list(RENDERED)
    while waiting:
        name = waiting.pop()
        if name in used:
            continue
        used.add(name)
        try:
            source = env.loader.get_source(env, name)[0] if env.loader is not None else ""
            named = list(jinja2.meta.find_referenced_templates(env.parse(source)))
        except (jinja2.TemplateError, UnicodeDecodeError):
            continue  # rendering reports it, with its place
        if None in named:
            return []
        waiting.extend(name for name in named if isinstance(name, str))
    problems = []
    for path in sorted(templates.rglob("*.j2")):
        name = path.relative_to(templates).as_posix()
        if name not in used and not any(part.startswith(".") for part in name.split("/")):
            problems.append(Problem(str(path), message="no template renders, includes, imports or extends this one",
                                    hint="name an override as the template it replaces (" + ", ".join(RENDERED)
                                         + "), or move the file out of the templates folder"))
    return problems


# Made once: json.dumps with an option makes an encoder on every call, and templates quote values in every file.
_JSON = json.JSONEncoder(ensure_ascii=False)
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # a subscription's body, in every configure-keptn.sh


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's own cache of compiled templates, in its private per-user folder in the system's temp folder:
    compiling the templates costs every run, and every worker, more than reading them back. The cache
    compiles a template again when its source changed. A cache that cannot be used is no cache: it never
    fails a run."""
    import jinja2  # noqa: PLC0415

    class Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except OSError:
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    try:
        return Cache()
    except (OSError, RuntimeError):  # no private folder to be had (Jinja refuses an unsafe one)
        return None


def shell_quote(value: object) -> str:
    """Single-quote for bash: the text stays data, whatever it holds."""
    return "'" + str(value).replace("'", "'\\''") + "'"


@dataclass
class Webhook:
    notification: Notification
    body: payload.Body
    options: str


@dataclass
class WebhookFile:
    project: Project
    location: Location
    webhooks: list[Webhook] = field(default_factory=list)
    text: str = ""

    @property
    def output_path(self) -> str:
        return f"{self.project.name}/branches/{self.location.branch}/{self.location.path}"


def webhooks(project: Project) -> list[Webhook]:
    """One webhook per notification; every text that cannot be made safe is a located problem."""
    problems: list[Problem] = []
    result = []
    for notification in project.notifications:
        keptn = notification.keptn
        # int(): 3.0 is an integer to JSON Schema, but not to curl
        options = f"--max-time {int(keptn['timeout_seconds'])} --retry {int(keptn['retries'])}"
        try:
            body = payload.build(notification, project.api_version)
        except payload.SettingErrors as exc:
            problems.extend(notification.profile.problem(setting_path(notification, e.key), str(e), e.hint)
                            for e in exc.errors)
            continue
        result.append(Webhook(notification, body, options))
    if problems:
        raise UserError(problems)
    return result


def setting_path(notification: Notification, key: tuple) -> tuple:
    """Where a setting was written: the route, else the profile's event defaults (or the built-in ones)."""
    if key and key[0] == "bridge_url":
        return ("keptn", "bridge_url")
    route_settings = notification.profile.data["routes"][notification.route_index]["events"][notification.event_key]
    if isinstance(route_settings, dict) and key[0] in route_settings:
        return notification.path + key
    defaults = notification.profile.data.get("event_defaults", {})
    for name in (notification.event.short, "*"):
        if key[0] in defaults.get(name, {}):
            return ("event_defaults", name) + key
    return notification.path + key


def webhook_files(project: Project, hooks: list[Webhook], env: jinja2.Environment) -> list[WebhookFile]:
    files: dict[Location, WebhookFile] = {}
    for hook in hooks:
        for location in hook.notification.locations:
            files.setdefault(location, WebhookFile(project, location)).webhooks.append(hook)
    contexts = {id(hook): _webhook_context(hook) for hook in hooks}  # once, for the files of every stage
    result = []
    for location in sorted(files, key=lambda loc: (loc.branch, loc.path)):
        file = files[location]
        file.webhooks.sort(key=lambda h: (h.notification.event.type, h.notification.subscription_id))
        file.text = _render(env, "webhook.yaml.j2", project=project.name, location=location,
                            api_version=project.api_version,
                            sources=sorted({h.notification.profile.file for h in file.webhooks}),
                            webhooks=[contexts[id(hook)] for hook in file.webhooks])
        result.append(file)
    return result


def template_error(name: str, exc: Exception) -> Exception:
    """A template that fails to load or render (one given with --templates, say) is a located error: the
    template file and line, never a traceback. Any other exception is returned as it is, to be raised."""
    import jinja2  # noqa: PLC0415

    if isinstance(exc, jinja2.TemplateSyntaxError):
        where, line, message = exc.filename or exc.name or name, exc.lineno or 0, exc.message or str(exc)
    elif isinstance(exc, (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
                          AttributeError, RecursionError)):  # UnicodeDecodeError: a template not in UTF-8
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
        where, line = (frames[-1].filename, frames[-1].lineno or 0) if frames else (name, 0)
        message = f"{type(exc).__name__}: {exc}"
    else:
        return exc
    return UserError([Problem(where, line, 0, "", f"the template cannot be rendered: {message}",
                              "fix the template (templates given with --templates start as copies of the "
                              "bundled ones)")])


def _webhook_context(hook: Webhook) -> Record:
    n = hook.notification
    secret = n.pagerduty["routing_key_secret"]
    settings = n.settings
    shown = ("summary", "dedup_key") if hook.body.kind == "alert" else ("summary",)
    comments = [f"{key}: {comment_text(settings[key])}" for key in shown]
    return Record(
        event=n.event.short, type=n.event.type, kind=hook.body.kind,
        results=results_text(settings) if hook.body.kind == "alert" else "",
        scope=n.describe_scope(), origin=f"{n.profile.file}, {format_path(n.path)}",
        comments=comments, subscription_id=n.subscription_id,
        env_name=payload.ENV_NAME, secret_name=secret["name"], secret_key=secret["key"],
        url=hook.body.url, options=hook.options, payload=hook.body.template,
    )


@lru_cache(maxsize=4096)
def comment_text(text: str) -> str:
    """Profile text quoted for a YAML comment: anything YAML would read as a line break or refuse is escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def results_text(settings: dict) -> str:
    results = settings.get("results", {})
    return ", ".join(f"{r}: {results[r]}" for r in payload.RESULTS if r in results)


def _render(env: jinja2.Environment, name: str, **context: object) -> str:
    try:
        return env.get_template(name).render(**context)
    except Exception as exc:  # noqa: BLE001  (sorted out by template_error)
        raise template_error(name, exc) from None


def resource_api_path(project: str, location: Location) -> str:
    """The resource-service endpoint that stores a file at this location."""
    path = f"/api/resource-service/v1/project/{project}"
    if location.stage:
        path += f"/stage/{location.stage}"
    if location.service:
        path += f"/service/{location.service}"
    return path + "/resource"


def script_names(project: Project) -> dict[str, str]:
    """send-<task>-<phase>.sh per event type, with the route's name when one event has several routes."""
    by_event: dict[str, list[Notification]] = {}
    for n in project.notifications:
        by_event.setdefault(n.event.short, []).append(n)
    names: dict[str, str] = {}
    for event, group in sorted(by_event.items()):
        base = "send-" + event.replace(".", "-")
        for n in group:
            name = base if len(group) == 1 else f"{base}-{n.route_name}"
            if name + ".sh" in names.values():
                name += "-" + n.subscription_id[:8]
            names[n.subscription_id] = name + ".sh"
    return names


def project_files(project: Project, files: list[WebhookFile], report, env: jinja2.Environment) -> dict[str, str]:
    """configure-keptn.sh, one send script per webhook, and the project's README."""
    names = script_names(project)
    notifications = sorted(project.notifications, key=lambda n: (n.event.type, n.subscription_id))
    subscriptions = [Record(
        id=n.subscription_id, event=n.event.type,
        body=_COMPACT_JSON.encode({"event": n.event.type, "filter": n.filter}),
    ) for n in notifications]
    uploads = [Record(file=f"branches/{f.location.branch}/{f.location.path}", branch=f.location.branch,
                      level=f.location.level, api_path=resource_api_path(project.name, f.location)) for f in files]
    secrets = sorted({(n.pagerduty["routing_key_secret"]["name"], n.pagerduty["routing_key_secret"]["key"])
                      for n in notifications})
    result = {"configure-keptn.sh": _render(env, "configure-keptn.sh.j2", project=project.name,
                                            subscriptions=subscriptions, uploads=uploads, secrets=secrets)}
    rows = []
    for n in notifications:
        proof = report.proofs[n.subscription_id]
        region = n.pagerduty.get("region", "us")
        samples = [s for s in proof.samples if s.body]
        result[names[n.subscription_id]] = _render(
            env, "send-event.sh.j2", project=project.name, event=n.event.short, scope=n.describe_scope(),
            region=region, base_url=EVENTS_BASE_URL[region], samples=samples, labels=[s.label for s in samples],
            kind=n.settings.get("kind"),
            path=urlsplit(samples[0].url).path if samples else "/v2/enqueue",
            routing_key_marker=payload.SCRIPT_ROUTING_KEY)
        rows.append(Record(
            event=n.event.short, scope=n.describe_scope(), kind=n.settings.get("kind"),
            results=results_text(n.settings) if n.settings.get("kind") == "alert" else "change event",
            script=names[n.subscription_id], triggered=n.event.phase == "triggered",
            summary=n.settings.get("summary", ""), dedup_key=n.settings.get("dedup_key", "")))
    branches: dict[str, list[str]] = {}
    for f in files:
        branches.setdefault(f.location.branch, []).append(f.location.path)
    result["README.md"] = _render(
        env, "project-readme.md.j2", project=project.name, api_version=project.api_version,
        default_branch=project.default_branch, branches=sorted(branches.items()), rows=rows, secrets=secrets,
        profiles=sorted({p.file for p in project.profiles}),
        samples={n.subscription_id: report.proofs[n.subscription_id].samples for n in notifications},
        triggered=[r for r in rows if r.triggered])
    return result


