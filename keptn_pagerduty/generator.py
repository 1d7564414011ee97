"""The whole flow, without a terminal: profiles -> model -> render -> prove -> files.

`generate` returns every output file as bytes, or writes them into a staging folder (`write.Staging`) from
which `write.commit` moves them into place; it raises `UserError` with every problem found, and nothing in
the output folder itself is touched here, so a failed run cannot change it.
"""

from __future__ import annotations

import gc
import mmap
import os
import shutil
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, NoReturn

from . import fingerprint, incremental, model, profiles, prove, render, scriptcheck, write
from .current import find_integration_keys
from .events import load_catalogue
from .model import Project
from .problems import Problem, UserError
from .proofcache import ProofCache

# Below this many profiles a second process costs more than it saves.
PARALLEL_PROFILES = 100


@dataclass
class Generation:
    """What a run made: files (in memory or staged), and files of an earlier run kept as they are."""

    files: dict[str, bytes] = field(default_factory=dict)  # made in this run, unless they were staged
    made: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of every file made in this run
    projects: list[Project] = field(default_factory=list)  # the model, when made in this process (jobs=1)
    # Input paths as text: they travel back from the workers, and unpickling a Path costs ten times as much.
    sources: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # project made -> its profiles' inputs
    loaded: dict[str, str] = field(default_factory=dict)  # each input of a project made -> its digest as read
    unsettled: set[str] = field(default_factory=set)  # inputs read with different bytes within the run
    report: prove.ProofReport = field(default_factory=prove.ProofReport)
    kept: dict[str, str] = field(default_factory=dict)  # file name -> sha256, as the earlier run wrote it
    kept_inputs: incremental.Record = field(default_factory=incremental.Record)
    templates: Path | None = None
    read: dict[str, str] = field(default_factory=dict)  # digests of the input files, by manifest name

    def project_names(self) -> list[str]:
        return sorted([*self.sources, *self.kept_inputs.projects])

    def digests(self) -> dict[str, str]:
        """Every file of the output, made or kept, by name."""
        return dict(sorted((self.made | self.kept).items()))

    def inputs(self, root: Path) -> dict[str, object]:
        """The manifest's record of what this run read, relative to the output folder `root`.

        Inputs of the projects made are recorded as they were read, not as they are now: a profile changed
        while the run made its files is then made again by the next run.
        """
        for path, digest in self.loaded.items():
            if digest:  # a source not read from a file has none
                name = fingerprint.relative(path, root)
                if path in self.unsettled or self.read.get(name, digest) != digest:  # edited during the run
                    digest = UNSETTLED
                self.read[name] = digest
        base = fingerprint.base(self.templates, render.default_templates())
        record = incremental.Record(dict(self.kept_inputs.profiles), dict(self.kept_inputs.projects))
        for name, sources in self.sources.items():
            entries = incremental.record_of(name, sources, root)
            record.profiles.update(entries)
            record.projects[name] = incremental.project_fingerprint(entries, base, root, self.read)
        return record.manifest(root, base, self.read)


Progress = Callable[[int, int], None]  # (projects done, projects in all)

# The digest recorded for an input that changed while the run read it (between the plan and the loading, or
# between two worker processes): it matches no file, so the next run makes every project that reads it.
UNSETTLED = "changed while the run read it"


def _merge_loaded(result: Generation, loaded: dict[str, str]) -> None:
    for path, digest in loaded.items():
        if result.loaded.setdefault(path, digest) != digest:
            result.unsettled.add(path)


