"""Loading profiles: positions, layering with extends, bounded work on hostile YAML."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path, PurePath

import pytest
from hypothesis import given, settings, strategies as st

from keptn_pagerduty import yamlsource
from keptn_pagerduty.profiles import _TOP_LEVEL, LoadCache, _Loader, _suffix, _top_level, load_profiles
from keptn_pagerduty.problems import UserError

ROOT = Path(__file__).resolve().parent.parent
BASE = """project: shop
pagerduty:
  routing_key_secret: {name: pagerduty, key: routing-key}
routes:
  - events:
      evaluation.finished: {}
"""


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_positions_point_at_keys_and_items() -> None:
    source = yamlsource.loads("a: 1\nb:\n  - x: [1, 2]\n", "f.yaml")
    assert source.position(("b", 0, "x", 1)) == (3, 12)
    assert source.position(("b", 0, "missing")) == (3, 5)
    assert source.problem(("b", 0, "x"), "bad").as_text() == "f.yaml:3:5: error: b[0].x: bad"


def test_duplicate_keys_are_refused_not_silently_merged() -> None:
    with pytest.raises(UserError) as caught:
        yamlsource.loads("a: 1\na: 2\n", "f.yaml")
    assert str(caught.value).startswith("f.yaml:2:1: error: a: duplicate key 'a'")


def test_alias_bomb_is_stopped_quickly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in zip("bcdefghij", "abcdefghi"):
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    start = time.perf_counter()
    with pytest.raises(UserError) as caught:
        yamlsource.loads(bomb, "bomb.yaml")
    assert time.perf_counter() - start < 5
    assert "expands to more than 100000 values" in str(caught.value)


def test_very_large_files_are_refused_before_parsing(tmp_path: Path) -> None:
    write(tmp_path / "profiles", "big.yaml", BASE + "#" + "x" * 1_100_000 + "\n")
    with pytest.raises(UserError) as caught:
        load_profiles(tmp_path / "profiles")
    assert str(caught.value).startswith("profiles/big.yaml:1:1: error: file is 1100")


def test_extends_layers_maps_and_null_removes(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    write(folder, "_base.yaml", "pagerduty:\n  client: Base\n  region: eu\nkeptn:\n  bridge_url: https://b.example.com\n"
                                "event_defaults:\n  '*':\n    custom_details: {team: a, owner: b}\n")
    write(folder, "shop.yaml", "extends: _base.yaml\n" + BASE + "keptn:\n  bridge_url: null\n"
          "event_defaults:\n  '*':\n    custom_details: {owner: null, extra: x}\n")
    (profile,) = load_profiles(folder)
    assert profile.data["pagerduty"]["region"] == "eu"
    assert profile.data["pagerduty"]["routing_key_secret"] == {"name": "pagerduty", "key": "routing-key"}
    assert "bridge_url" not in profile.data["keptn"]
    assert profile.data["keptn"]["api_version"] == "v1beta1"  # built-in default
    details = profile.data["event_defaults"]["*"]["custom_details"]
    assert details["team"] == "a" and details["extra"] == "x" and "owner" not in details
    assert profile.origin(("pagerduty", "region"))[0] == "profiles/_base.yaml"


def test_loading_group_by_group_shares_the_merged_layers_without_mixing_profiles(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    write(folder, "_base.yaml", "pagerduty:\n  client: Base\n  region: eu\n"
                                "event_defaults:\n  '*':\n    custom_details: {team: a, owner: b}\n")
    write(folder, "a.yaml", "extends: _base.yaml\n" + BASE)
    write(folder, "b.yaml", "extends: _base.yaml\n" + BASE.replace("shop", "mall").replace("pagerduty:\n", "pagerduty:\n  region: us\n")
          + "event_defaults:\n  '*':\n    custom_details: {owner: null, extra: x}\n")
    write(folder, "c.yaml", BASE.replace("shop", "lone"))
    alone = {p.data["project"]: p for p in load_profiles(folder)}
    cache = LoadCache()
    grouped = {}
    for name in ("a.yaml", "b.yaml", "c.yaml", "a.yaml"):  # as workers load: one group after another
        (profile,) = load_profiles(folder, only=[folder / name], shared=cache)
        grouped[profile.data["project"]] = profile
    for project, profile in alone.items():
        assert (grouped[project].data, grouped[project].origins) == (profile.data, profile.origins), project
    shop, mall = (grouped[p].data["event_defaults"]["*"]["custom_details"] for p in ("shop", "mall"))
    assert (shop["team"], shop["owner"], "extra" in shop) == ("a", "b", False)
    assert (mall["team"], "owner" in mall, mall["extra"]) == ("a", False, "x")
    assert grouped["mall"].data["pagerduty"]["region"] == "us"
    assert len(cache.merged) == 2  # built-in defaults (under c), and with _base.yaml (under a and b): once each


def test_paths_resolve_as_path_resolve_does_through_links_and_dots(tmp_path: Path, monkeypatch) -> None:
    """The loader resolves a name in a resolved folder with one lstat; links anywhere must still count."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.yaml").write_text("project: x\n")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "plink.yaml").symlink_to("a/p.yaml")
    (tmp_path / "dangling.yaml").symlink_to("missing.yaml")
    monkeypatch.chdir(tmp_path)
    cases = [tmp_path / "a" / "p.yaml", tmp_path / "link" / "p.yaml", tmp_path / "plink.yaml",
             tmp_path / "dangling.yaml", tmp_path / "a" / ".." / "plink.yaml", tmp_path / "link" / ".." / "a",
             tmp_path / "missing" / "p.yaml", Path("a/p.yaml"), Path("link/p.yaml"), Path("/")]
    for path in cases:
        assert _Loader(tmp_path).real(path) == path.resolve(), path
    loader = _Loader(tmp_path)  # one loader for all: what it learnt of one path must not mislead it on another
    assert [loader.real(path) for path in cases] == [path.resolve() for path in cases]
    assert loader.real(tmp_path / "link" / "p.yaml") == tmp_path.resolve() / "a" / "p.yaml"


