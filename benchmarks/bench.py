#!/usr/bin/env python3
"""Fleet-scale benchmark: wall time and peak memory of generate, check, regenerate and start-up.

    .venv/bin/python benchmarks/bench.py [--sizes 100,1000,5000] [--json results.json]
    .venv/bin/python benchmarks/bench.py --sizes 1000 --cprofile     # plus a cProfile of one generate
    .venv/bin/python benchmarks/bench.py --sizes 100 --importtime    # plus `-X importtime generate.py --help`

For each size a fleet of profiles is written to a temporary folder (see `write_fleet`: one Keptn project per
profile, 2 stages, 4 events, a shared `_defaults.yaml` they extend) and these steps are measured, each as a
child process `python generate.py ...` exactly as a user runs it:

  generate   full generate with every proof, into a fresh (empty) output folder and an empty proof cache
  check      `check` of the unchanged, just generated tree
  regen      generate after one profile changed (tree already generated; each run gives the profile a new
             revision), with the proof cache the generate that made the tree filled, as a user's run has
  help       start-up: `generate.py --help`

Every run is started by a fresh helper process (this file with `--_measure`) whose only child is the measured
command, so `getrusage(RUSAGE_CHILDREN).ru_maxrss` of the helper is that command's peak RSS (the value is a
running maximum over all waited-for children, hence one helper per run). The helper's own start-up is outside
the timed region. The timed runs read nothing else while the command runs: sampling /proc for the memory of
the whole process tree took CPU from the command (on 2 cores, its workers use both) and made a 1,000-profile
generate take about a fifth longer. That sampling is done in one more run of each step (`--_measure_memory`),
whose time is not counted.

Each step is repeated (`--repeat`, default: 3 up to 1,000 profiles, 2 for larger fleets) and the best (minimum)
wall time is reported with the median; peak RSS is the maximum over all runs. Targets are printed as pass/fail.
Only the standard library is used; nothing outside the temporary folder is written (except `--json`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout measured; --root changes it
GENERATE_PY = ROOT / "generate.py"
STEPS = ("generate", "check", "regen", "help")

TEAMS = 25  # distinct `owner`s in the fleet: payload texts repeat across teams, as in a real fleet

DEFAULTS = """\
# Shared by every profile of the synthetic fleet (`extends: _defaults.yaml`).
---
pagerduty:
  routing_key_secret:
    name: pagerduty
    key: routing-key
  client: Keptn (fleet.example.com)

keptn:
  bridge_url: https://keptn.fleet.example.com/bridge
  default_branch: main
  timeout_seconds: 15

event_defaults:
  "*":
    custom_details:
      platform: "fleet"
      runbook: "https://wiki.fleet.example.com/runbooks/{service}"
  test.finished:
    summary: "Tests {result} for {service} in {stage} ({project}): {message|no message}"
"""

PROFILE = """\
# Synthetic fleet profile {index}: one Keptn project, two stages, four events.
---
project: {project}
extends: _defaults.yaml

event_defaults:
  "*":
    custom_details:
      owner: "team-{team:02d}"

routes:
  - name: delivery
    stages: [staging, production]
    events:
      deployment.finished:
        summary: "Deployed {{service}} to {{stage}} ({{deployment.deploymentstrategy|unknown}} strategy): {{result|unknown}}"
        custom_details:
          deployment_names: "{{deployment.deploymentNames|none}}"
      evaluation.finished:
        results:
          fail: critical
          warning: warning
          pass: resolve
        summary: "Quality gate {{result}} for {{service}} in {{stage}}: score {{evaluation.score|n/a}} of 100{revision}"
        custom_details:
          evaluation_start: "{{evaluation.timeStart|n/a}}"
          evaluation_end: "{{evaluation.timeEnd|n/a}}"
      test.finished:
        results:
          fail: error
          warning: warning
          pass: resolve
{approval}
"""

APPROVAL_STARTED = """\
      approval.started:
        results:
          none: warning"""

APPROVAL_FINISHED = """\
      approval.finished:
        summary: "Approval {result} for {service} in {stage}"