def generate(profiles_dir: Path, templates: Path | None = None, jobs: int | None = None,
             progress: Progress | None = None, reuse: Path | None = None, stage: write.Staging | None = None,
             keep_files: bool = True, cache: ProofCache | None = None) -> Generation:
    """Load, build, render and prove everything; raise `UserError` with every problem found.

    Large fleets are made by `jobs` forked processes (default: one per core, from PARALLEL_PROFILES
    profiles on), each taking groups of profiles as it goes and loading, proving and writing whole
    projects, so that no process ever holds the whole fleet. With `reuse` (the output folder of an earlier
    run), projects whose inputs are unchanged since that run and whose files are intact are kept as they
    are: same inputs, same bytes, nothing to prove again. With `stage`, files are written there as each
    project is proven; then, or without `keep_files`, only their digests are kept in memory. With `cache`,
    requests proven by an earlier run are taken from there (`proofcache`).
    """
    if templates is not None and (unused := render.unused_templates(templates, render.environment(templates))):
        raise UserError(unused)
    read: dict[str, str] = {}  # digests of the input files by manifest name: each is read once per run
    # The run allocates millions of short-lived, acyclic objects: the cycle collector only costs time here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        paths, plan = _plan(profiles_dir, templates, reuse, read)
        jobs = _jobs(len(paths), jobs)
        keep = keep_files and stage is None
        parts = (_parallel(profiles_dir, paths, plan, reuse, templates, jobs, progress, stage, keep, cache)
                 if jobs > 1 else None)
        projects: list[Project] = []
        if parts is None:  # one process, or the fleet could not be split by project (see _parallel)
            if stage is not None:
                stage.clear()
            projects = model.build(_load(profiles_dir, paths, plan, reuse))
            done = [0]

            def tick() -> None:
                done[0] += 1
                if progress is not None:
                    progress(done[0], len(projects))

            parts = [_make(projects, templates, tick, stage, keep, cache)]
    finally:
        if collecting:
            gc.enable()
    result = Generation(projects=projects, templates=templates, kept=plan.kept_files(), kept_inputs=plan.kept,
                        read=read)
    problems: list[Problem] = []
    for part in parts:
        result.files.update(part.files)
        result.made.update(part.made)
        result.sources.update(part.sources)
        _merge_loaded(result, part.loaded)
        if stage is not None:  # what workers did not stage, for the commit (their Staging is their own)
            stage.unstaged.update(part.unstaged)
        problems.extend(part.problems)
        result.report.simulations += part.simulations
        result.report.distinct_requests += part.distinct_requests
        result.report.reused += part.reused
    if problems:
        raise UserError(list(dict.fromkeys(problems)))  # a template's problem, met by each process once
    result.files = dict(sorted(result.files.items()))
    result.made = dict(sorted(result.made.items()))
    result.sources = dict(sorted(result.sources.items()))
    return result


def _plan(profiles_dir: Path, templates: Path | None, root: Path | None,
          read: dict[str, str]) -> tuple[list[Path], incremental.Plan]:
    """The profiles to load; with `root`, only those of projects that cannot be kept from there."""
    found = sorted(profiles.discover_resolved(profiles_dir)) if profiles_dir.is_dir() else []
    if not found:
        profiles.load_profiles(profiles_dir)  # raises: no folder, or no profiles in it
    if root is None:
        return found, incremental.Plan(load=[])
    plan = incremental.plan(found, root, fingerprint.base(templates, render.default_templates()), read)
    return plan.load, plan


def _load(profiles_dir: Path, paths: list[Path], plan: incremental.Plan, root: Path | None) -> list[profiles.Profile]:
    loaded = profiles.load_profiles(profiles_dir, only=paths)
    joined = {p.data["project"] for p in loaded} & set(plan.kept.projects)
    if joined and root is not None:  # a new or changed profile adds to a project that was to be kept
        loaded += profiles.load_profiles(profiles_dir, only=plan.release(joined, profiles.discover_resolved(profiles_dir),
                                                                          root))
    return loaded


@dataclass
class _Part:
    """What one process made; small when staged, as it travels back from a worker."""

    files: dict[str, bytes] = field(default_factory=dict)
    made: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)
    unstaged: set[str] = field(default_factory=set)  # files made whose bytes the output folder already held
    problems: list[Problem] = field(default_factory=list)
    simulations: int = 0
    distinct_requests: int = 0
    reused: int = 0
    groups: list[tuple[str, int]] = field(default_factory=list)  # (project, the group of profiles it came from)