def test_shared_files_are_not_profiles(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    write(folder, "_only-shared.yaml", "pagerduty:\n  region: eu\n")
    with pytest.raises(UserError) as caught:
        load_profiles(folder)
    assert "no profiles" in str(caught.value)


def test_all_problems_of_a_run_are_reported_together(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    write(folder, "a.yaml", BASE.replace("project: shop", "project: Shop"))
    write(folder, "b.yaml", BASE.replace("events:", "event:"))
    with pytest.raises(UserError) as caught:
        load_profiles(folder)
    files = sorted({p.file for p in caught.value.problems})
    assert files == ["profiles/a.yaml", "profiles/b.yaml"]


@pytest.mark.parametrize("kind", ["pipe", "device", "link-loop", "extends-link-loop"])
def test_an_entry_that_is_no_regular_file_is_a_located_error_not_a_hang(tmp_path: Path, kind: str) -> None:
    # Run as the command line, with a time limit: a pipe used to make generate wait forever for a writer.
    folder = tmp_path / "profiles"
    write(folder, "shop.yaml", BASE)
    entry = folder / "other.yaml"
    if kind == "pipe":
        os.mkfifo(entry)
    elif kind == "device":
        entry.symlink_to("/dev/zero")
    elif kind == "link-loop":
        entry.symlink_to("other.yaml")
    else:
        (folder / "_loop.yaml").symlink_to("_loop.yaml")
        entry.write_text(BASE.replace("project: shop", "project: other\nextends: _loop.yaml"))
    run = subprocess.run([sys.executable, str(ROOT / "generate.py"), "generate", "--profiles", str(folder),
                          "--output", str(tmp_path / "output")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    message = {"pipe": "profiles/other.yaml: error: not a regular file",
               "device": "profiles/other.yaml: error: not a regular file",
               "link-loop": "profiles/other.yaml: error: cannot read file: Too many levels of symbolic links",
               "extends-link-loop": "profiles/other.yaml:2:1: error: extends: `extends` names a file that does not exist"}
    assert run.stderr.startswith(f"{tmp_path.as_posix()}/{message[kind]}"), run.stderr  # as it opens from here
    assert not (tmp_path / "output").exists()


def test_values_are_read_as_text_keys_and_bounded_depth() -> None:
    source = yamlsource.loads("details: {1: one, true: yes, 0x10: sixteen}\n", "f.yaml")
    assert source.data == {"details": {"1": "one", "true": True, "0x10": "sixteen"}}
    with pytest.raises(UserError, match="duplicate key '1'"):
        yamlsource.loads('a: {1: x, "1": y}\n', "f.yaml")
    deep = "a: " + "[" * (yamlsource.MAX_DEPTH - 1) + "]" * (yamlsource.MAX_DEPTH - 1) + "\n"
    assert yamlsource.loads(deep, "f.yaml").data is not None  # the limit is on depth, not on what fits below
    with pytest.raises(UserError, match="nested more than 64 levels deep"):
        yamlsource.loads("a: " + "[" * 600 + "]" * 600 + "\n", "f.yaml")


_PIECES = ["project:", "extends:", " ", "\n", "\r\n", "x", '"', "'", "#", "a b", "\t", "project: p", "extends: e.yaml",
           "  project: q", "myproject: z", ":", "\ufeff"]


@settings(max_examples=500, derandomize=True)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_top_level_lines_are_read_as_the_regex_reads_every_line(text: str) -> None:
    # The grouping of a fleet's profiles tries the regex only where a line starts with the key.
    expected: dict[str, list[str]] = {"project": [], "extends": []}
    for match in _TOP_LEVEL.finditer(text):
        expected[match.group(1)].append(match.group(3))
    assert {key: _top_level(text, key) for key in expected} == expected


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet="._aylm", max_size=8))
def test_profile_names_take_the_suffix_as_a_path_does(name: str) -> None:
    assert _suffix(name) == PurePath(name).suffix