"""


MANIFEST = ".keptn-pagerduty-manifest.json"  # the generator's own record, not part of the floor


def project_name(index: int) -> str:
    return f"fleet-{index:05d}"


def profile_text(index: int, revision: int = 0) -> str:
    return PROFILE.format(index=index, project=project_name(index), team=index % TEAMS,
                          revision=f" (rev {revision})" if revision else "",
                          approval=APPROVAL_STARTED if index % 2 else APPROVAL_FINISHED.rstrip("\n"))


def write_fleet(folder: Path, size: int) -> None:
    folder.mkdir(parents=True)
    (folder / "_defaults.yaml").write_text(DEFAULTS, encoding="utf-8")
    for index in range(size):
        (folder / f"{project_name(index)}.yaml").write_text(profile_text(index), encoding="utf-8")


# ------------------------------------------------------------------------------------------------------------
# One measured run, in a fresh helper process.
# ------------------------------------------------------------------------------------------------------------


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc; just `pid` where children lists are not available)."""
    pids, index = [pid], 0
    while index < len(pids):
        current = pids[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as stream:
                    pids.extend(int(child) for child in stream.read().split())
        except OSError:
            continue
    return pids


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB from /proc/<pid>/smaps_rollup; (0, 0) when it is gone or unreadable."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


def _measure_main(argv: list[str], sample_memory: bool = False) -> None:
    """Helper mode: run argv once, print wall time, peak memory, CPU time and exit code as JSON on stdout.

    Two memory figures: `peak_rss_kb` is getrusage's ru_maxrss over the children, i.e. the peak RSS of the
    *largest single* process of the tree (worker processes are not added up); with `sample_memory`,
    `tree_pss_peak_kb` is the highest sum of PSS over the command and all its descendants, sampled every
    20 ms (shared pages counted once), which is what a run with worker processes really occupies. The
    sampling slows the command (reading smaps_rollup walks its memory), so such a run is not timed.
    """
    import threading  # noqa: PLC0415

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peaks = {"tree_pss_peak_kb": 0, "tree_rss_peak_kb": 0, "max_processes": 0}
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                tree = _process_tree(child.pid)
                sizes = [_memory_kb(pid) for pid in tree]
                peaks["tree_rss_peak_kb"] = max(peaks["tree_rss_peak_kb"], sum(r for r, _ in sizes))
                peaks["tree_pss_peak_kb"] = max(peaks["tree_pss_peak_kb"], sum(p for _, p in sizes))
                peaks["max_processes"] = max(peaks["max_processes"], len(tree))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        if sample_memory:
            sampler.start()
        try:
            returncode = child.wait()
        except BaseException:
            child.kill()
            child.wait()
            raise
        wall = time.perf_counter() - start
        done.set()
        if sample_memory:
            sampler.join()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")[-2000:]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if before:  # cannot happen in a fresh helper; say so rather than report a wrong peak
        print(f"warning: helper had children before the run (ru_maxrss {before})", file=sys.stderr)
    json.dump({"wall": wall, "peak_rss_kb": after.ru_maxrss, **(peaks if sample_memory else {}),
               "memory_sampled": sample_memory, "user": after.ru_utime, "sys": after.ru_stime,
               "loadavg_1m": os.getloadavg()[0], "rc": returncode, "stderr": stderr}, sys.stdout)


def _helper(mode: str, argv: list[str], timeout: float) -> tuple[int | None, str, str]:
    """Run this file in a helper mode; on timeout or interruption the helper is asked to stop its child too."""
    helper = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), mode, str(ROOT), "--", *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = helper.communicate(timeout=timeout)
    except BaseException as exc:
        helper.terminate()  # the helper's SIGTERM handler ends the measured command as well
        try:
            helper.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            helper.kill()
        if isinstance(exc, subprocess.TimeoutExpired):
            return None, "", f"timeout after {timeout} s"
        raise
    return helper.returncode, out, err


def measure(argv: list[str], timeout: float, memory: bool = False) -> dict:
    """One run of `argv`: timed, or with `memory` the run whose memory is sampled (see _measure_main)."""
    rc, out, err = _helper("--_measure_memory" if memory else "--_measure", argv, timeout)
    if rc is None:
        return {"wall": None, "peak_rss_kb": None, "rc": None, "stderr": err}
    if rc != 0:
        raise RuntimeError(f"measurement helper failed: {err}")
    return json.loads(out)


def cli(*args: str) -> list[str]:
    return [sys.executable, str(GENERATE_PY), *args]


def generate_argv(profiles: Path, output: Path) -> list[str]:
    return cli("generate", "--profiles", str(profiles), "--output", str(output), "--quiet")


def check_argv(profiles: Path, output: Path) -> list[str]:
    return cli("check", "--profiles", str(profiles), "--output", str(output))


class StepFailed(Exception):
    pass


def _probe_work(n: int = 60_000) -> int:
    """A fixed piece of pure-Python work (dict, string and integer operations, as the generator does)."""
    table: dict[str, int] = {}
    total = 0
    for i in range(n):
        key = f"k{i % 997}"
        table[key] = table.get(key, 0) + i
        total += len(key.upper())
    return total + sum(table.values())


PROBE_TEXT = "fixed pure-Python work, best of 3"


def speed_probe(rounds: int = 3) -> float:
    """Seconds for `_probe_work` (the best of `rounds`), timed in this process right before a measured run.

    On a shared machine the CPU a process gets varies from one minute to the next without any steal time
    showing, and the same run takes up to 1.5 times as long. The probe is a snapshot of that speed around a
    run, a hint for reading runs side by side (the speed also changes within a run); it changes no result or
    verdict.
    """
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        _probe_work()
        best = min(best, time.perf_counter() - start)
    return best


def run_step(argv: list[str], rc: int, what: str, timeout: float, log, memory: bool = False) -> dict:
    """One measured run (with `memory`: the step's memory run); a run killed by a signal from outside (rc < 0)
    is retried once, as it measured nothing."""
    probe = speed_probe()
    run = measure(argv, timeout, memory)
    if run["rc"] is not None and run["rc"] < 0:
        log(f"{what}: killed by signal {-run['rc']} (not by this benchmark); running it again")
        probe = speed_probe()
        run = measure(argv, timeout, memory)
        run["retried_after_signal"] = True
    run["probe_s"] = probe
    if run["rc"] != rc:
        raise StepFailed(f"{what}: exit code {run['rc']}, expected {rc}\n{run['stderr']}")
    return run