class _Maker:
    """Renders, proves and keeps (or stages) the files of one project after another.

    With a `prove.ProofStore` shared between processes, a project that needs a request another process is
    proving right now waits in `later` while other projects are made.
    """

    def __init__(self, templates: Path | None, stage: write.Staging | None, store: prove.ProofStore | None = None,
                 keep: bool = True, cache: ProofCache | None = None):
        self.env = render.environment(templates)
        self.templates = templates
        self.scripts_checked: set[str] = set()  # script templates whose output bash parsed (given --templates)
        self.prover = prove.Prover(store, cache)
        self.stage = stage
        self.keep = keep
        self.part = _Part()
        self.later: list[tuple[Project, list]] = []

    def make(self, project: Project, files: list | None = None) -> None:
        try:
            if files is None:
                files = render.webhook_files(project, render.webhooks(project), self.env)
            if not self.prover.ready(files):
                self.later.append((project, files))
                return
            self.prover.prove(files)
        except UserError as exc:
            self.part.problems.extend(exc.problems)
            return
        self._keep(project, files)

    def finish(self, patience: float = 600.0) -> None:
        """Make the projects that waited; give up waiting (and prove here) after `patience` seconds."""
        deadline = time.monotonic() + patience
        while self.later:
            waiting, self.later = self.later, []
            for project, files in waiting:
                if time.monotonic() > deadline:
                    self.prover.forget_store()
                self.make(project, files)
            if self.later and len(self.later) == len(waiting):
                time.sleep(0.005)

    def _keep(self, project: Project, files: list) -> None:
        part = self.part
        output = {file.output_path: file.text.encode() for file in files}
        for name, text in render.project_files(project, files, self.prover.report, self.env).items():
            output[f"{project.name}/{name}"] = text.encode()
        self.prover.report.proofs.clear()  # the sample bodies now live in the files
        part.problems.extend(find_integration_keys(output))
        if self.templates is not None:
            part.problems.extend(self._script_problems(output))
        part.sources[project.name] = [tuple(map(os.fspath, p.inputs)) for p in project.profiles]
        part.loaded.update((os.fspath(path), digest) for p in project.profiles
                           for path, digest in zip(p.inputs, p.digests))
        if part.problems:
            return
        for name, data in output.items():
            part.made[name] = fingerprint.sha256(data)
            if self.stage is not None:
                self.stage.put(name, data)
        if self.keep:
            part.files.update(output)

    def _script_problems(self, output: dict[str, bytes]) -> list[Problem]:
        """`bash -n` on the first script each template makes in this process (`scriptcheck`)."""
        assert self.templates is not None
        problems = []
        for name, data in output.items():
            if not name.endswith(".sh") or (template := scriptcheck.template_of(name)) in self.scripts_checked:
                continue
            self.scripts_checked.add(template)
            problem = scriptcheck.bash_problem(self.templates, name, data.decode("utf-8", "surrogatepass"))
            problems += [problem] if problem is not None else []
        return problems

    def done(self) -> _Part:
        self.finish()
        part = self.part
        if part.problems:
            part.files, part.made = {}, {}
        if self.stage is not None:
            part.unstaged = self.stage.unstaged
        part.simulations = self.prover.report.simulations
        part.distinct_requests = self.prover.report.distinct_requests
        part.reused = self.prover.report.reused
        return part


def _make(projects: list[Project], templates: Path | None, tick: Callable[[], None],
          stage: write.Staging | None, keep: bool, cache: ProofCache | None) -> _Part:
    if not projects:  # everything kept: not even the templates are needed
        return _Part()
    maker = _Maker(templates, stage, keep=keep, cache=cache)
    for project in projects:
        maker.make(project)
        tick()
    return maker.done()


def _jobs(profile_count: int, jobs: int | None) -> int:
    if jobs is not None:
        return max(1, jobs)
    if profile_count < PARALLEL_PROFILES:
        return 1
    import multiprocessing  # noqa: PLC0415  (only large fleets pay for it)

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(os.cpu_count() or 1, 4)


class _Work(NamedTuple):
    """What the forked workers of a run share (set before the fork, so never pickled)."""

    profiles_dir: Path
    groups: list[list[Path]]
    templates: Path | None
    jobs: int
    counters: _Counters
    stage: write.Staging | None
    store: prove.ProofStore
    keep: bool
    cache: ProofCache | None
    parent: int  # the main process


_WORK: _Work | None = None


