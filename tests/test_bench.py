"""The benchmark runs end to end on a tiny fleet and records what the README quotes from it (nothing is timed
here: the numbers themselves are for `benchmarks/bench.py` to report)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_speed_probe_is_the_same_work_in_every_version() -> None:
    bench = _bench_module()
    # Probes of runs recorded months apart are compared: a change to the work would make them incomparable.
    assert bench._probe_work() == 1800203290
    assert 0 < bench.speed_probe(rounds=1) < 60


def test_a_run_over_a_tiny_fleet_measures_every_step(tmp_path: Path) -> None:
    result = tmp_path / "results.json"
    run = subprocess.run([sys.executable, str(BENCH), "--sizes", "3", "--repeat", "1", "--json", str(result),
                          "--tmpdir", str(tmp_path), "--quiet"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(result.read_text())
    three = data["results"]["3"]
    assert "error" not in three
    assert three["output_files"] == 3 * 8 + 1  # 8 files a project, and the manifest
    for step in ("generate", "check", "regen"):
        assert len(three[step]["runs_s"]) == 1, step
        assert len(three[step]["probe_ms"]) == 1 and three[step]["probe_ms"][0] > 0, step
        assert len(three[step]["system_cpu_s"]) == 1, step
        assert three[step]["memory_runs"] == 1 and three[step]["tree_pss_mb"] > 0, step  # from its own run
    assert len(three["help"]["runs_s"]) == 5  # start-up is measured at least five times
    assert [t["target"] for t in data["targets"]] == ["--help start-up <= 0.25 s"]  # no target for 3 profiles
    assert "Speed probe" in run.stdout
    assert re.search(r"^ +3 generate +\d+\.\d\d s \(\d+ ms\)$", run.stdout, re.M), run.stdout  # a run beside its probe
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # its temporary folder is gone


def test_timed_runs_do_not_sample_memory() -> None:
    # Sampling the process tree's memory slows the command (on 2 cores, by about a fifth for a 1,000-profile
    # generate): only the untimed memory run of a step samples it.
    bench = _bench_module()
    command = [sys.executable, "-c", "import time; time.sleep(0.2)"]
    timed = bench.measure(command, 60)
    assert timed["rc"] == 0 and not timed["memory_sampled"] and "tree_pss_peak_kb" not in timed
    assert timed["peak_rss_kb"] > 0 and timed["wall"] >= 0.2
    sampled = bench.measure(command, 60, memory=True)
    assert sampled["rc"] == 0 and sampled["memory_sampled"] and sampled["tree_pss_peak_kb"] > 0


def test_the_one_process_helper_runs_generate(tmp_path: Path) -> None:
    # What --instructions runs under callgrind (itself too slow for a test: half a minute for two profiles;
    # `collected` refuses a report of more than one process, so workers forked by mistake fail that run).
    bench = _bench_module()
    bench.write_fleet(tmp_path / "profiles", 120)  # a size that forks workers in a normal run
    run = subprocess.run([sys.executable, str(BENCH), "--_one_process", str(ROOT), "--", "generate", "--profiles",
                          str(tmp_path / "profiles"), "--output", str(tmp_path / "output"), "--quiet"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KEPTN_PAGERDUTY_CACHE": "off"})
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "output").glob("fleet-*/README.md"))) == 120


def test_the_instruction_count_is_read_from_callgrinds_report() -> None:
    bench = _bench_module()
    report = "==25219== Events    : Ir\n==25219== Collected : 1720062299\n==25219==\n==25219== I   refs:      1,720\n"
    assert bench.collected(report) == 1720062299
    assert bench.collected(report + "==25220== Collected : 5\n") is None  # a second process: not one run
    assert bench.collected("valgrind: command not found\n") is None