def _run_text(run: dict) -> str:
    memory = (f", tree PSS {run.get('tree_pss_peak_kb', 0) / 1024:.0f} MB (memory run, not timed)"
              if run.get("memory_sampled") else "")
    return (f"{run['wall']:.2f} s, cpu {run.get('user', 0) + run.get('sys', 0):.2f} s (system "
            f"{run.get('sys', 0):.2f} s), probe {1000 * run.get('probe_s', 0):.0f} ms, peak RSS "
            f"{run['peak_rss_kb'] / 1024:.0f} MB{memory}")


def summarize(runs: list[dict], memory_runs: list[dict] = ()) -> dict:
    """Times from the timed `runs`; memory from every run, the tree's from the `memory_runs` that sampled it."""
    if not runs:
        return {"best_s": None, "median_s": None, "runs_s": [], "peak_rss_mb": None, "tree_pss_mb": None,
                "memory_mb": None, "memory_runs": 0, "cpu_s": [], "system_cpu_s": [], "probe_ms": [],
                "loadavg_1m": []}
    walls = [r["wall"] for r in runs if r["wall"] is not None]
    every = [*runs, *memory_runs]
    rss = [r["peak_rss_kb"] for r in every if r["peak_rss_kb"] is not None]
    tree = [r["tree_pss_peak_kb"] for r in every if r.get("tree_pss_peak_kb")]
    return {"best_s": min(walls) if walls else None, "median_s": statistics.median(walls) if walls else None,
            "runs_s": [r["wall"] for r in runs], "peak_rss_mb": max(rss) / 1024 if rss else None,
            "tree_pss_mb": max(tree) / 1024 if tree else None,
            # judged against the memory target: the larger of the two figures (see _measure_main)
            "memory_mb": max(rss + tree) / 1024 if rss or tree else None,
            "memory_runs": len(memory_runs),
            "max_processes": max((r.get("max_processes", 1) for r in every), default=None),
            "cpu_s": [round(r.get("user", 0) + r.get("sys", 0), 3) for r in runs],
            "system_cpu_s": [round(r.get("sys", 0), 3) for r in runs],
            "probe_ms": [round(1000 * r["probe_s"], 1) if "probe_s" in r else None for r in runs],
            "loadavg_1m": [round(r.get("loadavg_1m", 0), 2) for r in runs]}


def _proof_cache(folder: Path | None) -> None:
    """The proof cache of the commands run from now on (KEPTN_PAGERDUTY_CACHE; None: off)."""
    os.environ["KEPTN_PAGERDUTY_CACHE"] = str(folder) if folder is not None and PROOF_CACHE else "off"


PROOF_CACHE = True  # --no-proof-cache: every step proves every request it makes


def bench_size(size: int, repeat: int, workdir: Path, timeout: float, log, result: dict, saved=lambda: None,
               delete_before: bool = False) -> dict:
    """Every step for one size, into `result`; `saved` is called after each step so that a run cut short keeps
    what it measured. A step that fails is reported (with the steps that need it) and the rest go on."""
    try:
        _bench_size(size, repeat, workdir, timeout, log, result, saved, delete_before)
    except StepFailed as exc:
        result["error"] = str(exc)
        log(f"[{size}] FAILED: {exc}")
    for step in STEPS:
        result.setdefault(step, summarize([]))
    return result  # its trees stay until the end of the run: deleting them would slow the next size's generate


def disk_floor(output: Path, base: Path, repeat: int, delete_before: bool = False) -> dict:
    """What creating the generated tree costs this disk with plain os calls and no Python work around them:
    the part of a full generate that no code change can remove.

    Like the generate step, each attempt writes a new folder. None is deleted right before: on ext4, creating
    files within seconds of deleting many costs several times the kernel time (the allocator skips inodes
    freed moments ago), and that cost belongs to the deletion, which a user's generate does not follow. With
    `delete_before`, the previous attempt's tree is deleted first, as --delete-before does for generate.
    """
    tree = {p.relative_to(output).as_posix(): p.read_bytes() for p in output.rglob("*")
            if p.is_file() and p.name != MANIFEST}
    folders = sorted({"/".join(name.split("/")[:depth]) for name in tree for depth in range(1, name.count("/") + 1)})
    best_wall = best_cpu = float("inf")
    for attempt in range(repeat):
        target = base / f"floor-{attempt + 1}"
        if delete_before and attempt:
            shutil.rmtree(base / f"floor-{attempt}")
        target.mkdir(parents=True)
        wall, cpu = time.perf_counter(), os.times()
        for folder in folders:  # parents sort before their children
            os.mkdir(target / folder)
        for name, data in tree.items():
            handle = os.open(target / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(handle, data)
            os.close(handle)
        after = os.times()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, after.user - cpu.user + after.system - cpu.system)
    return {"best_s": round(best_wall, 3), "cpu_s": round(best_cpu, 3), "files": len(tree), "folders": len(folders)}


