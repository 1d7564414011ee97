"""`init`: a commented profile from a few answers, proven before it is written, never over another file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from yamllint import linter
from yamllint.config import YamlLintConfig

from keptn_pagerduty import cli, scaffold
from keptn_pagerduty.cli import main
from keptn_pagerduty.generator import generate
from keptn_pagerduty.problems import UserError

from .terminal import CONSOLE_SCRIPT, ROOT, clean_env, in_terminal

FULL = ["--project", "shop", "--secret-name", "pd", "--secret-key", "integration-key", "--region", "eu",
        "--stages", "staging,production", "--bridge-url", "https://keptn.example.com/bridge"]


def invoke(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, answers: str | None = None,
           terminal: bool = False):
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: terminal)
    return CliRunner().invoke(main, ["init", *args], input=answers)


def test_flags_only_writes_a_commented_profile_that_validates(tmp_path: Path, monkeypatch) -> None:
    result = invoke(FULL, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    path = tmp_path / "profiles" / "shop.yaml"
    assert result.stderr.splitlines()[0] == "    create  profiles/shop.yaml"
    text = path.read_text()
    assert text.count("\n#") + text.count("  #") >= 10  # commented
    data = yaml.safe_load(text)
    assert data["project"] == "shop"
    assert data["pagerduty"] == {"region": "eu", "routing_key_secret": {"name": "pd", "key": "integration-key"}}
    assert data["keptn"]["bridge_url"] == "https://keptn.example.com/bridge"
    assert data["routes"][0]["stages"] == ["staging", "production"]
    generated = generate(tmp_path / "profiles")
    assert "shop/branches/production/webhook/webhook.yaml" in generated.files
    assert "events.eu.pagerduty.com" in generated.files["shop/branches/staging/webhook/webhook.yaml"].decode()


def test_the_profile_passes_yamllint_with_the_repository_settings(tmp_path: Path, monkeypatch) -> None:
    assert invoke(FULL, tmp_path, monkeypatch).exit_code == 0
    assert invoke(["--project", "other"], tmp_path, monkeypatch).exit_code == 0
    conf = YamlLintConfig(file=str(ROOT / ".yamllint.yaml"))
    for path in (tmp_path / "profiles").iterdir():
        problems = list(linter.run(path.read_text(), conf))
        assert problems == [], (path, problems)


def test_without_a_terminal_only_project_is_required(tmp_path: Path, monkeypatch) -> None:
    result = invoke(["--project", "minimal"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "profiles" / "minimal.yaml").read_text())
    assert data["pagerduty"] == {"region": "us", "routing_key_secret": {"name": "pagerduty", "key": "routing-key"}}
    assert "stages" not in data["routes"][0]
    assert data["keptn"] == {"default_branch": "main"}  # no Bridge URL: the line is a comment


def test_without_a_terminal_missing_flags_are_listed_and_nothing_is_asked(tmp_path: Path, monkeypatch) -> None:
    result = invoke([], tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert "missing --project" in result.stderr and "stdin is not a terminal" in result.stderr
    assert not (tmp_path / "profiles").exists()


def test_real_subprocess_with_stdin_not_a_terminal(tmp_path: Path) -> None:
    result = subprocess.run([str(CONSOLE_SCRIPT), "init", "--region", "eu"], cwd=tmp_path, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, env=clean_env(), timeout=60)
    assert result.returncode == 2
    assert "Error: missing --project" in result.stderr
    assert "Keptn project" not in result.stderr  # no prompt
    ok = subprocess.run([str(CONSOLE_SCRIPT), "init", "--project", "piped"], cwd=tmp_path, capture_output=True,
                        text=True, stdin=subprocess.DEVNULL, env=clean_env(), timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "profiles" / "piped.yaml").is_file()


@pytest.mark.parametrize("flag, value, words", [
    ("--project", "Sock_Shop", "Keptn names are lower-case"),
    ("--secret-name", "PagerDuty", "a Kubernetes name"),
    ("--secret-key", "routing key", "letters, digits"),
    ("--stages", "staging,staging", "listed twice"),
    ("--stages", "staging,Prod", "Keptn names"),
    ("--bridge-url", "keptn.example.com", "http(s) URL"),
    ("--region", "de", "'de' is not one of"),
])
def test_bad_answers_are_usage_errors(tmp_path: Path, monkeypatch, flag: str, value: str, words: str) -> None:
    args = ["--project", "shop", flag, value] if flag != "--project" else [flag, value]
    result = invoke(args, tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert words in result.stderr
    assert not (tmp_path / "profiles").exists()


def test_never_overwrites_a_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "profiles" / "shop.yaml"
    target.parent.mkdir()
    target.write_text("# mine\n")
    result = invoke(["--project", "shop"], tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert "profiles/shop.yaml: error: already exists; init never overwrites a file" in result.stderr
    assert target.read_text() == "# mine\n"
    with pytest.raises(UserError):
        scaffold.write_new(scaffold.Scaffold(target, "project: x\n"))
    assert target.read_text() == "# mine\n"


def test_output_file_and_the_configured_profiles_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "keptn-pagerduty.yaml").write_text("profiles: alerting\n")
    assert invoke(["--project", "shop"], tmp_path, monkeypatch).exit_code == 0
    assert (tmp_path / "alerting" / "shop.yaml").is_file()
    assert invoke(["--project", "shop", "--output", "elsewhere/mine.yaml"], tmp_path, monkeypatch).exit_code == 0
    assert (tmp_path / "elsewhere" / "mine.yaml").is_file()
    result = invoke(["--project", "shop", "--output", "elsewhere/_shared.yaml"], tmp_path, monkeypatch)
    assert result.exit_code == 1 and "must end in .yaml and not start with _" in result.stderr


def test_a_profile_that_clashes_with_existing_ones_is_not_written(tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    result = invoke(["--project", "sockshop", "--stages", "production", "--output", "profiles/more.yaml"],
                    tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert "already claimed" in result.stderr and "profiles/more.yaml" in result.stderr
    assert "nothing was written." in result.stderr
    assert not (tmp_path / "profiles" / "more.yaml").exists()
    ok = invoke(["--project", "sockshop", "--stages", "dev"], tmp_path, monkeypatch)  # a stage nobody claims
    assert ok.exit_code == 0, ok.output


def test_existing_problems_elsewhere_do_not_block_a_valid_profile(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.yaml").write_text("project: Broken\n")
    result = invoke(["--project", "shop"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "note: other profiles in profiles have problems already" in result.stderr


def test_prompts_on_a_terminal_ask_again_after_a_bad_answer(tmp_path: Path, monkeypatch) -> None:
    answers = "Bad_Name\nshop\n\n\neu\nstaging, production\n\n"
    result = invoke([], tmp_path, monkeypatch, answers=answers, terminal=True)
    assert result.exit_code == 0, result.output
    assert "Keptn names are lower-case" in result.output
    assert "Keptn secret that holds the PagerDuty integration key [pagerduty]:" in result.output
    data = yaml.safe_load((tmp_path / "profiles" / "shop.yaml").read_text())
    assert data["pagerduty"]["region"] == "eu"
    assert data["routes"][0]["stages"] == ["staging", "production"]


def test_prompts_only_for_what_the_flags_do_not_give(tmp_path: Path, monkeypatch) -> None:
    result = invoke(["--project", "shop", "--region", "us", "--secret-name", "pd", "--secret-key", "k"],
                    tmp_path, monkeypatch, answers="\nhttps://keptn.example.com/bridge\n", terminal=True)
    assert result.exit_code == 0, result.output
    assert "Keptn project" not in result.output and "Stages to watch" in result.output
    data = yaml.safe_load((tmp_path / "profiles" / "shop.yaml").read_text())
    assert data["keptn"]["bridge_url"] == "https://keptn.example.com/bridge"


def test_prompts_in_a_real_terminal(tmp_path: Path) -> None:
    run = in_terminal([str(CONSOLE_SCRIPT), "init"], tmp_path, clean_env(NO_COLOR="1"),
                      answers="terminal-shop\n\n\n\nproduction\n\n")
    assert run.returncode == 0, run.terminal
    assert "Keptn project:" in run.terminal and "create  profiles/terminal-shop.yaml" in run.terminal
    assert yaml.safe_load((tmp_path / "profiles" / "terminal-shop.yaml").read_text())["routes"][0]["stages"] == \
        ["production"]


@pytest.mark.parametrize("value", ["true", "1.0", "null", "a: b", "x #y"])
def test_values_yaml_would_misread_are_quoted(value: str) -> None:
    assert yaml.safe_load(f"k: {scaffold._quote(value)}")["k"] == value


@pytest.mark.parametrize(("output", "message"), [
    ("a-file/shop.yaml", "a-file: error: is a file, not a folder for the profile"),
    ("a-file/deeper/shop.yaml", "a-file/deeper/shop.yaml: error: cannot write: Not a directory"),
])
def test_init_where_it_cannot_write_is_a_located_error(tmp_path: Path, output: str, message: str) -> None:
    (tmp_path / "a-file").write_text("a file of the user's\n")
    result = subprocess.run([str(CONSOLE_SCRIPT), "init", "--project", "shop", "--output", output], cwd=tmp_path,
                            env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert (tmp_path / "a-file").read_text() == "a file of the user's\n"
