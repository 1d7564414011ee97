"""The command line, through real subprocesses and click's runner: exit codes, formats, help."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keptn_pagerduty.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "keptn_pagerduty" / "data" / "samples"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "generate.py"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("command", ["generate", "validate", "check", "events", "preview", "lint", "init"])
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout and "--help" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert run("nonsense").returncode == 2
    assert run("generate", "--format", "xml").returncode == 2
    assert run("events", "evalution.finished").returncode == 2


def test_no_arguments_generates_output_from_profiles(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    result = run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "output" / "sockshop" / "configure-keptn.sh").is_file()
    assert "created" in result.stderr and "sample events proven" in result.stderr
    again = run(cwd=tmp_path)
    assert "0 created, 0 updated" in again.stderr


def test_generate_into_a_chosen_folder_then_check(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    assert run("generate", "--output", str(out), "--quiet").returncode == 0
    assert run("check", "--output", str(out)).returncode == 0
    readme = out / "sockshop" / "README.md"
    readme.write_text("edited\n")
    (out / "sockshop" / "send-release-finished.sh").unlink()
    result = run("check", "--output", str(out), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "fail"
    assert report["stale"] == ["sockshop/README.md"]
    assert report["missing"] == ["sockshop/send-release-finished.sh"]
    assert readme.read_text() == "edited\n"


def test_an_output_path_that_is_a_file_is_a_located_error(tmp_path: Path) -> None:
    taken = tmp_path / "output"
    taken.write_text("mine\n")
    result = run("generate", "--output", str(taken))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{taken}: error: is a file, not a folder for the generated files" in result.stderr
    assert taken.read_text() == "mine\n"


def test_check_fails_on_a_leaked_integration_key(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("generate", "--output", str(out), "--quiet").returncode == 0
    (out / "notes.txt").write_text("key: u+abcdefghijklmnopqrstuvwxyz012345\nkey abcdefghijklmnopqrstuvwxyz012345\n")
    result = run("check", "--output", str(out))
    assert result.returncode == 1
    assert "notes.txt:2:5" in result.stderr and "integration key" in result.stderr


def test_validate_writes_nothing(tmp_path: Path) -> None:
    result = run("validate", "--profiles", str(ROOT / "profiles"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_json_errors_have_a_stable_shape(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "bad_profiles" / "unknown-key-typo" / "profiles"
    result = run("validate", "--profiles", str(bad), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "fail"
    error = report["errors"][0]
    assert {"file", "line", "column", "path", "message", "hint", "level"} <= set(error)
    assert (error["file"], error["line"], error["column"]) == (f"{bad.as_posix()}/shop.yaml", 8, 9)
    assert error["message"] == "unknown key `sumary`" and error["hint"] == "did you mean `summary`?"


def test_events_lists_types_and_fields() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["events"])
    assert listing.exit_code == 0 and "evaluation.finished" in listing.output
    detail = runner.invoke(main, ["events", "evaluation.finished"])
    assert detail.exit_code == 0
    assert "{evaluation.score}" in detail.output and "{message}" in detail.output
    as_json = json.loads(runner.invoke(main, ["events", "evaluation.finished", "--format", "json"]).output)
    assert as_json[0]["type"] == "sh.keptn.event.evaluation.finished"


def sample(name: str, label: str) -> dict:
    return next(e["event"] for e in json.loads((SAMPLES / f"{name}.json").read_text()) if e["label"] == label)


def test_preview_a_profile_routes_the_event_like_keptn(tmp_path: Path) -> None:
    event = sample("evaluation.finished", "fail")
    event["data"].update(project="sockshop", stage="production", service="carts")
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = run("preview", "--profile", str(ROOT / "profiles" / "sockshop-quality-gates.yaml"),
                 "--event", str(path), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    request = report["requests"][0]
    assert request["source"] == "sockshop/branches/production/webhook/webhook.yaml"
    assert request["body"]["event_action"] == "trigger"
    assert request["body"]["payload"]["severity"] == "critical"
    assert request["body"]["routing_key"] == "<secret pagerduty:routing-key>"
    assert request["argv"][0] == "curl" and request["argv"][-1] == "--fail-with-body"


def test_preview_a_hand_written_webhook_shows_keptns_error(tmp_path: Path) -> None:
    webhook = tmp_path / "webhook.yaml"
    webhook.write_text("""apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