def _bench_size(size: int, repeat: int, workdir: Path, timeout: float, log, result: dict, saved,
                delete_before: bool) -> None:
    base = workdir / f"fleet-{size}"
    profiles = base / "profiles"
    started = time.perf_counter()
    write_fleet(profiles, size)
    log(f"[{size}] wrote {size} profiles in {time.perf_counter() - started:.1f} s")

    # (a) full generate into a fresh output folder: a new one for every run (see disk_floor for why none is
    # deleted right before a run, and --delete-before to measure that case), with a new, empty proof cache
    runs = []
    for attempt in range(repeat):
        output = base / f"output-{attempt + 1}"
        if delete_before and attempt:
            shutil.rmtree(base / f"output-{attempt}")
        _proof_cache(base / f"cache-{attempt + 1}")
        run = run_step(generate_argv(profiles, output), 0, f"generate {size}", timeout, log)
        runs.append(run)
        log(f"[{size}] generate run {attempt + 1}/{repeat}: {_run_text(run)}")
    _proof_cache(base / "cache-memory")
    memory = run_step(generate_argv(profiles, base / "output-memory"), 0, f"generate {size}", timeout, log, memory=True)
    log(f"[{size}] generate memory run: {_run_text(memory)}")
    result["generate"] = summarize(runs, [memory])
    saved()
    files = [p for p in output.rglob("*") if p.is_file()]
    result["output_files"] = len(files)
    result["output_bytes"] = sum(p.stat().st_size for p in files)
    result["disk_floor"] = disk_floor(output, base, repeat, delete_before)
    log(f"[{size}] disk floor: {result['disk_floor']['best_s']:.2f} s wall, {result['disk_floor']['cpu_s']:.2f} s CPU "
        f"to create the same {result['disk_floor']['files']} files and {result['disk_floor']['folders']} folders")

    # (b) check of the unchanged tree (it proves nothing)
    _proof_cache(None)
    runs = []
    for attempt in range(repeat):
        run = run_step(check_argv(profiles, output), 0, f"check {size}", timeout, log)
        runs.append(run)
        log(f"[{size}] check run {attempt + 1}/{repeat}: {_run_text(run)}")
    memory = run_step(check_argv(profiles, output), 0, f"check {size}", timeout, log, memory=True)
    log(f"[{size}] check memory run: {_run_text(memory)}")
    result["check"] = summarize(runs, [memory])
    saved()

    # (c) generate after one profile changed: each run gives the middle profile's evaluation summary a new
    # revision, never seen before, so its request is proven in every run; the other requests were proven by
    # the generate that made this tree, and the proof cache that run filled is the one a user's next run has
    _proof_cache(base / f"cache-{repeat}")
    index = size // 2
    changed = profiles / f"{project_name(index)}.yaml"
    watched = output / project_name(index) / "branches" / "production" / "webhook" / "webhook.yaml"
    runs = []
    for attempt in range(repeat + 1):  # the last is the memory run
        before = watched.read_bytes()
        changed.write_text(profile_text(index, revision=attempt + 1), encoding="utf-8")
        run = run_step(generate_argv(profiles, output), 0, f"regenerate {size}", timeout, log,
                       memory=attempt == repeat)
        if watched.read_bytes() == before:
            raise StepFailed(f"regenerate {size}: the changed profile's webhook.yaml did not change")
        runs.append(run)
        log(f"[{size}] regen {'memory run' if attempt == repeat else f'run {attempt + 1}/{repeat}'}: {_run_text(run)}")
    result["regen"] = summarize(runs[:-1], runs[-1:])
    saved()
    run_step(check_argv(profiles, output), 0, f"check after regenerate {size}", timeout, log)

    # (d) start-up
    _proof_cache(None)
    runs = []
    for _ in range(max(repeat, 5)):
        runs.append(run_step(cli("--help"), 0, "--help", timeout, log))
    result["help"] = summarize(runs, [run_step(cli("--help"), 0, "--help", timeout, log, memory=True)])
    log(f"[{size}] help: best {result['help']['best_s']:.3f} s")


# ------------------------------------------------------------------------------------------------------------
# Targets (issue "Performance at fleet scale")
# ------------------------------------------------------------------------------------------------------------


def _complete(results: dict[int, dict]) -> dict[int, dict]:
    """Steps not measured (yet) as empty summaries, so that partial results print and judge as n/a."""
    return {size: {**{step: summarize([]) for step in STEPS}, **r} for size, r in results.items()}


def targets(results: dict[int, dict]) -> list[dict]:
    results = _complete(results)
    checks = []

    def add(name: str, value: float | None, limit: float, unit: str) -> None:
        checks.append({"target": name, "value": value, "limit": limit, "unit": unit,
                       "pass": None if value is None else value <= limit})

    if 1000 in results:
        r = results[1000]
        add("1,000 profiles: generate <= 2 s", r["generate"]["best_s"], 2.0, "s")
        add("1,000 profiles: check <= 1 s", r["check"]["best_s"], 1.0, "s")
        add("1,000 profiles: regenerate after one change <= 0.5 s", r["regen"]["best_s"], 0.5, "s")
    if 1000 in results and 5000 in results:
        g1, g5 = results[1000]["generate"]["best_s"], results[5000]["generate"]["best_s"]
        add("5,000 generate <= 5.5 x 1,000 generate", g5 / g1 if g1 and g5 else None, 5.5, "x")
    if 5000 in results:
        peaks = [_memory(results[5000][s]) for s in STEPS if _memory(results[5000][s]) is not None]
        peak = max(peaks) if peaks else None
        add("5,000 profiles: peak memory (any step) <= 400 MB", peak, 400.0, "MB")
    helps = [r["help"]["best_s"] for r in results.values() if r["help"]["best_s"] is not None]
    if helps:
        add("--help start-up <= 0.25 s", min(helps), 0.25, "s")
    return checks


