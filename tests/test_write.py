"""Safe writes: atomic, unchanged files untouched, only owned files pruned, foreign files never overwritten."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import example, given, strategies as st

from keptn_pagerduty.fingerprint import sha256
from keptn_pagerduty.problems import UserError
from keptn_pagerduty.write import LOCK, MANIFEST, STAGING, Staging, check, indented_json, safe_relative, write


def test_creates_then_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    files = {"p/a.yaml": b"a\n", "p/run.sh": b"#!/bin/sh\n"}
    first = write(tmp_path, files)
    assert first.created == ["p/a.yaml", "p/run.sh"]
    assert os.access(tmp_path / "p/run.sh", os.X_OK)
    stamp = (tmp_path / "p/a.yaml").stat().st_mtime_ns
    inode = (tmp_path / "p/a.yaml").stat().st_ino
    second = write(tmp_path, files)
    assert second.unchanged == ["p/a.yaml", "p/run.sh"] and not second.changed
    assert (tmp_path / "p/a.yaml").stat().st_mtime_ns == stamp
    assert (tmp_path / "p/a.yaml").stat().st_ino == inode


def test_updates_by_rename_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.txt": b"1"})
    outcome = write(tmp_path, {"a.txt": b"2"})
    assert outcome.updated == ["a.txt"]
    assert (tmp_path / "a.txt").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.txt", MANIFEST])


def test_prune_removes_only_owned_files(tmp_path: Path) -> None:
    write(tmp_path, {"old/x.yaml": b"x", "keep.yaml": b"k"})
    (tmp_path / "mine.txt").write_text("written by a person")
    kept = write(tmp_path, {"keep.yaml": b"k"})
    assert kept.extra == ["old/x.yaml"] and (tmp_path / "old/x.yaml").exists()
    pruned = write(tmp_path, {"keep.yaml": b"k"}, prune=True)
    assert pruned.removed == ["old/x.yaml"]
    assert not (tmp_path / "old").exists()
    assert (tmp_path / "mine.txt").read_text() == "written by a person"


def test_never_overwrites_a_file_it_does_not_own(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("hand-written")
    with pytest.raises(UserError) as caught:
        write(tmp_path, {"a.yaml": b"generated"})
    assert "was not written by this generator" in str(caught.value)
    assert (tmp_path / "a.yaml").read_text() == "hand-written"


def test_refuses_to_write_through_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "out"
    root.mkdir()
    (root / "p").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError) as caught:
        write(root, {"p/a.yaml": b"x"})
    assert "symlink" in str(caught.value)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", "a\\b"])
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        safe_relative(path)


def test_a_second_run_is_locked_out(tmp_path: Path) -> None:
    with Staging(tmp_path):
        with pytest.raises(UserError) as caught:
            write(tmp_path, {"a": b"a"})
        assert f"another run (process {os.getpid()}) is writing this folder" in str(caught.value)
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / "a").exists() and not (tmp_path / LOCK).exists()
    write(tmp_path, {"a": b"a"})  # the lock ended with the run that held it


def test_the_lock_file_of_a_killed_run_does_not_lock_the_folder(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("123\n")  # no process holds it (tests/test_interrupt.py kills a real run)
    write(tmp_path, {"a": b"a"})
    assert (tmp_path / "a").read_bytes() == b"a" and not (tmp_path / LOCK).exists()


def test_a_link_in_place_of_the_lock_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / LOCK).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserError) as caught:
        write(tmp_path, {"a": b"a"})
    assert "cannot lock the output folder" in str(caught.value)
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "a").exists()


def test_check_reports_stale_missing_and_extra_without_writing(tmp_path: Path) -> None:
    write(tmp_path, {"a": b"1", "b": b"2", "gone": b"3"})
    (tmp_path / "a").write_bytes(b"changed")
    before = sorted(p.name for p in tmp_path.iterdir())
    outcome = check(tmp_path, digests({"a": b"1", "b": b"2", "new": b"4"}))
    assert outcome.stale == ["a", MANIFEST]
    assert outcome.missing == ["new"]
    assert outcome.extra == ["gone"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    # The manifest records each file's digest, so it is stale too until the files are written again.
    assert not check(tmp_path, digests({"a": b"changed", "b": b"2", "gone": b"3"})).current
    write(tmp_path, {"a": b"changed", "b": b"2", "gone": b"3"})
    assert check(tmp_path, digests({"a": b"changed", "b": b"2", "gone": b"3"})).current


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: sha256(data) for name, data in files.items()}


def test_manifest_records_digests_and_inputs(tmp_path: Path) -> None:
    import json

    from keptn_pagerduty.fingerprint import sha256
    from keptn_pagerduty.write import verify
    write(tmp_path, {"a": b"1"}, inputs={"fingerprint": "f", "shared": []})
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["inputs"] == {"fingerprint": "f", "shared": []}
    assert manifest["files"] == {"a": sha256(b"1")}
    assert verify(tmp_path, manifest["files"]).current
    (tmp_path / "a").write_bytes(b"2")
    assert verify(tmp_path, manifest["files"]).stale == ["a"]


def test_a_failed_run_leaves_the_output_folder_as_it_was(tmp_path: Path) -> None:
    write(tmp_path / "out", {"p/a.txt": b"1"})
    before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in (tmp_path / "out").rglob("*") if p.is_file())
    with pytest.raises(RuntimeError), Staging(tmp_path / "out") as staging:
        assert (staging.path / ".gitignore").read_text() == "*\n"  # a killed run's leftovers stay out of Git
        staging.put("p/a.txt", b"2")
        staging.put("q/b.txt", b"new")
        raise RuntimeError("a proof failed")
    after = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert after == before and not (tmp_path / "out" / STAGING).exists() and not (tmp_path / "out" / LOCK).exists()
    with pytest.raises(RuntimeError), Staging(tmp_path / "new") as staging:
        staging.put("p/a.txt", b"1")
        raise RuntimeError("a proof failed")
    assert not (tmp_path / "new").exists()  # the run created it, and takes it away again


def test_new_folders_move_into_place_whole_and_unchanged_files_are_not_staged(tmp_path: Path) -> None:
    write(tmp_path, {"old/a.txt": b"1", "old/b.txt": b"1"})
    with Staging(tmp_path) as staging:
        for name, data in {"old/a.txt": b"1", "old/b.txt": b"2", "new/x/y.sh": b"#!/bin/sh\n"}.items():
            staging.put(name, data)
        staged = sorted(p.relative_to(staging.path).as_posix() for p in staging.path.rglob("*") if p.is_file())
        assert staged == [".gitignore", "new/x/y.sh", "old/b.txt"]
        outcome = staging.commit({"old/a.txt": "x", "old/b.txt": "y", "new/x/y.sh": "z"})
    assert (outcome.created, outcome.updated, outcome.unchanged) == (["new/x/y.sh"], ["old/b.txt"], ["old/a.txt"])
    assert os.access(tmp_path / "new/x/y.sh", os.X_OK) and (tmp_path / "old/b.txt").read_bytes() == b"2"


def test_the_manifest_is_json_indented_as_the_json_module_does_it(tmp_path: Path) -> None:
    inputs = {"fingerprint": "f", "shared": [], "projects": {"p": "1"}, "nested": [{"a": [1, 2.5, None, True]}, {}],
              "profiles": {"../x é.yaml": {"project": "p", "extends": ["../_d.yaml"]}}}
    write(tmp_path, {"p/a.txt": b"1", 'p/"q".txt': b"2"}, inputs=inputs)
    text = (tmp_path / MANIFEST).read_text()
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
    assert json.loads(text)["inputs"] == inputs


def test_a_staging_folder_left_by_a_killed_run_is_cleared_by_the_next(tmp_path: Path) -> None:
    (tmp_path / STAGING / "p").mkdir(parents=True)
    (tmp_path / STAGING / "p" / "half.txt").write_bytes(b"half a fi")
    outcome = write(tmp_path, {"p/a.txt": b"1"})
    assert outcome.created == ["p/a.txt"] and not (tmp_path / STAGING).exists()
    assert not (tmp_path / "p" / "half.txt").exists()


def test_clearing_the_staging_folder_forgets_what_was_staged(tmp_path: Path) -> None:
    with Staging(tmp_path) as staging:
        staging.put("p/a.txt", b"1")
        staging.clear()
        assert [p.name for p in staging.path.iterdir()] == [".gitignore"]
        staging.put("p/b.txt", b"2")  # folders are made again after a clear
        staging.commit({"p/b.txt": sha256(b"2")})
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["b.txt"]


def test_what_stands_at_a_files_place_is_compared_by_its_own_bytes_only(tmp_path: Path) -> None:
    # a longer file, a link to the same bytes, a folder and a FIFO (opened without waiting for a writer)
    # never count as "already holds these bytes": each is staged, and commit then refuses what is in the way
    write(tmp_path, {"p/long.txt": b"12", "p/fine.txt": b"1"})
    (tmp_path / "same.txt").write_bytes(b"1")
    (tmp_path / "p" / "link.txt").symlink_to(tmp_path / "same.txt")
    (tmp_path / "p" / "folder.txt").mkdir()
    os.mkfifo(tmp_path / "p" / "fifo.txt")
    with Staging(tmp_path) as staging:
        for name in ("p/long.txt", "p/fine.txt", "p/link.txt", "p/folder.txt", "p/fifo.txt"):
            staging.put(name, b"1")
        staged = sorted(p.relative_to(staging.path).as_posix() for p in staging.path.rglob("*.txt"))
    assert staged == ["p/fifo.txt", "p/folder.txt", "p/link.txt", "p/long.txt"]


_JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_JSON = st.recursive(_JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                               max_size=4))


@given(_JSON)
@example({"files": {"a/é.sh": "0" * 64, "b\n\"c\"": "1"}, "inputs": {"shared": [], "projects": {}}})
def test_indented_json_is_json_dumps_with_indent_2(value: object) -> None:
    assert indented_json(value) == json.dumps(value, indent=2)
