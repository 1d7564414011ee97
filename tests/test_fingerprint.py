"""An unchanged tree is confirmed from the manifest alone; any changed input falls back to a full run."""

from __future__ import annotations

import shutil
from pathlib import Path

from keptn_pagerduty.generator import generate, unchanged
from keptn_pagerduty.write import write

ROOT = Path(__file__).resolve().parent.parent


def generated_tree(tmp_path: Path) -> tuple[Path, Path]:
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", profiles)
    output = tmp_path / "output"
    result = generate(profiles)
    write(output, result.files, inputs=result.inputs(output))
    return profiles, output


def test_unchanged_tree_is_current_without_generating(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    outcome = unchanged(profiles, output)
    assert outcome is not None and outcome.current


def test_a_hand_edited_output_file_is_stale(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    (output / "sockshop" / "README.md").write_text("edited\n")
    outcome = unchanged(profiles, output)
    assert outcome is not None and outcome.stale == ["sockshop/README.md"]


def test_changed_added_or_shared_inputs_need_a_full_run(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    shared = profiles / "_company.yaml"
    shared.write_text(shared.read_text() + "# a comment changes the bytes\n")
    assert unchanged(profiles, output) is None
    profiles, output = generated_tree(tmp_path / "again")
    (profiles / "new.yaml").write_text("project: new\n")
    assert unchanged(profiles, output) is None
    profiles, output = generated_tree(tmp_path / "templates")
    templates = tmp_path / "override"
    templates.mkdir()
    (templates / "webhook.yaml.j2").write_text((ROOT / "templates" / "webhook.yaml.j2").read_text())
    assert unchanged(profiles, output, templates) is None


def test_regenerate_reuses_unchanged_projects_and_reproves_the_changed_one(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    full = generate(profiles)
    profile = profiles / "podtato-eu.yaml"
    profile.write_text(profile.read_text().replace("client: Keptn EU", "client: Keptn Europe"))
    again = generate(profiles, reuse=output)
    fresh = generate(profiles)
    assert again.files == fresh.files  # reuse never changes a byte
    assert 0 < again.report.simulations < full.report.simulations
    assert again.files["podtato-head/README.md"] == fresh.files["podtato-head/README.md"]
    assert b"Keptn Europe" in again.files["podtato-head/branches/master/webhook/webhook.yaml"]


def test_a_damaged_file_is_never_reused(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    (output / "sockshop" / "send-release-finished.sh").write_text("#!/bin/sh\necho tampered\n")
    again = generate(profiles, reuse=output)
    assert again.files == generate(profiles).files
    assert again.report.simulations > 0  # sockshop was rendered and proven again
