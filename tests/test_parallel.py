"""Large fleets are split between forked workers, whole projects each, with the same bytes as one process."""

from __future__ import annotations

from pathlib import Path

from keptn_pagerduty import profiles
from keptn_pagerduty.generator import _share, generate
from keptn_pagerduty.fingerprint import sha256
from keptn_pagerduty.write import STAGING, Staging, digest


def fleet(folder: Path, size: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(size):
        severity = "critical" if i % 3 else "error"  # two kinds of settings, interleaved by name
        (folder / f"p{i:03d}.yaml").write_text(
            f"project: p{i:03d}\npagerduty:\n  routing_key_secret: {{name: pagerduty, key: routing-key}}\n"
            f"routes:\n  - stages: [production]\n    events:\n      evaluation.finished: {{results: {{fail: {severity}}}}}\n")
    return folder


def test_shares_are_contiguous_and_even() -> None:
    for count in range(1, 12):
        for jobs in range(1, min(count, 4) + 1):
            ranges = [_share(count, jobs, index) for index in range(jobs)]
            assert ranges[0][0] == 0 and ranges[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert max(e - s for s, e in ranges) - min(e - s for s, e in ranges) <= 1


def test_profiles_are_grouped_by_the_project_they_name(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "_shared.yaml").write_text("project: shop  # the shared file may name it\n")
    (folder / "a.yaml").write_text("project: shop\nroutes: []\n")
    (folder / "b.yaml").write_text("extends: _shared.yaml\n")
    (folder / "c.yaml").write_text('project: "other"\n')
    (folder / "d.yaml").write_text("{project: flow-style}\n")  # not plain to see: stands alone
    groups = profiles.group_by_project(sorted(folder.glob("[a-z]*.yaml")))
    assert {key: [p.name for p in paths] for key, paths in groups.items() if not key.startswith("\0")} == {
        "shop": ["a.yaml", "b.yaml"], "other": ["c.yaml"]}
    assert [[p.name for p in paths] for key, paths in groups.items() if key.startswith("\0")] == [["d.yaml"]]


def test_a_grouping_that_proves_wrong_is_undone(tmp_path: Path) -> None:
    folder = fleet(tmp_path / "profiles", 6)
    # Two files of one project, one not plain to read: two groups would make one project in two workers.
    (folder / "p000-more.yaml").write_text(
        "{project: p000, pagerduty: {routing_key_secret: {name: pagerduty, key: routing-key}}, routes: "
        "[{stages: [staging], events: {evaluation.finished: {}}}]}\n")
    one, two = generate(folder, jobs=1), generate(folder, jobs=2)
    assert digest(one.files) == digest(two.files) and "p000/branches/staging/webhook/webhook.yaml" in one.files
    assert two.projects  # made again in one process, with the model


def test_forked_workers_give_the_same_bytes_and_prove_each_request_once_between_them(tmp_path: Path) -> None:
    folder = fleet(tmp_path / "profiles", 12)
    one, two = generate(folder, jobs=1), generate(folder, jobs=2)
    assert digest(one.files) == digest(two.files)
    assert one.report.distinct_requests == 2
    assert two.report.distinct_requests == 2  # workers share their proofs: each request is proven once
    assert not two.projects and two.project_names() == one.project_names()


def test_forked_workers_stage_the_same_files_that_a_run_in_memory_makes(tmp_path: Path) -> None:
    folder = fleet(tmp_path / "profiles", 12)
    in_memory = generate(folder, jobs=1)
    output = tmp_path / "output"
    with Staging(output) as staging:
        staged = generate(folder, jobs=2, stage=staging)
        assert not staged.files  # only digests travel back from the workers
        staging.commit(staged.made, inputs=staged.inputs(output))
    assert staged.made == {name: sha256(data) for name, data in in_memory.files.items()}
    assert {name: (output / name).read_bytes() for name in in_memory.files} == in_memory.files
    assert not (output / STAGING).exists()