def _parallel(profiles_dir: Path, paths: list[Path], plan: incremental.Plan, root: Path | None,
              templates: Path | None, jobs: int, progress: Progress | None,
              stage: write.Staging | None, keep: bool, cache: ProofCache | None) -> list[_Part] | None:
    """Fork `jobs` workers, each making whole projects, taking groups of profiles as it goes (`_Counters.take`).

    Profiles are grouped by the project they name (`profiles.group_by_project`, a quick reading); each
    worker loads the groups it takes itself, so no process holds the whole fleet. None when the quick reading
    proves wrong (two groups make one project, or a group makes a project that was to be kept, which the one
    joining profile then makes alone): the caller then makes everything in one process.
    """
    global _WORK
    import multiprocessing  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    groups = profiles.group_by_project(paths)
    if len(groups) < 2:
        return None
    if any(key in plan.kept.projects for key in groups):
        return None  # a new or changed profile joins a project that was to be kept: rare, made in one process
    ordered = [groups[key] for key in sorted(groups)]
    context = multiprocessing.get_context("fork")
    counters = _Counters(context)
    proofs = tempfile.TemporaryDirectory(prefix="keptn-pagerduty-proofs-")
    _WORK = _Work(profiles_dir, ordered, templates, jobs, counters, stage, prove.ProofStore(Path(proofs.name)),
                  keep, cache, os.getpid())
    workers: list[tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]] = []
    try:
        for _ in range(min(jobs, len(ordered))):
            receive, send = context.Pipe(duplex=False)
            readers = [r for _, r in workers] + [receive]  # the worker's copies: closed there (see _worker)
            worker = context.Process(target=_worker, args=(send, readers), daemon=True)
            worker.start()
            send.close()  # the worker's copy is the only one: it ending unheard shows as the end of the pipe
            workers.append((worker, receive))
        try:
            parts = _collect(workers, lambda: progress and progress(counters.done, len(ordered)), profiles_dir)
        except write.StagedTwice:  # two groups made one project, and both staged its files
            return None
    finally:
        _WORK = None
        for worker, _ in workers:  # still running only when this process is on its way out (Ctrl-C, an error)
            if worker.is_alive():
                worker.terminate()
            worker.join()
        proofs.cleanup()
    made_by: dict[str, int] = {}
    for part in parts:
        for project, group in part.groups:
            if made_by.setdefault(project, group) != group or project in plan.kept.projects:
                return None  # two groups made one project, or a group made alone a project to be kept
    return parts


def _collect(workers: list, tick: Callable[[], None], profiles_dir: Path) -> list[_Part]:
    """Each worker's part, as it sends it; a worker that ends without sending one fails the run, with its
    reason, instead of leaving the run waiting for it forever."""
    from multiprocessing.connection import wait  # noqa: PLC0415

    parts: list[_Part] = []
    pending = list(workers)
    while pending:
        wait([receive for _, receive in pending] + [worker.sentinel for worker, _ in pending], timeout=0.1)
        for worker, receive in list(pending):
            try:
                if not receive.poll():
                    if worker.exitcode is None:
                        continue  # still at work
                    raise EOFError
                kind, value = receive.recv()
            except EOFError:  # ended without a word: killed (out of memory?) or crashed
                worker.join()
                raise UserError([Problem(str(profiles_dir),
                                         message=f"a worker process {_ended(worker.exitcode)} before it was done",
                                         hint="run again; if it happens again, the system log may say why "
                                              "(out of memory?)")]) from None
            if kind == "error":
                raise value
            parts.append(value)
            pending.remove((worker, receive))
        tick()
    return parts


def _ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was stopped by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was stopped by signal {-exitcode}"
    return f"ended with exit code {exitcode}"


def _worker(send, readers: list) -> None:
    """A worker process: make projects until none is left, then send the part made (or the error met).

    `readers` are the read ends of the workers' pipes, inherited with the fork: closed here, so that the main
    process holds the only ones, and a part sent after it was killed fails at once (the worker then ends
    without a word) instead of waiting forever for a reader.
    """
    for reader in readers:
        reader.close()
    _worker_signals()
    try:
        message = ("part", _work())
    except BaseException as exc:  # noqa: BLE001  (the main process raises it)
        import traceback  # noqa: PLC0415

        exc.add_note("In a worker process:\n" + traceback.format_exc().rstrip())
        message = ("error", exc)
    try:
        send.send(message)
        send.close()
    except OSError:  # no one reads it
        _main_gone()


