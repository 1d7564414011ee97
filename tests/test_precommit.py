"""The pre-commit hook and the GitHub Actions example in docs/ci.md really work."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from keptn_pagerduty import __version__
from keptn_pagerduty.cli import main

from .terminal import ROOT, VENV_BIN, clean_env

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
HOOK = next(h for h in HOOKS if h["id"] == "keptn-pagerduty-check")


def entry_argv(entry: str) -> list[str]:
    """pre-commit runs `entry` from the hook's environment: here, the console script installed in the venv."""
    argv = shlex.split(entry)
    executable = VENV_BIN / argv[0]
    assert executable.is_file(), f"{argv[0]} is not installed in {VENV_BIN}"
    return [str(executable), *argv[1:]]


def test_the_hook_file_declares_the_check() -> None:
    assert HOOK["entry"] == "keptn-pagerduty check"
    assert HOOK["language"] == "python"
    assert HOOK["pass_filenames"] is False
    assert set(HOOK) <= {"id", "name", "description", "entry", "language", "pass_filenames", "files",
                         "always_run", "require_serial", "types", "stages", "minimum_pre_commit_version"}


@pytest.mark.parametrize("path, runs", [
    ("profiles/sockshop.yaml", True), ("profiles/_company.yaml", True), ("templates/webhook.yaml.j2", True),
    ("output/sockshop/README.md", True), ("keptn/profiles/a.yaml", True), ("keptn-pagerduty.yaml", True),
    ("README.md", False), ("src/app.py", False), ("myprofiles/a.yaml", False),
])
def test_the_hook_runs_for_profiles_templates_and_output(path: str, runs: bool) -> None:
    assert bool(re.search(HOOK["files"], path)) is runs


def test_the_hook_entry_passes_on_a_current_checkout(tmp_path: Path) -> None:
    """The entry, as a real subprocess, in a copy of this repository's profiles and output (generated fresh,
    so that work in progress on the generator cannot make this test about something else)."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    assert subprocess.run([*entry_argv("keptn-pagerduty generate"), "-q"], cwd=tmp_path, env=clean_env(),
                          timeout=120).returncode == 0
    result = subprocess.run(entry_argv(HOOK["entry"]), cwd=tmp_path, capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("ok: output is current")


def test_the_hook_entry_passes_on_this_repository() -> None:
    result = subprocess.run(entry_argv(HOOK["entry"]), cwd=ROOT, capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 0, (
        "the committed output/ is not what profiles/ generate: run `python generate.py` and commit\n"
        + result.stderr)


def test_the_hook_entry_fails_on_a_stale_copy(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    assert subprocess.run([*entry_argv("keptn-pagerduty generate"), "-q"], cwd=tmp_path, env=clean_env(),
                          timeout=120).returncode == 0
    profile = tmp_path / "profiles" / "sockshop-quality-gates.yaml"
    profile.write_text(profile.read_text().replace("fail: error", "fail: critical"))
    result = subprocess.run(entry_argv(HOOK["entry"]), cwd=tmp_path, capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 1
    assert "stale  output/sockshop/branches/staging/webhook/webhook.yaml" in result.stderr
    assert "is not current: run `keptn-pagerduty generate`" in result.stderr


# --- The GitHub Actions example ------------------------------------------------------------------------------

CI_DOC = (ROOT / "docs" / "ci.md").read_text()
WORKFLOW_TEXT = re.search(r"<!-- github-actions.*?-->\n```yaml\n(.*?)\n```", CI_DOC, re.S).group(1)  # type: ignore[union-attr]


def run_steps() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW_TEXT)
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_the_workflow_is_valid_yaml_with_a_job() -> None:
    workflow = yaml.safe_load(WORKFLOW_TEXT)
    assert set(workflow) >= {"name", "on", True} or set(workflow) >= {"name", "jobs"}  # `on` may load as True
    job = workflow["jobs"]["check"]
    assert job["runs-on"] and job["steps"]
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@v\d+", u) for u in uses)


def test_the_workflow_installs_this_version() -> None:
    installs = [s for s in run_steps() if s.startswith("pip install")]
    assert installs == [f"pip install keptn-pagerduty=={__version__}"]


def test_the_workflow_commands_exist_and_pass_on_a_current_tree(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    assert subprocess.run([*entry_argv("keptn-pagerduty generate"), "-q"], cwd=tmp_path, env=clean_env(),
                          timeout=120).returncode == 0
    commands = [s for s in run_steps() if s.startswith("keptn-pagerduty")]
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command.split(">")[0])
        assert argv[1] in main.commands, f"{argv[1]} is not a command"
        result = subprocess.run(entry_argv(shlex.join(argv)), cwd=tmp_path, capture_output=True, text=True,
                                env=clean_env(), timeout=120)
        assert result.returncode == 0, (command, result.stderr)
