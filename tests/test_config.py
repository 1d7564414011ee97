"""Where profiles, output and templates are: option > environment > keptn-pagerduty.yaml > default."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from keptn_pagerduty import config
from keptn_pagerduty.cli import main
from keptn_pagerduty.problems import UserError

from .terminal import CONSOLE_SCRIPT, ROOT, clean_env


def resolve(folder: Path, options: dict | None = None, env: dict | None = None) -> config.Settings:
    return config.resolve(options or {}, env or {}, folder)


def write_config(folder: Path, text: str) -> Path:
    path = folder / config.CONFIG_FILE
    path.write_text(text)
    return path


def test_defaults_without_anything(tmp_path: Path) -> None:
    settings = resolve(tmp_path)
    assert settings.profiles_dir == tmp_path / "profiles" and settings.profiles.origin == "default"
    assert settings.output_dir == tmp_path / "output"
    assert settings.templates_dir is None
    assert settings.config_file is None
    assert config.resolve({}, {}).profiles_dir == Path("profiles")  # relative stays relative


def test_config_file_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    write_config(tmp_path, "profiles: keptn/profiles\noutput: ../generated\ntemplates: tpl\n")
    settings = resolve(tmp_path)
    assert settings.profiles_dir == tmp_path / "keptn" / "profiles"
    assert settings.output_dir == tmp_path / ".." / "generated"
    assert settings.templates_dir == tmp_path / "tpl"
    assert (settings.profiles.origin, settings.profiles.line) == ("config", 1)
    assert settings.output.line == 2 and settings.templates.line == 3
    assert settings.config_file == tmp_path / config.CONFIG_FILE


def test_precedence_option_then_environment_then_config_then_default(tmp_path: Path) -> None:
    write_config(tmp_path, "profiles: from-config\noutput: from-config-out\n")
    env = {"KEPTN_PAGERDUTY_PROFILES": "/from/env", "KEPTN_PAGERDUTY_TEMPLATES": "/env/templates"}
    settings = resolve(tmp_path, {"profiles": Path("/from/option")}, env)
    assert (settings.profiles_dir, settings.profiles.origin) == (Path("/from/option"), "option")
    assert (settings.output_dir, settings.output.origin) == (tmp_path / "from-config-out", "config")
    assert (settings.templates_dir, settings.templates.origin) == (Path("/env/templates"), "environment")
    settings = resolve(tmp_path, {}, env)
    assert (settings.profiles_dir, settings.profiles.origin) == (Path("/from/env"), "environment")
    settings = resolve(tmp_path, {}, {"KEPTN_PAGERDUTY_PROFILES": ""})  # empty: not set
    assert settings.profiles.origin == "config"


def test_an_empty_config_file_and_null_values_mean_defaults(tmp_path: Path) -> None:
    write_config(tmp_path, "# nothing yet\n")
    assert resolve(tmp_path).profiles.origin == "default"
    write_config(tmp_path, "templates:\n")
    assert resolve(tmp_path).templates_dir is None


@pytest.mark.parametrize("text, line, column, message", [
    ("profiles: p\nprofile: q\n", 2, 1, "unknown key `profile`"),
    ("output: [a, b]\n", 1, 1, "`output` must be a folder path (text), not a list"),
    ("output: 3\n", 1, 1, "`output` must be a folder path (text), not a number"),
    ("output: ''\n", 1, 1, "`output` must be a folder path (text), not empty text"),
    ("- profiles\n", 1, 1, "the config file must be a mapping of keys to values"),
    ("profiles: p\nprofiles: q\n", 2, 1, "duplicate key 'profiles'"),
    ("profiles: [p\n", 2, 1, "YAML syntax error"),
])
def test_a_bad_config_file_is_a_located_problem(tmp_path: Path, text: str, line: int, column: int,
                                                 message: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(UserError) as caught:
        resolve(tmp_path)
    problem = caught.value.problems[0]
    assert problem.file.endswith(config.CONFIG_FILE)
    assert (problem.line, problem.column) == (line, column)
    assert message in problem.message


def test_unknown_key_gets_a_suggestion(tmp_path: Path) -> None:
    write_config(tmp_path, "templats: t\n")
    with pytest.raises(UserError) as caught:
        resolve(tmp_path)
    assert caught.value.problems[0].hint == "did you mean `templates`?"


def test_a_missing_folder_is_reported_where_it_was_named(tmp_path: Path) -> None:
    write_config(tmp_path, "# settings\nprofiles: nowhere\ntemplates: no-templates\n")
    settings = resolve(tmp_path)
    with pytest.raises(UserError) as caught:
        settings.require_folders("profiles", "templates")
    located = {(p.line, p.path) for p in caught.value.problems}
    assert located == {(2, "profiles"), (3, "templates")}
    settings = resolve(tmp_path, {}, {"KEPTN_PAGERDUTY_TEMPLATES": str(tmp_path / "nope")})
    with pytest.raises(UserError) as caught:
        settings.require_folders("templates")
    assert caught.value.problems[0].file == "$KEPTN_PAGERDUTY_TEMPLATES"


# --- Through the command line ------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working folder whose profiles live somewhere else than profiles/."""
    shutil.copytree(ROOT / "profiles", tmp_path / "keptn" / "alerting")
    return tmp_path


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=clean_env(**env))


