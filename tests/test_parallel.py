"""Large fleets are split between forked workers, whole projects each, with the same bytes as one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from keptn_pagerduty import model, profiles, prove, render
from keptn_pagerduty.generator import _Counters, _Maker, generate
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


def test_workers_take_every_group_once_in_chunks_that_shrink() -> None:
    import multiprocessing

    counters = _Counters(multiprocessing.get_context("fork"))
    taken = []
    while numbers := counters.take(200, 2):
        taken.append(list(numbers))
    assert [n for chunk in taken for n in chunk] == list(range(200))  # each once, in order
    sizes = [len(chunk) for chunk in taken]
    assert sizes[:5] == [16, 16, 16, 16, 16]  # a lock per chunk, not per group
    assert sizes == sorted(sizes, reverse=True) and sizes[-8:] == [1] * 8  # smaller as the work runs out
    assert not counters.take(200, 2)
    assert counters.done == 0


def test_forked_workers_share_the_counters() -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    counters = _Counters(context)

    def work() -> None:
        while numbers := counters.take(400, 3):
            for _ in numbers:
                counters.finished()

    workers = [context.Process(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counters.done == 400 and not counters.take(400, 3)  # all done by the workers, each group once


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


def test_files_workers_found_in_place_are_left_there_by_the_commit(tmp_path: Path) -> None:
    """Workers stage only what changed; the main process, which commits, learns from them what they left."""
    folder = fleet(tmp_path / "profiles", 12)
    output = tmp_path / "output"
    with Staging(output) as staging:
        first = generate(folder, jobs=2, stage=staging).made
        staging.commit(first)
    for profile in folder.glob("*.yaml"):  # new summaries: new webhooks and scripts, the same setup script
        profile.write_text(profile.read_text().replace("{results:", "{summary: 'Gate {result}', results:"))
    with Staging(output) as staging:
        again = generate(folder, jobs=2, stage=staging)
        outcome = staging.commit(again.made)
    same = sorted(name for name, digest in again.made.items() if first[name] == digest)
    assert "p011/configure-keptn.sh" in same and "p011/branches/production/webhook/webhook.yaml" not in same
    assert (outcome.unchanged, outcome.updated) == (same, sorted(set(again.made) - set(same)))
    assert {name: sha256((output / name).read_bytes()) for name in again.made} == again.made


def test_processes_share_proofs_and_wait_for_a_claimed_one(tmp_path: Path) -> None:
    projects = model.build(profiles.load_profiles(fleet(tmp_path / "profiles", 1)))
    files = render.webhook_files(projects[0], render.webhooks(projects[0]), render.environment())
    store = prove.ProofStore(tmp_path / "proofs")
    store.folder.mkdir()
    first, second = prove.Prover(store), prove.Prover(store)
    assert first.ready(files) and first.report.distinct_requests == 1  # claimed, proven, shared
    assert second.ready(files) and second.report.distinct_requests == 0  # taken from the store
    first.prove(files)
    second.prove(files)
    assert first.report.proofs.keys() == second.report.proofs.keys()
    assert [s.body for p in first.report.proofs.values() for s in p.samples] == [
        s.body for p in second.report.proofs.values() for s in p.samples]
    shared = {p.name: p.read_bytes() for p in store.folder.glob("*.proof")}
    for name in shared:
        (store.folder / name).unlink()  # claimed by another process, not proven yet
    assert not prove.Prover(store).ready(files)
    for name, data in shared.items():
        (store.folder / name).write_bytes(data)
    assert prove.Prover(store).ready(files)


def test_a_project_that_waits_too_long_is_proven_in_its_own_process(tmp_path: Path) -> None:
    projects = model.build(profiles.load_profiles(fleet(tmp_path / "profiles", 1)))
    store = prove.ProofStore(tmp_path / "proofs")
    store.folder.mkdir()
    files = render.webhook_files(projects[0], render.webhooks(projects[0]), render.environment())
    prove.Prover(store).ready(files)
    for proof in store.folder.glob("*.proof"):
        proof.unlink()  # the claiming process never delivers
    maker = _Maker(None, None, store)
    maker.make(projects[0])
    assert maker.later  # waiting
    maker.finish(patience=0.0)
    assert not maker.later and maker.part.files and maker.prover.report.distinct_requests == 1


def test_an_error_in_a_worker_is_raised_in_the_main_process_with_the_workers_traceback(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    folder = fleet(tmp_path / "profiles", 6)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(render, "project_files", broken)  # the workers are forked with it
    with pytest.raises(RuntimeError, match="^a bug") as caught:
        generate(folder, jobs=2)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert notes.startswith("In a worker process:\nTraceback") and "in broken" in notes


JOINING = ("{project: p000, pagerduty: {routing_key_secret: {name: pagerduty, key: routing-key}}, routes: "
           "[{stages: [staging], events: {evaluation.finished: {}}}]}\n")


def staged_run(folder: Path, output: Path, jobs: int, reuse: bool = False) -> dict[str, bytes]:
    with Staging(output) as staging:
        result = generate(folder, jobs=jobs, stage=staging, reuse=output if reuse else None)
        staging.commit(result.made, prune=True, inputs=result.inputs(output), kept=result.kept)
    return {p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()}


def test_a_grouping_that_proves_wrong_is_undone_when_workers_stage_their_files(tmp_path: Path) -> None:
    # Both groups of p000 stage its README and setup script: the second one finds the first one's.
    folder = fleet(tmp_path / "profiles", 6)
    (folder / "p000-more.yaml").write_text("\ufeff" + JOINING.replace("project: p000", "project: p001"))  # a BOM
    (folder / "p000-zz.yaml").write_text(JOINING)
    one = staged_run(folder, tmp_path / "one", jobs=1)
    assert "p000/branches/staging/webhook/webhook.yaml" in one
    assert staged_run(folder, tmp_path / "two", jobs=2) == one


def test_a_profile_that_joins_a_kept_project_unseen_is_made_with_it(tmp_path: Path) -> None:
    # An incremental run: p000 is unchanged and kept, the others are made again, and a new profile that the
    # quick reading cannot place joins p000. Its worker made p000 from the new profile alone.
    folder = fleet(tmp_path / "profiles", 6)
    output = tmp_path / "output"
    staged_run(folder, output, jobs=2)
    for profile in folder.glob("p00[1-5].yaml"):
        profile.write_text(profile.read_text().replace("{results:", "{summary: 'Gate {result}', results:"))
    (folder / "p000-zz.yaml").write_text(JOINING)
    again = staged_run(folder, output, jobs=2, reuse=True)
    assert again == staged_run(folder, tmp_path / "scratch", jobs=1)
    assert "p000/branches/staging/webhook/webhook.yaml" in again
