"""An unchanged tree is confirmed from the manifest alone; any changed input falls back to a full run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from keptn_pagerduty import fingerprint, generator
from keptn_pagerduty.current import unchanged
from keptn_pagerduty.generator import Generation, generate
from keptn_pagerduty.problems import UserError
from keptn_pagerduty.write import MANIFEST, write

ROOT = Path(__file__).resolve().parent.parent


def generated_tree(tmp_path: Path) -> tuple[Path, Path]:
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "profiles", profiles)
    output = tmp_path / "output"
    result = generate(profiles)
    write(output, result.files, inputs=result.inputs(output))
    return profiles, output


def regenerate(profiles: Path, output: Path) -> Generation:
    result = generate(profiles, reuse=output)
    write(output, result.files, inputs=result.inputs(output), kept=result.kept)
    return result


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
    again = regenerate(profiles, output)
    fresh = generate(profiles)
    assert again.digests() == fresh.digests()  # reuse never changes a byte
    assert [p.name for p in again.projects] == ["podtato-head"]  # nothing else was loaded or rendered
    assert set(again.files) == {n for n in fresh.files if n.startswith("podtato-head/")}
    assert 0 < again.report.simulations < full.report.simulations
    assert b"Keptn Europe" in again.files["podtato-head/branches/master/webhook/webhook.yaml"]
    assert unchanged(profiles, output).current  # the manifest it wrote is the one a full run writes
    assert (output / MANIFEST).read_bytes() == manifest_of(fresh, tmp_path / "full")


@pytest.mark.parametrize("again", [False, True], ids=["first run", "run over an earlier one"])
def test_a_profile_changed_while_its_files_are_made_is_made_again_by_the_next_run(
        tmp_path: Path, monkeypatch, again: bool) -> None:
    """The manifest records each input as it was read: one edited after that is not taken as done."""
    from keptn_pagerduty import render

    profiles, output = generated_tree(tmp_path) if again else (tmp_path / "profiles", tmp_path / "output")
    if not again:
        shutil.copytree(ROOT / "profiles", profiles)
    profile = profiles / "podtato-eu.yaml"
    if again:
        profile.write_text(profile.read_text().replace("client: Keptn EU", "client: Keptn Europe"))
    render_webhooks = render.webhook_files

    def edit_then_render(*args, **kwargs):
        profile.write_text(profile.read_text().replace("client: Keptn E", "client: Keptn in E"))  # read already
        return render_webhooks(*args, **kwargs)

    monkeypatch.setattr(render, "webhook_files", edit_then_render)
    result = generate(profiles, reuse=output if again else None)
    write(output, result.files, inputs=result.inputs(output), kept=result.kept)
    monkeypatch.undo()
    assert b"Keptn in E" not in result.files["podtato-head/branches/master/webhook/webhook.yaml"]
    assert unchanged(profiles, output) is None  # not current: the next run makes the project again
    assert b"Keptn in E" in regenerate(profiles, output).files["podtato-head/branches/master/webhook/webhook.yaml"]


def manifest_of(result: Generation, output: Path) -> bytes:
    write(output, result.files, inputs=result.inputs(output))
    return (output / MANIFEST).read_bytes().replace(b"../../profiles/", b"../profiles/")


def test_a_damaged_file_is_never_reused(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    (output / "sockshop" / "send-release-finished.sh").write_text("#!/bin/sh\necho tampered\n")
    again = regenerate(profiles, output)
    assert [p.name for p in again.projects] == ["sockshop"]
    assert again.report.simulations > 0  # sockshop was rendered and proven again
    assert again.digests() == generate(profiles).digests()
    assert unchanged(profiles, output).current


def test_a_profile_that_joins_a_kept_project_reloads_that_project(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    (profiles / "sockshop-more.yaml").write_text(
        "project: sockshop\nextends: _company.yaml\nroutes:\n  - stages: [staging]\n    services: [orders]\n"
        "    events:\n      get-sli.finished: {}\n")
    again = regenerate(profiles, output)
    assert [p.name for p in again.projects] == ["sockshop"]
    assert len(again.projects[0].profiles) == 3
    assert again.digests() == generate(profiles).digests()


def test_a_removed_stage_leaves_an_orphan_that_is_never_kept_as_generated(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    profile = profiles / "legacy-shop.yaml"
    profile.write_text(profile.read_text().replace("stages: [hardening, production]", "stages: [production]"))
    regenerate(profiles, output)
    orphan = "legacy-shop/branches/hardening/webhook/webhook.yaml"
    assert orphan in json.loads((output / MANIFEST).read_text())["not_generated"]
    again = generate(profiles, reuse=output)
    assert orphan not in again.kept and not again.projects  # kept as it was, and still an orphan
    outcome = write(output, again.files, prune=True, inputs=again.inputs(output), kept=again.kept)
    assert outcome.removed == [orphan]


def test_a_project_that_loses_its_last_profile_is_not_kept(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    (profiles / "legacy-shop.yaml").unlink()
    again = generate(profiles, reuse=output)
    assert not any(name.startswith("legacy-shop/") for name in again.kept)
    assert "legacy-shop" not in again.project_names()


def test_generate_trusts_files_untouched_since_the_manifest_and_check_reads_every_file(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    written = (output / MANIFEST).stat().st_mtime_ns
    edited = output / "sockshop" / "README.md"
    edited.write_text("edited, then dated back to before the manifest\n")
    os.utime(edited, ns=(written - 10**9, written - 10**9))
    assert not generate(profiles, reuse=output).projects  # like make and git: an old file is trusted
    assert unchanged(profiles, output).stale == ["sockshop/README.md"]  # check reads every file
    os.utime(edited)  # an edit made now is newer than the manifest: read, found stale, regenerated
    assert [p.name for p in regenerate(profiles, output).projects] == ["sockshop"]
    assert unchanged(profiles, output).current


def test_a_profile_that_is_a_link_is_kept_like_any_other(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    target = tmp_path / "elsewhere" / "sockshop-delivery.yaml"
    target.parent.mkdir()
    (profiles / "sockshop-delivery.yaml").rename(target)
    (profiles / "sockshop-delivery.yaml").symlink_to(target)  # extends _company.yaml beside the link
    regenerate(profiles, output)
    again = generate(profiles, reuse=output)
    assert not again.projects and "sockshop" in again.project_names()
    target.write_text(target.read_text() + "# edited through the link\n")
    assert [p.name for p in regenerate(profiles, output).projects] == ["sockshop"]


def test_an_unreadable_profile_is_a_located_error_for_check_and_generate(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    (profiles / "broken.yaml").symlink_to(tmp_path / "nowhere.yaml")
    assert unchanged(profiles, output) is None  # not current, and no traceback: the full run says why
    with pytest.raises(UserError, match="profiles/broken.yaml: error: cannot read file"):
        generate(profiles, reuse=output)


def test_a_hand_edited_manifest_is_never_trusted_and_never_a_traceback(tmp_path: Path) -> None:
    profiles, output = generated_tree(tmp_path)
    manifest = json.loads((output / MANIFEST).read_text())
    manifest["files"]["../outside.txt"] = "0" * 64
    manifest["not_generated"] = [{"not": "a name"}, 3]
    manifest["inputs"]["profiles"]["../profiles/podtato-eu.yaml"] = {"project": ["x"]}
    (output / MANIFEST).write_text(json.dumps(manifest))
    assert unchanged(profiles, output) is None
    again = generate(profiles, reuse=output)
    write(output, again.files, prune=True, inputs=again.inputs(output), kept=again.kept)
    assert again.projects and again.digests() == generate(profiles).digests()
    assert unchanged(profiles, output).current


def test_a_hand_edited_list_of_files_no_profile_makes_is_read_as_names_only(tmp_path: Path) -> None:
    # With the inputs unchanged, `check` answers from the manifest alone: entries that are no names count
    # for nothing.
    profiles, output = generated_tree(tmp_path)
    manifest = json.loads((output / MANIFEST).read_text())
    manifest["not_generated"] = [["a list"], {"not": "a name"}, 3]
    (output / MANIFEST).write_text(json.dumps(manifest))
    outcome = unchanged(profiles, output)
    assert outcome is not None and outcome.extra == [] and not outcome.stale


def test_a_templates_folder_is_read_through_its_links_without_looping(tmp_path: Path) -> None:
    # Jinja reads `{% include "parts/footer.j2" %}` through a linked folder: so must the fingerprint.
    templates, shared = tmp_path / "templates", tmp_path / "shared-parts"
    templates.mkdir()
    shared.mkdir()
    (templates / "project-readme.md.j2").write_text('{% include "parts/footer.j2" %}\n')
    (shared / "footer.j2").write_text("Footer v1\n")
    (templates / "parts").symlink_to(shared)
    (templates / "again").symlink_to(".")  # a link to a folder above: read once, no loop
    first = fingerprint.folder_digest(templates)
    assert fingerprint.folder_digest(templates) == first
    (shared / "footer.j2").write_text("Footer v2\n")
    assert fingerprint.folder_digest(templates) != first


@pytest.mark.parametrize("change", ["point-the-link-elsewhere", "replace-the-link-by-a-file"])
def test_a_shared_file_that_is_a_link_counts_as_changed_when_the_link_does(tmp_path: Path, change: str) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    company = (ROOT / "profiles" / "_company.yaml").read_text()
    (shared / "v1.yaml").write_text(company)
    (shared / "v2.yaml").write_text(company.replace("team-shop", "team-new"))
    assert "team-new" in (shared / "v2.yaml").read_text()
    profiles = Path(shutil.copytree(ROOT / "profiles", tmp_path / "profiles"))
    (profiles / "_company.yaml").unlink()
    (profiles / "_company.yaml").symlink_to(shared / "v1.yaml")
    output = tmp_path / "output"
    first = generate(profiles)
    write(output, first.files, inputs=first.inputs(output))
    (profiles / "_company.yaml").unlink()
    if change == "point-the-link-elsewhere":
        (profiles / "_company.yaml").symlink_to(shared / "v2.yaml")
    else:
        (profiles / "_company.yaml").write_text((shared / "v2.yaml").read_text())
    assert unchanged(profiles, output) is None  # check must generate and compare
    again = regenerate(profiles, output)
    assert "sockshop" in [p.name for p in again.projects]
    assert again.digests() == generate(profiles).digests() != first.digests()


def test_a_shared_file_edited_between_the_plan_and_the_loading_is_made_again_by_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # legacy-shop is kept, sockshop made again; both extend _company.yaml, which changes while the run loads.
    profiles = Path(shutil.copytree(ROOT / "profiles", tmp_path / "profiles"))
    legacy = profiles / "legacy-shop.yaml"
    legacy.write_text(legacy.read_text().replace("project: legacy-shop\n",
                                                 "project: legacy-shop\nextends: _company.yaml\n"))
    output = tmp_path / "output"
    first = generate(profiles)
    write(output, first.files, inputs=first.inputs(output))
    delivery = profiles / "sockshop-delivery.yaml"
    delivery.write_text(delivery.read_text() + "# touched\n")
    company = profiles / "_company.yaml"
    load = generator._load

    def edit_then_load(*args, **kwargs):
        company.write_text(company.read_text().replace("team-shop", "team-new"))
        return load(*args, **kwargs)

    monkeypatch.setattr(generator, "_load", edit_then_load)
    during = regenerate(profiles, output)
    monkeypatch.undo()
    assert [p.name for p in during.projects] == ["sockshop"]  # legacy-shop kept, from the old _company.yaml
    assert unchanged(profiles, output) is None  # not taken as current: check generates and compares
    after = regenerate(profiles, output)
    assert "legacy-shop" in [p.name for p in after.projects]
    assert after.digests() == generate(profiles).digests()


def test_an_input_read_with_other_bytes_by_another_worker_is_unsettled() -> None:
    result = generator.Generation()
    generator._merge_loaded(result, {"/p/a.yaml": "1", "/p/_shared.yaml": "2"})
    generator._merge_loaded(result, {"/p/b.yaml": "3", "/p/_shared.yaml": "2"})
    assert result.unsettled == set()
    generator._merge_loaded(result, {"/p/c.yaml": "4", "/p/_shared.yaml": "5"})
    assert result.unsettled == {"/p/_shared.yaml"}
