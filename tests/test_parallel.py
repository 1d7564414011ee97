"""Large fleets are split between forked workers: evenly, and without proving a request twice needlessly."""

from __future__ import annotations

from pathlib import Path

from keptn_pagerduty import model, profiles
from keptn_pagerduty.generator import _share, generate
from keptn_pagerduty.write import digest


def fleet(folder: Path, size: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(size):
        severity = "critical" if i % 3 else "error"  # two kinds of settings, interleaved by name
        (folder / f"p{i:03d}.yaml").write_text(
            f"project: p{i:03d}\npagerduty:\n  routing_key_secret: {{name: pagerduty, key: routing-key}}\n"
            f"routes:\n  - stages: [production]\n    events:\n      evaluation.finished: {{results: {{fail: {severity}}}}}\n")
    return folder


def test_shares_are_even_and_keep_same_settings_together(tmp_path: Path) -> None:
    projects = model.build(profiles.load_profiles(fleet(tmp_path / "profiles", 31)))
    shares = _share(projects, 2)
    assert sorted(len(s) for s in shares) == [15, 16]
    assert sorted(p.name for s in shares for p in s) == sorted(p.name for p in projects)
    severities = [{p.notifications[0].settings["results"]["fail"] for p in share} for share in shares]
    assert sum(len(s) for s in severities) <= 3  # one kind of settings at most is split between the two


def test_forked_workers_give_the_same_bytes_and_prove_each_request_once_per_worker(tmp_path: Path) -> None:
    folder = fleet(tmp_path / "profiles", 12)
    one, two = generate(folder, jobs=1), generate(folder, jobs=2)
    assert digest(one.files) == digest(two.files)
    assert one.report.distinct_requests == 2
    assert two.report.distinct_requests <= 3