def step_target(size: int, step: str, results: dict[int, dict]) -> tuple[str, bool | None]:
    """The target that applies to one cell of the table, as (text, pass)."""
    r = results[size][step]
    if size == 1000 and step in ("generate", "check", "regen"):
        limit = {"generate": 2.0, "check": 1.0, "regen": 0.5}[step]
        return f"<= {limit:g} s", None if r["best_s"] is None else r["best_s"] <= limit
    if size == 5000 and step == "generate" and 1000 in results:
        g1 = results[1000]["generate"]["best_s"]
        if g1 and r["best_s"]:
            return f"<= 5.5 x 1k ({5.5 * g1:.2f} s)", r["best_s"] <= 5.5 * g1
    if step == "help":
        return "<= 0.25 s", None if r["best_s"] is None else r["best_s"] <= 0.25
    return "", None


def _memory(step: dict) -> float | None:
    """The figure judged against the memory target (results written before tree sampling: peak RSS)."""
    return step.get("memory_mb", step.get("peak_rss_mb"))


def mem_target(size: int, step: str, results: dict[int, dict]) -> tuple[str, bool | None]:
    if size != 5000:
        return "", None
    peak = _memory(results[size][step])
    return "<= 400 MB", None if peak is None else peak <= 400


def print_results(results: dict[int, dict]) -> list[dict]:
    print(table(results))
    floors = [(size, r["disk_floor"]) for size, r in sorted(results.items()) if r.get("disk_floor")]
    if floors:
        print("\nDisk floor (the generated files and folders created with plain os calls, nothing else):")
        for size, floor in floors:
            print(f"  {size:>7,} profiles: {floor['best_s']:.2f} s wall, {floor['cpu_s']:.2f} s CPU for {floor['files']:,} "
                  f"files and {floor['folders']:,} folders")
    probed = [(size, step, results[size][step]) for size in sorted(results) for step in STEPS
              if any(results[size].get(step, {}).get("probe_ms") or [])]
    if probed:
        print(f"\nSpeed probe (the same {PROBE_TEXT}, timed right before each run: the longer it takes, the less CPU "
              "the machine gave; it changes no result):")
        for size, step, r in probed:
            pairs = ", ".join(f"{wall:.2f} s ({probe:.0f} ms)" for wall, probe in zip(r["runs_s"], r["probe_ms"])
                              if wall is not None and probe is not None)
            print(f"  {size:>7,} {step:<8} {pairs}")
    for size in sorted(results):
        if results[size].get("error"):
            print(f"\n{size:,} profiles: {results[size]['error'].strip()}")
    checks = targets(results)
    if checks:
        print("\nTargets:")
        for c in checks:
            value = "n/a" if c["value"] is None else f"{c['value']:.3f} {c['unit']}"
            print(f"  {_verdict(c['pass']) or 'n/a':4}  {c['target']}: {value}")
    print("\n(best s / median s: wall time; cpu s: user+sys CPU of the run with least CPU, workers included; peak MB: "
          "peak RSS of the largest single process; tree MB: peak of the summed PSS of the command and its worker "
          "processes, sampled every 20 ms in one more run of each step, not timed (the sampling slows the "
          "command); procs: most processes seen at once. The memory target is judged on the larger of peak MB and "
          "tree MB.)")
    return checks


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def table(results: dict[int, dict]) -> str:
    results = _complete(results)
    header = ("profiles", "step", "best s", "median s", "runs", "cpu s", "peak MB", "tree MB", "procs",
              "time target", "time", "mem target", "mem")
    rows = [header]
    for size in sorted(results):
        for step in STEPS:
            r = results[size][step]
            t_text, t_ok = step_target(size, step, results)
            m_text, m_ok = mem_target(size, step, results)
            cpu = min(r.get("cpu_s") or [None], key=lambda v: float("inf") if v is None else v)
            rows.append((f"{size:,}", step, _fmt(r["best_s"], 3), _fmt(r["median_s"], 3), str(len(r["runs_s"])),
                         _fmt(cpu, 3), _fmt(r["peak_rss_mb"], 0), _fmt(r.get("tree_pss_mb"), 0),
                         str(r.get("max_processes") or "n/a"), t_text, _verdict(t_ok), m_text, _verdict(m_ok)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i in (0, 2, 3, 4, 5, 6, 7, 8) else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def environment() -> dict:
    def git(*args: str) -> str:
        try:  # read-only; GIT_OPTIONAL_LOCKS=0 keeps `git status` from refreshing the index
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30,
                                  env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    try:
        import yaml  # noqa: PLC0415 - only to report whether the C loader exists
        libyaml = bool(getattr(yaml, "__with_libyaml__", False))
    except ImportError:
        libyaml = None
    commit = git("rev-parse", "HEAD") if (ROOT / ".git").exists() else ""
    if not commit and (ROOT / "COMMIT").is_file():  # an export made with `git archive`, commit noted beside it
        commit = (ROOT / "COMMIT").read_text().strip()
    return {"root": str(ROOT), "python": platform.python_version(), "executable": sys.executable, "platform": platform.platform(),
            "cpus": os.cpu_count(), "pyyaml_libyaml": libyaml, "git_commit": commit,
            "git_dirty_files": [line for line in git("status", "--porcelain").splitlines() if line]
            if (ROOT / ".git").exists() else [],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# ------------------------------------------------------------------------------------------------------------
# Diagnosis helpers
# ------------------------------------------------------------------------------------------------------------


# Functions timed by --phases (inclusive wall time, summed over calls). They are looked up by name; a name the
# package no longer has is skipped, so the list may lag behind refactorings without breaking anything.
PHASES = ("keptn_pagerduty.generator:generate", "keptn_pagerduty.generator:_make",
          "keptn_pagerduty.generator:_Maker._keep", "keptn_pagerduty.incremental:plan",
          "keptn_pagerduty.profiles:load_profiles", "keptn_pagerduty.profiles:validate",
          "keptn_pagerduty.yamlsource:load", "keptn_pagerduty.model:build", "keptn_pagerduty.render:environment",
          "keptn_pagerduty.render:webhooks", "keptn_pagerduty.render:webhook_files", "keptn_pagerduty.prove:prove",
          "keptn_pagerduty.prove:Prover.prove", "keptn_pagerduty.prove:_prove_shape", "keptn_pagerduty.prove:_bodies",
          "keptn_pagerduty.keptn.webhook_service:decode", "keptn_pagerduty.keptn.webhook_service:simulate",
          "keptn_pagerduty.pagerduty:validate_event", "keptn_pagerduty.render:project_files",
          "keptn_pagerduty.current:find_integration_keys", "keptn_pagerduty.current:unchanged",
          "keptn_pagerduty.write:Staging.put", "keptn_pagerduty.write:Staging.commit",
          "keptn_pagerduty.write:_conflicts", "keptn_pagerduty.write:atomic_write",
          "keptn_pagerduty.write:check", "keptn_pagerduty.write:verify")
_PHASES_MARK = "@@phases@@ "


def _phases_main(argv: list[str]) -> None:
    """Helper mode: run the CLI in this process with the functions of PHASES wrapped in timers."""
    import importlib  # noqa: PLC0415

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from keptn_pagerduty import cli as kp_cli  # noqa: PLC0415
    timings: dict[str, list[float]] = {"start-up + import keptn_pagerduty.cli": [time.perf_counter() - started]}
    cpu_timings: dict[str, list[float]] = {"start-up + import keptn_pagerduty.cli": [time.process_time()]}
    facts: dict[str, object] = {}
    for spec in PHASES:
        module_name, name = spec.split(":")
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            continue
        *outer, name = name.split(".")
        for part in outer:  # Class.method
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None)
        if not callable(original):
            continue

        def timed(*args, _original=original, _spec=spec, **kwargs):
            begin, begin_cpu = time.perf_counter(), time.process_time()
            try:
                result = _original(*args, **kwargs)
            finally:
                timings.setdefault(_spec, []).append(time.perf_counter() - begin)
                cpu_timings.setdefault(_spec, []).append(time.process_time() - begin_cpu)
            for attribute in ("simulations", "distinct_requests"):
                report = getattr(result, "report", result)  # generate returns a Generation holding the report
                if _spec.endswith(("prove:prove", "generator:generate")) and hasattr(report, attribute):
                    facts[attribute] = getattr(report, attribute)
            return result

        setattr(owner, name, timed)
    # Worker processes would take their timings with them: run the whole fleet in this process.
    generator = sys.modules.get("keptn_pagerduty.generator")
    if generator is not None and callable(getattr(generator, "_jobs", None)):
        generator._jobs = lambda *args, **kwargs: 1
        facts["jobs"] = "1 (forced for --phases)"
    code = 0
    try:
        kp_cli.main(argv, prog_name="generate.py", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    total = time.perf_counter() - started
    print(_PHASES_MARK + json.dumps({"total": total, "total_cpu": time.process_time(), "rc": code, "facts": facts,
                                     "phases": {k: {"seconds": sum(v), "cpu_seconds": sum(cpu_timings[k]),
                                                    "calls": len(v)} for k, v in timings.items()}}))


def phases(size: int, workdir: Path, timeout: float, log) -> dict:
    base = workdir / f"phases-{size}"
    profiles, output = base / "profiles", base / "output"
    write_fleet(profiles, size)
    found = {}
    for label, argv in (("generate (fresh output)", ["generate", "--profiles", str(profiles), "--output",
                                                     str(output), "--quiet"]),
                        ("check (unchanged tree)", ["check", "--profiles", str(profiles), "--output", str(output)])):
        rc, out, err = _helper("--_phases", argv, timeout)
        line = next((x for x in out.splitlines() if x.startswith(_PHASES_MARK)), None)
        if rc != 0 or line is None:
            raise SystemExit(f"--phases {label} failed:\n{err}")
        data = json.loads(line[len(_PHASES_MARK):])
        found[label] = data
        print(f"\n--- phases of {label}, {size} profiles: {data['total']:.2f} s wall, {data['total_cpu']:.2f} s CPU "
              f"in-process, exit {data['rc']}"
              f"{', ' + ', '.join(f'{k} {v}' for k, v in data['facts'].items()) if data['facts'] else ''} ---")
        print(f"{'wall s':>9} {'cpu s':>9} {'cpu share':>9} {'calls':>7}  function (inclusive; nested phases overlap)")
        for name, value in sorted(data["phases"].items(), key=lambda kv: -kv[1]["cpu_seconds"]):
            print(f"{value['seconds']:9.3f} {value['cpu_seconds']:9.3f} "
                  f"{100 * value['cpu_seconds'] / data['total_cpu']:8.1f}% {value['calls']:7d}  {name}")
    shutil.rmtree(base, ignore_errors=True)
    log(f"phases measured for {size} profiles")
    return found


def cprofile(size: int, workdir: Path, top: int, log) -> None:
    import pstats  # noqa: PLC0415

    base = workdir / f"cprofile-{size}"
    write_fleet(base / "profiles", size)
    stats_file = base / "generate.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(stats_file), str(GENERATE_PY), "generate",
            "--profiles", str(base / "profiles"), "--output", str(base / "output"), "--quiet"]
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True)
    log(f"cProfile of generate ({size} profiles): {time.perf_counter() - started:.2f} s under the profiler")
    for order in ("cumulative", "tottime"):
        print(f"\n--- top {top} by {order} ---")
        pstats.Stats(str(stats_file)).strip_dirs().sort_stats(order).print_stats(top)
    kept = Path(tempfile.gettempdir()) / f"keptn-pagerduty-generate-{size}.prof"
    shutil.copy(stats_file, kept)
    log(f"profile kept at {kept} (python -m pstats {kept})")


def _one_process_main(argv: list[str]) -> None:
    """Helper mode: run the CLI in this process, making the whole fleet in it (no worker processes), so that
    callgrind counts every instruction of the run in one process."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from keptn_pagerduty import cli as kp_cli, generator  # noqa: PLC0415

    generator._jobs = lambda *args, **kwargs: 1
    try:
        kp_cli.main(argv, prog_name="generate.py", standalone_mode=False)
    except SystemExit as exc:
        sys.exit(exc.code)


_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def collected(stderr: str) -> int | None:
    """The instructions callgrind counted, from its report; None unless it ran exactly one process."""
    found = _COLLECTED.findall(stderr)
    return int(found[0]) if len(found) == 1 else None


def instructions(size: int, workdir: Path, timeout: float, log) -> int:
    """Instructions of one full generate of `size` profiles in one process, proof cache off, counted by
    callgrind: unlike wall and CPU time, the same for the same code and input whatever the machine is doing
    (hash seed fixed; the kernel's work of creating files is not counted)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (Debian's package valgrind)")
    base = workdir / f"instructions-{size}"
    write_fleet(base / "profiles", size)
    argv = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
            str(Path(__file__).resolve()), "--_one_process", str(ROOT), "--", "generate", "--profiles",
            str(base / "profiles"), "--output", str(base / "output"), "--quiet"]
    started = time.perf_counter()
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONHASHSEED": "0", "KEPTN_PAGERDUTY_CACHE": "off"})
    count = collected(run.stderr)
    if run.returncode != 0 or count is None:
        raise SystemExit(f"--instructions failed:\n{run.stderr[-3000:]}")
    log(f"instructions counted for {size} profiles in {time.perf_counter() - started:.0f} s under callgrind")
    print(f"\n--- instructions of a full generate of {size} profiles (one process, proof cache off, callgrind): "
          f"{count:,} ---")
    shutil.rmtree(base, ignore_errors=True)
    return count