def test_generate_and_check_follow_the_config_file(project: Path) -> None:
    write_config(project, "profiles: keptn/alerting\noutput: keptn/generated\n")
    result = cli("generate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "keptn" / "generated" / "sockshop" / "configure-keptn.sh").is_file()
    assert "keptn/generated/sockshop/README.md" in result.stderr
    assert cli("check", cwd=project).returncode == 0
    assert cli("validate", cwd=project).returncode == 0


def test_environment_wins_over_the_config_file_and_options_over_both(project: Path) -> None:
    write_config(project, "profiles: keptn/alerting\noutput: from-config\n")
    result = cli("generate", "-q", cwd=project, KEPTN_PAGERDUTY_OUTPUT="from-env")
    assert result.returncode == 0, result.stderr
    assert (project / "from-env" / "sockshop").is_dir() and not (project / "from-config").exists()
    result = cli("generate", "-q", "--output", "from-option", cwd=project, KEPTN_PAGERDUTY_OUTPUT="from-env")
    assert result.returncode == 0, result.stderr
    assert (project / "from-option" / "sockshop").is_dir() and not (project / "from-config").exists()
    # Environment alone, no config file:
    (project / config.CONFIG_FILE).unlink()
    result = cli("validate", cwd=project, KEPTN_PAGERDUTY_PROFILES=str(project / "keptn" / "alerting"))
    assert result.returncode == 0, result.stderr


def test_bad_config_exits_1_with_file_and_line(project: Path) -> None:
    write_config(project, "profiles: keptn/alerting\noutptu: out\n")
    for command in ("generate", "validate", "check"):
        result = cli(command, cwd=project)
        assert result.returncode == 1, command
        assert result.stderr.startswith("keptn-pagerduty.yaml:2:1: error: outptu: unknown key `outptu`")
        assert "did you mean `output`?" in result.stderr
    as_json = json.loads(cli("validate", "--format", "json", cwd=project).stdout)
    assert as_json["status"] == "fail"
    assert as_json["errors"][0]["file"] == "keptn-pagerduty.yaml" and as_json["errors"][0]["line"] == 2
    assert not (project / "output").exists() and not (project / "out").exists()


def test_a_folder_the_config_names_that_does_not_exist(project: Path) -> None:
    write_config(project, "profiles: keptn/alerts\n")
    result = cli("validate", cwd=project)
    assert result.returncode == 1
    assert result.stderr.startswith("keptn-pagerduty.yaml:1:1: error: profiles: the folder of profiles keptn/alerts "
                                    "folder not found")


def test_missing_templates_folder_is_an_error_not_silently_ignored(project: Path) -> None:
    result = cli("validate", "--profiles", "keptn/alerting", "--templates", "my-templates", cwd=project)
    assert result.returncode == 1
    assert "my-templates: error: a folder of templates" in result.stderr


def test_user_templates_are_used_and_go_through_the_same_proofs(project: Path) -> None:
    templates = project / "keptn" / "templates"
    templates.mkdir()
    bundled = (ROOT / "templates" / "webhook.yaml.j2").read_text()
    (templates / "webhook.yaml.j2").write_text("# Reviewed by the platform team.\n" + bundled)
    write_config(project, "profiles: keptn/alerting\ntemplates: keptn/templates\n")
    result = cli("generate", "-q", cwd=project)
    assert result.returncode == 0, result.stderr
    webhook = project / "output" / "sockshop" / "branches" / "production" / "webhook" / "webhook.yaml"
    assert webhook.read_text().startswith("# Reviewed by the platform team.\n")

    # A template that adds a field with a literal % to the body: valid JSON, but Keptn reads the % as a
    # printf verb and the request goes to a broken URL.
    payload = "{{ hook.payload | indent(12) }}"
    assert payload in bundled
    add_note = "replace('\"routing_key\"', '\"note\": \"100% sure\", \"routing_key\"')"
    noted = bundled.replace(payload, f"{{{{ hook.payload | {add_note} | indent(12) }}}}")
    (templates / "webhook.yaml.j2").write_text(noted)
    result = cli("validate", cwd=project)
    assert result.returncode == 1
    assert "problems found; nothing was written." in result.stderr
    assert "%" in result.stderr
    # Dropping the subscription ids makes Keptn skip the whole file.
    without_ids = bundled.replace("      subscriptionID: {{ hook.subscription_id }}\n", "")
    (templates / "webhook.yaml.j2").write_text(without_ids)
    result = cli("validate", cwd=project)
    assert result.returncode == 1
    assert "Keptn would not load this file" in result.stderr and "SubscriptionID" in result.stderr


def test_click_runner_sees_the_same_settings(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    for name in config.ENVIRONMENT.values():
        monkeypatch.delenv(name, raising=False)
    write_config(project, "profiles: keptn/alerting\n")
    result = CliRunner().invoke(main, ["validate", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "sockshop" in json.loads(result.stdout)["projects"]
    result = CliRunner(env={"KEPTN_PAGERDUTY_PROFILES": "nowhere"}).invoke(main, ["validate"])
    assert result.exit_code == 1
    assert "$KEPTN_PAGERDUTY_PROFILES: error: the folder of profiles nowhere folder not found" in result.stderr


def test_help_names_the_environment_variables_and_the_config_file() -> None:
    text = CliRunner().invoke(main, ["generate", "--help"], terminal_width=200).output
    for name in ("KEPTN_PAGERDUTY_PROFILES", "KEPTN_PAGERDUTY_OUTPUT", "KEPTN_PAGERDUTY_TEMPLATES",
                 "keptn-pagerduty.yaml"):
        assert name in text
