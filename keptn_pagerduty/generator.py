"""The whole flow, without a terminal: profiles -> model -> render -> prove -> files in memory.

`generate` returns every output file as bytes, or raises `UserError` with every problem found; nothing is
written here (see `write`), so a failed run cannot touch the output folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import model, profiles, prove, render
from .events import load_catalogue
from .model import INTEGRATION_KEY_TOKEN, Project
from .problems import Problem, UserError



@dataclass
class Generation:
    files: dict[str, bytes] = field(default_factory=dict)
    projects: list[Project] = field(default_factory=list)
    report: prove.ProofReport = field(default_factory=prove.ProofReport)


def generate(profiles_dir: Path, templates: Path | None = None) -> Generation:
    """Load, build, render and prove everything; the files are returned, not written."""
    loaded = profiles.load_profiles(profiles_dir)
    projects = model.build(loaded)
    env = render.environment(templates)
    result = Generation(projects=projects)
    problems: list[Problem] = []
    all_files: list[render.WebhookFile] = []
    per_project: dict[str, list[render.WebhookFile]] = {}
    for project in projects:
        try:
            hooks = render.webhooks(project)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        files = render.webhook_files(project, hooks, env)
        per_project[project.name] = files
        all_files.extend(files)
    if problems:
        raise UserError(problems)
    result.report = prove.prove(all_files)
    for project in projects:
        files = per_project[project.name]
        for file in files:
            result.files[file.output_path] = file.text.encode()
        for name, text in render.project_files(project, files, result.report, env).items():
            result.files[f"{project.name}/{name}"] = text.encode()
    leaks = find_integration_keys(result.files)
    if leaks:
        raise UserError(leaks)
    return result


def subscriptions(projects: list[Project]) -> dict[str, dict]:
    """Every subscription by id: its event type, filter, and where its project keeps project-level files."""
    return {n.subscription_id: {"event": n.event.type, "filter": n.filter, "default_branch": project.default_branch}
            for project in projects for n in project.notifications}


def find_integration_keys(files: dict[str, bytes]) -> list[Problem]:
    """A 32-character alphanumeric token in a generated file is most likely a leaked integration key."""
    problems = []
    for name, data in sorted(files.items()):
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            match = INTEGRATION_KEY_TOKEN.search(line)
            if match:
                problems.append(Problem(name, number, match.start() + 1, "",
                                        "contains a 32-character token shaped like a PagerDuty integration key",
                                        "keys belong in a Keptn secret or PAGERDUTY_ROUTING_KEY, never in a file"))
    return problems


def event_listing(name: str | None = None) -> list[dict[str, object]]:
    """The event catalogue as plain data, for `events` and docs."""
    catalogue = load_catalogue()
    types = [catalogue.lookup(name)] if name else catalogue.event_types()
    return [{"type": t.type, "doc": t.doc,
             "fields": [{"name": f.name, "kind": f.kind, "optional": f.optional,
                         "example": f.example, "doc": f.doc} for f in t.fields]} for t in types]


def to_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