def _main_gone() -> NoReturn:
    """End a worker whose main process is gone (killed): no one will take the work, read the part or remove
    the folder of the proofs the processes shared."""
    assert _WORK is not None
    shutil.rmtree(_WORK.store.folder, ignore_errors=True)
    os._exit(1)


def _worker_signals() -> None:
    """Ctrl-C reaches every process of the terminal's group: the main process alone acts on it, stopping
    the workers (with SIGTERM, which then simply ends them) on its way out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _work() -> _Part:
    assert _WORK is not None
    profiles_dir, groups, templates, jobs, counters, stage, store, keep, cache, parent = _WORK
    maker = _Maker(templates, stage, store, keep, cache)
    shared = profiles.LoadCache()  # the files that the profiles extend, loaded once per worker
    while numbers := counters.take(len(groups), jobs):
        for number in numbers:
            if os.getppid() != parent:
                _main_gone()
            _make_group(maker, profiles_dir, groups, number, shared)
            counters.finished()
    return maker.done()


def _make_group(maker: _Maker, profiles_dir: Path, groups: list[list[Path]], number: int,
                shared: profiles.LoadCache) -> None:
    try:
        projects = model.build(profiles.load_profiles(profiles_dir, only=groups[number], shared=shared))
    except UserError as exc:
        maker.part.problems.extend(exc.problems)
        projects = []
    for project in projects:
        maker.part.groups.append((project.name, number))
        maker.make(project)


class _Counters:
    """The groups the workers have taken and finished, in memory the forked processes share: an anonymous
    shared mapping and a lock (multiprocessing.Value would first import ctypes, start-up time before the fork
    that no worker can take over)."""

    _FORMAT = struct.Struct("qq")  # taken, finished

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._memory = mmap.mmap(-1, self._FORMAT.size)  # shared: the workers forked later see the same pages
        self._lock = context.Lock()

    @property
    def done(self) -> int:
        """Groups finished (for the progress line)."""
        return self._FORMAT.unpack_from(self._memory)[1]

    def finished(self) -> None:
        with self._lock:
            taken, done = self._FORMAT.unpack_from(self._memory)
            self._FORMAT.pack_into(self._memory, 0, taken, done + 1)

    def take(self, count: int, jobs: int) -> range:
        """The next of `count` groups that no worker has taken (empty when none is left): workers take work
        as they go, so one that meets heavier projects or waits on proofs does not hold the run up.

        A worker takes a quarter of its share of what is left, at most 16 groups (one lock per group would
        cost more) and at least one: chunks shrink as the work runs out, so that the workers finish together.
        """
        with self._lock:
            start, done = self._FORMAT.unpack_from(self._memory)
            size = max(1, min(16, (count - start) // (4 * jobs)))
            self._FORMAT.pack_into(self._memory, 0, min(count, start + size), done)
        return range(start, min(count, start + size))


def subscriptions(projects: list[Project]) -> dict[str, dict]:
    """Every subscription by id: its event type, filter, and where its project keeps project-level files."""
    return {n.subscription_id: {"event": n.event.type, "filter": n.filter, "default_branch": project.default_branch}
            for project in projects for n in project.notifications}


def event_listing(name: str | None = None) -> list[dict[str, object]]:
    """The event catalogue as plain data, for `events` and docs."""
    catalogue = load_catalogue()
    types = [catalogue.lookup(name)] if name else catalogue.event_types()
    from .placeholders import kinds  # noqa: PLC0415

    known = kinds()

    def free_text(kind: str, items: str | None) -> bool:  # a list: as its items are printed, each URL-encoded
        return bool(known.get(items or "text" if kind == "list" else kind, {}).get("free_text"))

    return [{"type": t.type, "doc": t.doc,
             "fields": [{"name": f.name, "kind": f.kind, "optional": f.optional,
                         "free_text": free_text(f.kind, f.items), "example": f.example, "doc": f.doc}
                        for f in t.fields]} for t in types]
