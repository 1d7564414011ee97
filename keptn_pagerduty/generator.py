"""The whole flow, without a terminal: profiles -> model -> render -> prove -> files in memory.

`generate` returns every output file as bytes, or raises `UserError` with every problem found; nothing is
written here (see `write`), so a failed run cannot touch the output folder.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import fingerprint, incremental, model, profiles, prove, render, write
from .current import find_integration_keys
from .events import load_catalogue
from .model import Project
from .problems import Problem, UserError

# Below this many webhooks a second process costs more than it saves.
PARALLEL_THRESHOLD = 400


@dataclass
class Generation:
    """What a run made: files in memory, and files of an earlier run that stay as they are (see `incremental`)."""

    files: dict[str, bytes] = field(default_factory=dict)
    projects: list[Project] = field(default_factory=list)  # the projects made in this run
    report: prove.ProofReport = field(default_factory=prove.ProofReport)
    kept: dict[str, str] = field(default_factory=dict)  # file name -> sha256, as the earlier run wrote it
    kept_inputs: incremental.Record = field(default_factory=incremental.Record)
    templates: Path | None = None
    read: dict[str, str] = field(default_factory=dict)  # digests of the input files, by manifest name

    def project_names(self) -> list[str]:
        return sorted([p.name for p in self.projects] + list(self.kept_inputs.projects))

    def digests(self) -> dict[str, str]:
        """Every file of the output, made or kept, by name."""
        return dict(sorted(({n: fingerprint.sha256(d) for n, d in self.files.items()} | self.kept).items()))

    def inputs(self, root: Path) -> dict[str, object]:
        """The manifest's record of what this run read, relative to the output folder `root`."""
        base = fingerprint.base(self.templates, render.default_templates())
        digests = self.read
        record = incremental.Record(dict(self.kept_inputs.profiles), dict(self.kept_inputs.projects))
        for project in self.projects:
            entries = incremental.record_of(project.profiles, root)
            record.profiles.update(entries)
            record.projects[project.name] = incremental.project_fingerprint(entries, base, root, digests)
        return record.manifest(root, base, digests)


Progress = Callable[[int, int], None]  # (projects done, projects in all)


def generate(profiles_dir: Path, templates: Path | None = None, jobs: int | None = None,
             progress: Progress | None = None, reuse: Path | None = None,
             read: dict[str, str] | None = None) -> Generation:
    """Load, build, render and prove everything; the files are returned, not written.

    Projects are independent once the model is built, so large fleets are rendered and proven by `jobs`
    processes (default: one per core, when forking is available and the fleet is large enough). With
    `reuse` (the output folder of an earlier run), projects whose inputs are unchanged since that run and
    whose files are intact take their files from there: same inputs, same bytes, nothing to prove again.
    `read` caches the digests of input files by manifest name (see `current.unchanged`), so that no input
    is read twice in one run.
    """
    read = {} if read is None else read
    # The run allocates millions of short-lived, acyclic objects: the cycle collector only costs time here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        loaded, plan = _load(profiles_dir, templates, reuse, read)
        projects = model.build(loaded)
        jobs = _jobs(projects, jobs)
        if jobs > 1:
            parts = _parallel(projects, templates, jobs, progress)
        else:
            done = [0]

            def tick() -> None:
                done[0] += 1
                if progress is not None:
                    progress(done[0], len(projects))

            parts = [_render_and_prove(projects, templates, tick)]
    finally:
        if collecting:
            gc.enable()
    result = Generation(projects=projects, templates=templates, kept=plan.kept_files(), kept_inputs=plan.kept,
                        read=read)
    problems: list[Problem] = []
    for files, found, report in parts:
        result.files.update(files)
        problems.extend(found)
        result.report.simulations += report.simulations
        result.report.distinct_requests += report.distinct_requests
    if problems:
        raise UserError(problems)
    result.files = dict(sorted(result.files.items()))
    leaks = find_integration_keys(result.files)
    if leaks:
        raise UserError(leaks)
    return result


