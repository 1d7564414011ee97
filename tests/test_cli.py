"""The command line, through real subprocesses and click's runner: exit codes, formats, help."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("command", ["generate", "validate", "check", "events", "preview", "lint"])
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
    assert (error["file"], error["line"], error["column"]) == ("profiles/shop.yaml", 8, 9)
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