metadata:
  name: webhook-configuration
spec:
  webhooks:
    - type: sh.keptn.event.evaluation.finished
      subscriptionID: 0f2b6a46-3f0c-4f0e-9d44-9a1b3d0c1e22
      sendFinished: true
      requests:
        - url: https://hooks.example.com/notify
          method: POST
          payload: '{"text": "{{.data.message}}"}'
""")
    event = sample("evaluation.finished", "fail")
    event["data"]["message"] = "objective 'p95' > 1000; failed"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = run("preview", "--webhook", str(webhook), "--event", str(path))
    assert result.returncode == 1
    assert "Keptn error:" in result.stdout


# --- Command-line experience: action lines, --quiet, events, completion, entry points -----------------------

CONSOLE_SCRIPT = Path(sys.executable).parent / "keptn-pagerduty"
VERBS = ("create", "update", "identical", "remove", "orphan", "stale", "missing", "extra")


def script(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    return subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env=env)


def action_lines(stderr: str) -> list[tuple[str, str]]:
    """(verb, path) of each copier-like action line; the verb is right-aligned in 10 columns."""
    found = []
    for line in stderr.splitlines():
        if line[:10].strip() in VERBS and line[10:12] == "  " and line[:10] == line[:10].rjust(10):
            found.append((line[:10].strip(), line[12:]))
    return found


def test_generate_reports_each_file_like_copier_then_one_summary(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    first = script("generate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = action_lines(first.stderr)
    assert lines and {verb for verb, _ in lines} == {"create"}
    assert ("create", "output/sockshop/configure-keptn.sh") in lines
    summary = first.stderr.splitlines()[-1]
    assert summary.startswith("21 files for 3 project(s): 21 created, 0 updated, 0 unchanged, 0 removed;")
    assert len(first.stderr.splitlines()) == len(lines) + 1  # nothing else is printed

    profile = tmp_path / "profiles" / "sockshop-quality-gates.yaml"
    profile.write_text(profile.read_text().replace("Quality gate {result}", "Gate {result}"))
    (tmp_path / "profiles" / "legacy-shop.yaml").unlink()
    second = script("generate", "--prune", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    verbs = dict((path, verb) for verb, path in action_lines(second.stderr))
    assert verbs["output/sockshop/branches/production/webhook/webhook.yaml"] == "update"
    assert verbs["output/sockshop/configure-keptn.sh"] == "identical"
    assert verbs["output/legacy-shop/configure-keptn.sh"] == "remove"
    assert "updated" in second.stderr.splitlines()[-1] and "5 removed" in second.stderr.splitlines()[-1]


def test_check_reports_stale_missing_and_extra_as_action_lines(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("generate", "--output", str(out), "--quiet").returncode == 0
    (out / "sockshop" / "README.md").write_text("edited\n")
    (out / "sockshop" / "send-release-finished.sh").unlink()
    result = run("check", "--output", str(out))
    assert result.returncode == 1
    assert ("stale", f"{out}/sockshop/README.md") in action_lines(result.stderr)
    assert ("missing", f"{out}/sockshop/send-release-finished.sh") in action_lines(result.stderr)
    assert "is not current" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("inputs", ["unchanged", "changed"])
def test_check_reports_files_no_profile_makes_now_whether_inputs_changed_or_not(tmp_path: Path, inputs: str) -> None:
    # An unchanged fingerprint is answered from the manifest alone: it must see the orphans too.
    profiles = Path(shutil.copytree(ROOT / "profiles", tmp_path / "profiles"))
    out = tmp_path / "out"
    assert run("generate", "--profiles", str(profiles), "--output", str(out), "--quiet").returncode == 0
    (profiles / "legacy-shop.yaml").unlink()
    assert run("generate", "--profiles", str(profiles), "--output", str(out), "--quiet").returncode == 0
    if inputs == "changed":
        with (profiles / "podtato-eu.yaml").open("a") as profile:
            profile.write("# a comment\n")
    result = run("check", "--profiles", str(profiles), "--output", str(out))
    assert result.returncode == 1, result.stderr
    assert ("extra", f"{out}/legacy-shop/README.md") in action_lines(result.stderr)
    assert result.stderr.splitlines()[-1] == (f"{out} is not current: run `keptn-pagerduty generate --prune` "
                                              "and commit the result.")
    assert run("generate", "--profiles", str(profiles), "--output", str(out), "--prune", "-q").returncode == 0
    assert run("check", "--profiles", str(profiles), "--output", str(out)).returncode == 0


QUIET_COMMANDS = {
    "generate": ["generate", "--output", "{tmp}/out"],
    "validate": ["validate"],
    "check": ["check", "--output", "{generated}"],
    "events": ["events", "evaluation.finished"],
    "preview": ["preview", "--profile", "profiles/sockshop-quality-gates.yaml",
                "--event", "docs/examples/evaluation-finished-fail.json"],
    "lint": ["lint", "{generated}/sockshop/branches/production/webhook/webhook.yaml"],
    "init": ["init", "--project", "quiet-shop", "--output", "{tmp}/profiles/quiet-shop.yaml"],
}


@pytest.fixture(scope="module")
def generated_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "output"
    result = CliRunner().invoke(main, ["generate", "--profiles", str(ROOT / "profiles"), "--output", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", sorted(QUIET_COMMANDS))
def test_quiet_is_accepted_by_every_command_and_leaves_stderr_empty(command: str, tmp_path: Path,
                                                                    generated_output: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = [a.replace("{tmp}", str(tmp_path)).replace("{generated}", str(generated_output))
            for a in QUIET_COMMANDS[command]]
    loud = CliRunner().invoke(main, args)
    assert loud.exit_code == 0, loud.output
    if command == "init":
        Path(args[-1]).unlink()
    quiet = CliRunner().invoke(main, [*args, "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    if command == "events":  # the table stays, its explanations go
        assert quiet.stdout and set(quiet.stdout.splitlines()) < set(loud.stdout.splitlines())
    else:
        assert quiet.stdout == loud.stdout
    if command not in ("events", "preview"):  # these print their result on stdout, and nothing on stderr
        assert loud.stderr != ""
    assert set(main.commands) == set(QUIET_COMMANDS), "a new command needs --quiet and a line here"


def test_quiet_before_the_command_and_with_no_command(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    bare = script("-q", cwd=tmp_path)
    assert bare.returncode == 0 and bare.stderr == ""
    assert (tmp_path / "output" / "sockshop" / "README.md").is_file()
    before = script("-q", "check", cwd=tmp_path)
    assert before.returncode == 0 and before.stderr == ""


def test_quiet_still_prints_problems(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "bad_profiles" / "unknown-key-typo" / "profiles"
    result = script("validate", "--quiet", "--profiles", str(bad))
    assert result.returncode == 1
    assert "unknown key `sumary`" in result.stderr


def test_problems_name_profiles_as_they_open_from_the_working_folder(tmp_path: Path) -> None:
    """A working folder with a profile of the same name must not be taken for the one at fault."""
    case = tmp_path / "elsewhere" / "shop-profiles"
    shutil.copytree(ROOT / "tests" / "bad_profiles" / "mistyped-placeholder" / "profiles", case)
    here = tmp_path / "here"
    shutil.copytree(ROOT / "profiles", here / "profiles")
    expected = "shop.yaml:8:9: error: "
    relative = script("validate", "--profiles", "../elsewhere/shop-profiles", cwd=here)
    assert relative.stderr.startswith(f"../elsewhere/shop-profiles/{expected}"), relative.stderr
    assert (here / "../elsewhere/shop-profiles/shop.yaml").is_file()
    absolute = script("generate", "--profiles", str(case), "--output", str(tmp_path / "out"), cwd=here)
    assert absolute.stderr.startswith(f"{case.as_posix()}/{expected}"), absolute.stderr
    listing = json.loads(script("check", "--profiles", str(case), "--output", str(tmp_path / "out"),
                                "--format", "json", cwd=here).stdout)
    assert [e["file"] for e in listing["errors"]] == [f"{case.as_posix()}/shop.yaml"]
    preview = script("preview", "--profile", "../elsewhere/shop-profiles/shop.yaml", "--event",
                     str(ROOT / "docs" / "examples" / "evaluation-finished-fail.json"), cwd=here)
    assert preview.stderr.startswith(f"../elsewhere/shop-profiles/{expected}"), preview.stderr
    # In the usual layout (the profiles folder in the working folder) names stay as the generated files quote them.
    usual = script("validate", "--profiles", "shop-profiles", cwd=case.parent)
    assert usual.stderr.startswith(f"shop-profiles/{expected}"), usual.stderr
    assert "did you mean `{result}`?" in usual.stderr


def test_events_shows_optional_free_text_and_an_example() -> None:
    result = CliRunner().invoke(main, ["events", "evaluation.finished"])
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  {")}
    message, project, score = rows["{message}"], rows["{project}"], rows["{evaluation.score}"]
    assert message.split()[1:4] == ["text", "optional", "URL-encoded"]
    assert project.split()[1:3] == ["name", "always"]
    assert "as is" in project and '"sockshop"' in project
    assert score.split()[1:3] == ["number", "optional"]
    assert "URL-encoded: free text" in result.stdout
    listing = json.loads(CliRunner().invoke(main, ["events", "evaluation.finished", "--format", "json"]).stdout)
    fields = {f["name"]: f for f in listing[0]["fields"]}
    assert set(fields["message"]) == {"name", "kind", "optional", "free_text", "example", "doc"}
    assert fields["message"]["free_text"] is True and fields["message"]["optional"] is True
    assert fields["project"]["free_text"] is False and fields["project"]["optional"] is False
    url_fields = [f for f in fields.values() if f["kind"] in ("text", "url")]
    assert url_fields and all(f["free_text"] for f in url_fields)


def test_events_text_columns_stay_aligned_for_long_names() -> None:
    result = CliRunner().invoke(main, ["events", "evaluation.finished"])
    rows = [line for line in result.stdout.splitlines() if line.startswith("  {")]
    long = next(line for line in rows if line.startswith("  {temporaryData.distributor.subscriptionID}"))
    assert "}  id " in long  # at least two spaces between the name and its kind
    kind_columns = {line.index(" " + line.split()[1] + " ") for line in rows if not line.startswith("  {task}")}
    assert len(kind_columns) == 1


@pytest.mark.parametrize("shell, marker", [("bash_source", "complete -o nosort -F _keptn_pagerduty_completion"),
                                           ("zsh_source", "#compdef keptn-pagerduty"),
                                           ("fish_source", "complete --no-files --command keptn-pagerduty")])
def test_shell_completion_script_is_produced(shell: str, marker: str) -> None:
    result = script(env={**os.environ, "_KEPTN_PAGERDUTY_COMPLETE": shell})
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert not (ROOT / "output" / ".keptn-pagerduty.lock").exists()


def test_shell_completion_completes_commands_and_choices() -> None:
    env = {**os.environ, "_KEPTN_PAGERDUTY_COMPLETE": "bash_complete", "COMP_WORDS": "keptn-pagerduty va",
           "COMP_CWORD": "1"}
    assert "plain,validate" in script(env=env).stdout.splitlines()
    env.update(COMP_WORDS="keptn-pagerduty init --region ", COMP_CWORD="3")
    assert script(env=env).stdout.splitlines() == ["plain,us", "plain,eu"]


def test_readme_documents_completion() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "_KEPTN_PAGERDUTY_COMPLETE=bash_source keptn-pagerduty" in readme


@pytest.mark.parametrize("argv", [[str(CONSOLE_SCRIPT)], [sys.executable, "-m", "keptn_pagerduty"],
                                  [sys.executable, str(ROOT / "generate.py")]])
def test_every_entry_point_has_the_version(argv: list[str], tmp_path: Path) -> None:
    from keptn_pagerduty import __version__
    result = subprocess.run([*argv, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip().endswith(f"version {__version__}")


def test_a_failed_run_leaves_none_of_the_folders_it_created(tmp_path: Path) -> None:
    profiles = Path(shutil.copytree(ROOT / "profiles", tmp_path / "profiles"))
    with (profiles / "podtato-eu.yaml").open("a") as profile:
        profile.write("bogus_key: 1\n")
    result = run("generate", "--profiles", str(profiles), "--output", str(tmp_path / "new" / "a" / "b"))
    assert result.returncode == 1 and "nothing was written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles"]


@pytest.mark.parametrize(("event", "message"), [
    ("[]", "an empty list: no event to run"),
    ("1", 'is not a CloudEvent: it has no "type"'),
    ("NaN", 'is not a CloudEvent: it has no "type"'),
    ("[" * 100_000 + "]" * 100_000, "not a JSON event: nested too deep"),
    ("[{\"type\": \"sh.keptn.event.test.finished\"}, {\"type\": \"sh.keptn.event.test.finished\"}]",
     "2 events: preview runs one"),
])
def test_preview_refuses_what_is_not_one_event_without_a_traceback(tmp_path: Path, event: str, message: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(event)
    result = run("preview", "--profile", "profiles/sockshop-quality-gates.yaml", "--event", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"{path}: error: ") and message in result.stderr.splitlines()[0]


def test_preview_of_a_profile_shows_its_own_project_only() -> None:
    event = "docs/examples/evaluation-finished-fail.json"  # aimed at sockshop
    assert run("preview", "--profile", "profiles/sockshop-quality-gates.yaml", "--event", event).returncode == 0
    other = run("preview", "--profile", "profiles/legacy-shop.yaml", "--event", event)
    assert other.returncode == 1
    assert other.stderr.startswith(f"{event}: error: no subscription of these profiles receives"), other.stderr
    shared = run("preview", "--profile", "profiles/_company.yaml", "--event", event)
    assert shared.returncode == 1
    assert shared.stderr.startswith("profiles/_company.yaml: error: not a profile of its folder")


def test_profile_file_names_that_are_not_printable_text_are_escaped_in_the_files(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    text = (ROOT / "profiles" / "legacy-shop.yaml").read_text()
    (profiles / os.fsdecode(b"bad\xff.yaml")).write_text(text)
    (profiles / "new\nline.yaml").write_text(text.replace("project: legacy-shop", "project: other-shop"))
    out = tmp_path / "out"
    result = run("generate", "--profiles", str(profiles), "--output", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert "from profiles/bad\\xff.yaml:" in (out / "legacy-shop/branches/production/webhook/webhook.yaml").read_text()
    assert "from profiles/new\\nline.yaml." in (out / "other-shop/README.md").read_text()
    assert run("check", "--profiles", str(profiles), "--output", str(out)).returncode == 0


def test_a_folder_that_refuses_a_file_fails_the_run_before_anything_moves(tmp_path: Path) -> None:
    # Root writes anywhere: then the run drops the capabilities that let it (setpriv), as a user would be.
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permissions cannot apply")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
    profiles = Path(shutil.copytree(ROOT / "profiles", tmp_path / "profiles"))
    out = tmp_path / "out"
    assert run("generate", "--profiles", str(profiles), "--output", str(out), "-q").returncode == 0
    profile = profiles / "sockshop-quality-gates.yaml"
    profile.write_text(profile.read_text().replace("Quality gate", "Quality check"))  # both stages' files
    locked = out / "sockshop" / "branches" / "production" / "webhook"
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    locked.chmod(0o555)
    try:
        result = subprocess.run([*prefix, sys.executable, str(ROOT / "generate.py"), "generate", "--profiles",
                                 str(profiles), "--output", str(out)], capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"{locked}: error: cannot write: the folder does not let this user add")
    assert result.stderr.rstrip().endswith("nothing was written.")
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