def _load(profiles_dir: Path, templates: Path | None, root: Path | None,
          read: dict[str, str]) -> tuple[list[profiles.Profile], incremental.Plan]:
    """The profiles to generate from; with `root`, only those of projects that cannot be kept from there."""
    if root is None or not profiles_dir.is_dir():
        return profiles.load_profiles(profiles_dir), incremental.Plan(load=[])
    found = [p.resolve() for p in profiles.discover(profiles_dir)]
    plan = incremental.plan(found, root, fingerprint.base(templates, render.default_templates()), read)
    loaded = profiles.load_profiles(profiles_dir, only=plan.load)
    joined = {p.data["project"] for p in loaded} & set(plan.kept.projects)
    if joined:  # a new or changed profile adds to a project that was to be kept
        loaded += profiles.load_profiles(profiles_dir, only=plan.release(joined, found, root))
    return loaded, plan


Part = tuple[dict[str, bytes], list[Problem], prove.ProofReport]


def _render_and_prove(projects: list[Project], templates: Path | None, tick: Callable[[], None]) -> Part:
    env = render.environment(templates)
    problems: list[Problem] = []
    prover = prove.Prover()
    output: dict[str, bytes] = {}
    for project in projects:
        try:
            files = render.webhook_files(project, render.webhooks(project), env)
            prover.prove(files)
        except UserError as exc:
            problems.extend(exc.problems)
            tick()
            continue
        if not problems:
            for file in files:
                output[file.output_path] = file.text.encode()
            for name, text in render.project_files(project, files, prover.report, env).items():
                output[f"{project.name}/{name}"] = text.encode()
        tick()
    report = prover.report
    # The sample bodies now live in the scripts; only the counts travel back.
    return ({} if problems else output), problems, prove.ProofReport(simulations=report.simulations,
                                                                     distinct_requests=report.distinct_requests)


def _jobs(projects: list[Project], jobs: int | None) -> int:
    if jobs is not None:
        return max(1, jobs)
    webhooks = sum(len(p.notifications) for p in projects)
    if webhooks < PARALLEL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(os.cpu_count() or 1, len(projects), 4)


_WORK: tuple[list[Project], Path | None, int, Any] | None = None


def _parallel(projects: list[Project], templates: Path | None, jobs: int, progress: Progress | None) -> list[Part]:
    """Fork `jobs` workers that inherit the model (nothing is pickled on the way in)."""
    global _WORK
    context = multiprocessing.get_context("fork")
    counter = context.Value("i", 0)
    _WORK = (projects, templates, jobs, counter)
    try:
        with context.Pool(jobs) as pool:
            pending = pool.map_async(_work, range(jobs))
            while not pending.ready():
                pending.wait(0.1)
                if progress is not None:
                    progress(counter.value, len(projects))
            return pending.get()
    finally:
        _WORK = None


def _work(index: int) -> Part:
    assert _WORK is not None
    projects, templates, jobs, counter = _WORK

    def tick() -> None:
        with counter.get_lock():
            counter.value += 1

    return _render_and_prove(_share(projects, jobs)[index], templates, tick)


def _share(projects: list[Project], jobs: int) -> list[list[Project]]:
    """Split projects evenly between workers, keeping projects with the same settings together.

    A worker proves each distinct request once; projects whose notifications have the same settings make
    the same requests, so keeping them together keeps any request from being proven by two workers.
    """
    groups: dict[str, list[Project]] = {}
    for project in projects:
        key = json.dumps(sorted(json.dumps([n.event.type, n.settings, n.keptn, n.pagerduty], sort_keys=True)
                                for n in project.notifications))
        groups.setdefault(key, []).append(project)
    # Groups stay contiguous and the shares equal: at most jobs - 1 groups are split between two workers.
    ordered = [project for key in sorted(groups) for project in groups[key]]
    size = -(-len(ordered) // jobs)
    return [ordered[i * size:(i + 1) * size] for i in range(jobs)]


def subscriptions(projects: list[Project]) -> dict[str, dict]:
    """Every subscription by id: its event type, filter, and where its project keeps project-level files."""
    return {n.subscription_id: {"event": n.event.type, "filter": n.filter, "default_branch": project.default_branch}
            for project in projects for n in project.notifications}


def event_listing(name: str | None = None) -> list[dict[str, object]]:
    """The event catalogue as plain data, for `events` and docs."""
    catalogue = load_catalogue()
    types = [catalogue.lookup(name)] if name else catalogue.event_types()
    return [{"type": t.type, "doc": t.doc,
             "fields": [{"name": f.name, "kind": f.kind, "optional": f.optional,
                         "example": f.example, "doc": f.doc} for f in t.fields]} for t in types]