def importtime(top: int) -> None:
    run = subprocess.run([sys.executable, "-X", "importtime", str(GENERATE_PY), "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    rows = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    print(f"\n--- -X importtime generate.py --help: top {top} by cumulative ---")
    print(f"{'cumulative ms':>14} {'self ms':>8}  module")
    for cumulative, own, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative / 1000:14.1f} {own / 1000:8.1f}  {name}")


# ------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    global ROOT, GENERATE_PY
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that temporary folders and children go too
    helpers = {"--_measure": _measure_main, "--_measure_memory": lambda argv: _measure_main(argv, sample_memory=True),
               "--_phases": _phases_main, "--_one_process": _one_process_main}
    if argv[:1] and argv[0] in helpers:
        ROOT = Path(argv[1])
        helpers[argv[0]](argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000", help="fleet sizes, comma separated (default %(default)s)")
    parser.add_argument("--repeat", default=None,
                        help="runs per step: one number, or one per size (e.g. 3,3,1); default 3 up to 1,000 "
                             "profiles, 2 above")
    parser.add_argument("--json", dest="json_path", type=Path, help="write the numbers to this JSON file")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where fleets are written (default: system temp)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measured run (default %(default)s)")
    parser.add_argument("--cprofile", action="store_true",
                        help="also run cProfile on one generate of the 1,000 fleet (or the largest size below it)")
    parser.add_argument("--importtime", action="store_true", help="also show `-X importtime generate.py --help`")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions of a full generate in one process with callgrind (slow: "
                             "minutes for 1,000 profiles), for the largest size up to 1,000")
    parser.add_argument("--phases", action="store_true",
                        help="also time the main functions of one generate and one check of the 1,000 fleet "
                             "(or the largest size below it), in-process, without profiler overhead")
    parser.add_argument("--report", type=Path, metavar="JSON", nargs="+",
                        help="print the table and targets of earlier --json files (merged by size; later files "
                             "win), measure nothing")
    parser.add_argument("--top", type=int, default=30, help="rows of profiler output (default %(default)s)")
    parser.add_argument("--bytecode", choices=("cached", "env"), default="cached",
                        help="cached (default): measured runs use a warm bytecode cache under the temporary folder "
                             "(PYTHONPYCACHEPREFIX), as an installed tool would; env: inherit the environment as is "
                             "(with PYTHONDONTWRITEBYTECODE=1 every run compiles the package first)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout to measure (default: this one); e.g. an export of another commit: "
                             "mkdir /tmp/base && git archive HEAD | tar -x -C /tmp/base")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--delete-before", action="store_true",
                        help="delete the previous run's tree right before each generate run (and disk-floor "
                             "attempt) instead of writing a new folder; on ext4 this adds the kernel's cost of "
                             "reusing inodes freed moments ago")
    parser.add_argument("--no-proof-cache", action="store_true",
                        help="run every step with the proof cache off (KEPTN_PAGERDUTY_CACHE=off): a regenerate "
                             "then proves every request of the changed project again")
    args = parser.parse_args(argv)
    global PROOF_CACHE
    PROOF_CACHE = not args.no_proof_cache
    _proof_cache(None)  # --phases, --cprofile and --importtime prove everything
    ROOT = args.root.resolve()
    GENERATE_PY = ROOT / "generate.py"
    if not GENERATE_PY.is_file():
        parser.error(f"no generate.py in {ROOT}")
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    repeats = [int(r) for r in args.repeat.split(",")] if args.repeat else [3 if s <= 1000 else 2 for s in sizes]
    if len(repeats) == 1:
        repeats *= len(sizes)
    if len(repeats) != len(sizes) or min(repeats) < 0:
        parser.error("--repeat takes one number, or one per size (0: measure no steps, e.g. with --phases)")

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    if args.report:
        merged: dict[int, dict] = {}
        for path in args.report:
            data = json.loads(path.read_text(encoding="utf-8"))
            merged.update({int(k): v for k, v in data["results"].items()})
        print_results(merged)
        return

    def save(extra: dict | None = None) -> None:
        if args.json_path:
            args.json_path.write_text(json.dumps({"environment": env, "results": {str(k): v for k, v in results.items()},
                                                  "targets": targets(results), **(extra or {})}, indent=2) + "\n",
                                      encoding="utf-8")
    env = environment()
    env["bytecode"] = args.bytecode
    env["delete_before"] = args.delete_before
    env["proof_cache"] = PROOF_CACHE
    env["PYTHONDONTWRITEBYTECODE"] = os.environ.get("PYTHONDONTWRITEBYTECODE")
    log(f"python {env['python']} on {env['cpus']} CPU(s), libyaml={env['pyyaml_libyaml']}, "
        f"commit {env['git_commit'][:12]}{' (dirty tree)' if env['git_dirty_files'] else ''}, bytecode={args.bytecode}")

    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="keptn-pagerduty-bench-", dir=args.tmpdir) as tmp:
        workdir = Path(tmp)
        if args.bytecode == "cached":
            # A bytecode cache outside the source tree, warmed before anything is measured: every child inherits it.
            os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            os.environ["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
        warm = workdir / "warm-up"
        write_fleet(warm / "profiles", 2)
        subprocess.run(cli("--help"), cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(generate_argv(warm / "profiles", warm / "output"), cwd=ROOT, check=True)
        subprocess.run(check_argv(warm / "profiles", warm / "output"), cwd=ROOT, check=True,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(warm)
        for size, repeat in zip(sizes, repeats):
            if repeat:
                results[size] = {"profiles": size}
                bench_size(size, repeat, workdir, args.timeout, log, results[size], save, args.delete_before)
                save()
        if results:
            print_results(results)
        extra: dict = {}
        below = [s for s in sizes if s <= 1000] or [min(sizes)]
        if args.phases:
            extra["phases"] = {str(max(below)): phases(max(below), workdir, args.timeout, log)}
        if args.instructions:
            extra["instructions"] = {str(max(below)): instructions(max(below), workdir, args.timeout * 100, log)}
        save(extra)
        if args.json_path:
            log(f"wrote {args.json_path}")
        if args.cprofile:
            cprofile(max(below), workdir, args.top, log)
        if args.importtime:
            importtime(args.top)


if __name__ == "__main__":
    main()
