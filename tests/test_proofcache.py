"""The proof cache: a request proven by an earlier run is not proven again; nothing else changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keptn_pagerduty import fingerprint, proofcache
from keptn_pagerduty.generator import generate
from keptn_pagerduty.problems import UserError
from keptn_pagerduty.proofcache import ProofCache

ROOT = Path(__file__).resolve().parent.parent


def test_where_the_cache_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", "/home/u")
    monkeypatch.chdir(tmp_path)
    assert proofcache.default_folder({"KEPTN_PAGERDUTY_CACHE": "~/c"}) == Path("/home/u/c")  # not ./~/c
    assert proofcache.default_folder({"KEPTN_PAGERDUTY_CACHE": "c"}) == Path(os.getcwd()) / "c"
    assert proofcache.default_folder({"KEPTN_PAGERDUTY_CACHE": "off", "HOME": "/home/u"}) is None
    assert proofcache.default_folder({"KEPTN_PAGERDUTY_CACHE": "", "HOME": "/home/u"}) is None
    assert proofcache.default_folder({"KEPTN_PAGERDUTY_CACHE": "/c"}) == Path("/c")
    assert proofcache.default_folder({"XDG_CACHE_HOME": "/x", "HOME": "/home/u"}) == Path("/x/keptn-pagerduty")
    assert proofcache.default_folder({"XDG_CACHE_HOME": "relative", "HOME": "/home/u"}) == \
        Path("/home/u/.cache/keptn-pagerduty")
    assert proofcache.default_folder({"HOME": "/home/u"}) == Path("/home/u/.cache/keptn-pagerduty")


def test_a_second_run_takes_every_proof_from_the_cache_and_makes_the_same_bytes(tmp_path: Path) -> None:
    uncached = generate(ROOT / "profiles")
    first = generate(ROOT / "profiles", cache=ProofCache(tmp_path / "cache"))
    assert first.report.reused == 0 and first.report.distinct_requests == uncached.report.distinct_requests > 0
    second = generate(ROOT / "profiles", cache=ProofCache(tmp_path / "cache"))
    assert second.report.distinct_requests == 0 and second.report.simulations == 0
    assert second.report.reused == uncached.report.distinct_requests
    assert second.files == first.files == uncached.files


def test_proofs_one_run_shares_between_its_processes_are_not_counted_as_an_earlier_run(tmp_path: Path) -> None:
    cache = ProofCache(tmp_path / "cache")
    first = generate(ROOT / "profiles", cache=cache, jobs=2)  # workers find each other's entries
    assert first.report.reused == 0 and first.report.distinct_requests > 0
    again = generate(ROOT / "profiles", cache=cache)  # the same object: entries of its own run
    assert again.report.reused == 0 and again.report.distinct_requests == 0
    assert again.files == first.files


def test_a_request_two_workers_need_is_taken_from_the_cache_once(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"  # eight projects with the same requests: both workers need each one
    profiles.mkdir()
    text = (ROOT / "profiles" / "podtato-eu.yaml").read_text()
    for index in range(8):
        (profiles / f"p{index}.yaml").write_text(text.replace("project: podtato-head", f"project: shop-{index}"))
    uncached = generate(profiles, jobs=1)
    assert uncached.report.distinct_requests == len(uncached.projects[0].notifications) > 0  # shared by all 8
    first = generate(profiles, cache=ProofCache(tmp_path / "cache"), jobs=2)
    assert first.report.reused == 0 and first.report.distinct_requests == uncached.report.distinct_requests
    warm = generate(profiles, cache=ProofCache(tmp_path / "cache"), jobs=2)  # a later run
    assert warm.report.distinct_requests == 0
    assert warm.report.reused == uncached.report.distinct_requests  # each request counted once, by one worker
    assert warm.files == first.files == uncached.files


def test_only_the_request_a_change_touches_is_proven_again(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", profiles)
    cache = tmp_path / "cache"
    before = generate(profiles, cache=ProofCache(cache))
    path = profiles / "podtato-eu.yaml"
    text = path.read_text()
    assert text.count("summary: \"") == 1
    path.write_text(text.replace("summary: \"", "summary: \"Changed: "))
    after = generate(profiles, cache=ProofCache(cache))
    assert after.report.distinct_requests == 1  # the edited event's request, and nothing else
    assert after.report.reused == before.report.distinct_requests - 1
    assert after.files == generate(profiles).files  # the same bytes as a run that proves everything
    assert after.files != before.files


def test_entries_that_cannot_be_trusted_are_ignored(tmp_path: Path) -> None:
    cache = ProofCache(tmp_path / "cache")
    assert cache.folder is not None
    first = generate(ROOT / "profiles", cache=cache)
    entries = sorted(cache.folder.glob("*.json"))
    assert len(entries) == first.report.distinct_requests
    shapes = [b"not json", b'{"exact_only": true}', b'{"exact_only": 1, "bodies": []}',
              b'{"exact_only": false, "bodies": [["a", "b", "c", "d", ["stage"]]]}', b"[]"]
    for index, entry in enumerate(entries):
        entry.write_bytes(shapes[index % len(shapes)])
    again = generate(ROOT / "profiles", cache=ProofCache(tmp_path / "cache"))
    assert again.report.reused == 0 and again.report.distinct_requests == first.report.distinct_requests
    assert again.files == first.files
    assert all(json.loads(entry.read_bytes())["bodies"] for entry in entries)  # proven and stored again


def test_a_folder_other_users_can_write_to_is_not_used(tmp_path: Path) -> None:
    first = ProofCache(tmp_path / "cache")
    assert first.folder is not None
    os.chmod(first.folder, 0o777)
    assert ProofCache(tmp_path / "cache").folder is None
    result = generate(ROOT / "profiles", cache=ProofCache(tmp_path / "cache"))
    assert result.report.reused == 0 and not list(first.folder.iterdir())
    (tmp_path / "file").write_text("")
    assert ProofCache(tmp_path / "file").folder is None  # not a folder: no cache, and no error


def test_no_cache_where_a_folder_has_no_owner_to_check(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delattr(os, "getuid")  # as on Windows
    cache = ProofCache(tmp_path / "cache")
    assert cache.folder is None and cache.get("x") is None
    cache.put("x", {"exact_only": False, "bodies": []})  # does nothing, and does not fail
    assert not (tmp_path / "cache").exists()


def test_a_failing_proof_is_not_kept(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"  # v1beta1 profiles only: the header below breaks each of their requests
    profiles.mkdir()
    for name in ("_company.yaml", "sockshop-delivery.yaml", "sockshop-quality-gates.yaml"):
        shutil.copy(ROOT / "profiles" / name, profiles / name)
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (ROOT / "templates" / "webhook.yaml.j2").read_text()
    (templates / "webhook.yaml.j2").write_text(original.replace("value: application/json",
                                                                "value: application/json; charset=utf-8"))
    cache = ProofCache(tmp_path / "cache")
    for _ in range(2):  # reported the second time too: it was proven (and failed) again
        with pytest.raises(UserError) as caught:
            generate(profiles, templates, cache=cache)
        assert "curl command contains denied character" in caught.value.problems[0].message
    assert cache.folder is not None and not list(cache.folder.glob("*.json"))
    assert generate(profiles, cache=cache).report.reused == 0  # the bundled templates: proven, then kept
    assert list(cache.folder.glob("*.json"))


def test_another_generator_uses_a_folder_of_its_own_and_old_ones_go(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "cache"
    ours = ProofCache(folder).folder
    old, recent = folder / "proofs-old", folder / "proofs-recent"
    for stale in (old, recent):
        stale.mkdir()
        (stale / "x.json").write_text("{}")
    month_ago = time.time() - (proofcache.STALE_DAYS + 1) * 86400
    os.utime(old, (month_ago, month_ago))
    monkeypatch.setattr(fingerprint, "generator_digest", lambda: "another generator")
    theirs = ProofCache(folder).folder
    assert theirs is not None and ours is not None and theirs != ours
    assert not old.exists() and recent.exists() and ours.exists()


def test_the_command_line_says_what_came_from_the_cache(tmp_path: Path) -> None:
    environment = {**os.environ, "KEPTN_PAGERDUTY_CACHE": str(tmp_path / "cache")}
    lines = []
    for output in ("one", "two"):
        run = subprocess.run([sys.executable, str(ROOT / "generate.py"), "generate", "--profiles",
                              str(ROOT / "profiles"), "--output", str(tmp_path / output)],
                             capture_output=True, text=True, env=environment, check=True)
        lines.append(run.stdout + run.stderr)
    assert "from the proof cache" not in lines[0] and "sample events proven" in lines[0]
    assert "0 sample events proven (9 requests proven by an earlier run, from the proof cache)" in lines[1]
