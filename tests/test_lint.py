"""`lint`: findings on real-world-shaped webhook.yaml files, the generator's own output, and the command line.

Cases live in tests/lint_cases/<case>/: a `webhook.yaml`, the exact findings in `expected.txt` (as text,
file shown as `webhook.yaml`), and optionally `events/*.json` to lint with instead of the built-in samples.
Adding a case is adding a folder. After a deliberate change of messages, rewrite every expected.txt with
`LINT_CASES_UPDATE=1 .venv/bin/python -m pytest tests/test_lint.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from keptn_pagerduty.cli_lint import lint_command
from keptn_pagerduty.lint import find_webhook_files, lint_file, lint_text, load_events

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "lint_cases"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "webhook.yaml").is_file())
OUTPUT_FILES = sorted((ROOT / "output").glob("**/webhook.yaml"))


def _findings_text(case: Path) -> str:
    event_files = sorted((case / "events").glob("*.json")) if (case / "events").is_dir() else []
    user_events = load_events(event_files)[0] if event_files else None
    report = lint_file(case / "webhook.yaml", "webhook.yaml", user_events)
    return "".join(p.as_text() + "\n" for p in report.problems)


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def test_the_cases_the_issue_asks_for_exist() -> None:
    names = {p.name for p in CASE_DIRS}
    assert {"naive-pagerduty", "slack-message", "v1alpha1-kubernetes", "percent-in-payload",
            "approval-triggered-defaults", "does-not-decode", "clean-change-event"} <= names


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_case_findings_are_exactly_the_expected_ones(case: Path) -> None:
    actual = _findings_text(case)
    expected_file = case / "expected.txt"
    if os.environ.get("LINT_CASES_UPDATE"):
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.is_file(), f"{case.name}: add expected.txt (LINT_CASES_UPDATE=1 writes it)"
    assert actual == expected_file.read_text(encoding="utf-8")


@pytest.mark.skipif(not OUTPUT_FILES, reason="output/ has not been generated")
@pytest.mark.parametrize("path", OUTPUT_FILES, ids=[str(p.relative_to(ROOT / "output")) for p in OUTPUT_FILES])
def test_every_generated_webhook_file_lints_clean(path: Path) -> None:
    report = lint_file(path)
    assert report.problems == [], "\n".join(p.as_text() for p in report.problems)
    assert report.renders, "the file was linted without simulating anything"


MUTATIONS = {
    "urlquery dropped from the message": ("{{$t := urlquery .}}", "{{$t := .}}", "denied character '$' (from event "
                                                                              "field .data.message)"),
    "unguarded result": ('{{with index .data "result"}}{{.}}{{else}}done{{end}}', "{{.data.result}}",
                         ".data.result fails when the event has no 'result'"),
    "inline routing key": ("{{.env.routingKey}}", "u1v2w3x4y5z6a7b8c9d0e1f2a3b4c5d6", "integration key is written inline"),
    "percent in the summary": ('"summary": "Deployed', '"summary": "100% deployed', "a literal % in payload"),
    "quote in the summary": ('"summary": "Deployed', '"summary": "It\'s deployed', "a ' in payload ends the single quotes"),
    "change body sent to the alert endpoint": ("/v2/change/enqueue", "/v2/enqueue", "'event_action' is missing"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_breaking_the_clean_case_is_caught(mutation: str) -> None:
    """The clean case passes because the rules hold, not because the lint looks away."""
    old, new, expected = MUTATIONS[mutation]
    text = (CASES / "clean-change-event" / "webhook.yaml").read_text()
    assert old in text
    errors = lint_text("w.yaml", text.replace(old, new, 1)).errors
    assert any(expected in p.message for p in errors), "\n".join(p.as_text() for p in errors)


# --------------------------------------------------------------------------------------------------
# Rules not covered by a case
# --------------------------------------------------------------------------------------------------

HEAD = """apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
metadata:
  name: webhook-configuration
spec:
  webhooks:
"""


def _webhook(type_: str = "sh.keptn.event.evaluation.finished", sid: str = "11111111-2222-4333-8444-555555555555",
              url: str = "https://example.com/hook", payload: str = '{"service": "{{.data.service}}"}') -> str:
    return (f"    - type: {type_}\n      subscriptionID: {sid}\n      sendFinished: false\n      requests:\n"
            f"        - url: {url}\n          method: POST\n          payload: '{payload}'\n")


def test_a_clean_webhook_to_any_url_has_no_findings() -> None:
    report = lint_text("w.yaml", HEAD + _webhook())
    assert report.problems == []
    assert {r.sample for r in report.renders} >= {"fail", "fail/message-hostile", "pass"}
    assert all(r.command and r.command.startswith("curl --request POST") for r in report.renders)


def test_yaml_syntax_error_is_located() -> None:
    report = lint_text("w.yaml", HEAD + "    - type: [unclosed\n")
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.level == "error" and problem.line > 1
    assert problem.message.startswith("Keptn would not load this file: yaml:")


def test_unknown_api_version_points_at_api_version() -> None:
    report = lint_text("w.yaml", "kind: WebhookConfig\napiVersion: webhookconfig.keptn.sh/v2\n")
    assert [(p.line, p.path) for p in report.problems] == [(2, "apiVersion")]
    assert "unsupported webhook configuration version" in report.problems[0].message


def test_a_curl_string_in_v1beta1_is_refused_with_a_hint() -> None:
    text = HEAD + ("    - type: sh.keptn.event.test.finished\n      subscriptionID: x\n      requests:\n"
                   "        - curl --request POST https://example.com\n")
    [problem] = lint_text("w.yaml", text).problems
    assert problem.line == 10 and "webhook request URL empty" in problem.message and "v1alpha1" in problem.hint


def test_duplicate_subscription_id_is_an_error_at_the_second_webhook() -> None:
    report = lint_text("w.yaml", HEAD + _webhook() + _webhook(type_="sh.keptn.event.test.finished"))
    [problem] = report.problems
    assert problem.path == "spec.webhooks[1].subscriptionID" and "never this one" in problem.message


def test_sequence_event_type_never_runs() -> None:
    [problem] = lint_text("w.yaml", HEAD + _webhook(type_="sh.keptn.event.production.delivery.finished")).problems
    assert problem.path == "spec.webhooks[0].type" and "never runs" in problem.message


def test_a_task_of_the_users_own_shipyard_uses_the_generic_samples() -> None:
    report = lint_text("w.yaml", HEAD + _webhook(type_="sh.keptn.event.security-scan.finished"))
    assert report.problems == []
    assert report.renders and all(r.webhook == "sh.keptn.event.security-scan.finished" for r in report.renders)


def test_inline_slack_webhook_url_is_a_secret() -> None:
    url = "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx"
    problems = lint_text("w.yaml", HEAD + _webhook(url=url)).problems
    assert [p.path for p in problems if "Slack webhook URL" in p.message] == ["spec.webhooks[0].requests[0].url"]


def test_static_denied_character_is_traced_to_the_template_text() -> None:
    problems = lint_text("w.yaml", HEAD + _webhook(payload='{"s": "{{.data.service}}; done"}')).problems
    [problem] = [p for p in problems if "denied character" in p.message]
    assert "(in the template's own text)" in problem.message and "\\u003b" in problem.hint
    assert (problem.line, problem.column) == (13, 45)  # the `;` itself


def test_index_of_an_absent_key_prints_no_value_and_is_refused() -> None:
    problems = lint_text("w.yaml", HEAD + _webhook(payload='{"m": "{{index .data "message"}}"}')).problems
    messages = [p.message for p in problems]
    assert any("denied character '>'" in m and "<no value>" in m for m in messages), messages


def test_triggered_with_send_finished_warns_that_it_may_end_the_task() -> None:
    text = HEAD + _webhook(type_="sh.keptn.event.test.triggered").replace("sendFinished: false", "sendFinished: true")
    messages = [p.message for p in lint_text("w.yaml", text).problems]
    assert any("may end the task test" in m for m in messages) and any("any failed request" in m for m in messages)
    assert not any("never finishes" in m for m in messages)


def test_findings_are_deduplicated_and_name_the_first_sample() -> None:
    text = (CASES / "naive-pagerduty" / "webhook.yaml").read_text()
    problems = lint_text("w.yaml", text).problems
    refused = [p for p in problems if "Keptn refuses the command" in p.message]
    assert len(refused) == 1  # `$`, backticks and the 5,000-character message: one field, one finding
    assert "sample event: evaluation.finished [fail/message-hostile]" in refused[0].details


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(lint_command, list(args))
    return result.exit_code, result.stdout


def test_exit_codes() -> None:
    assert _invoke(str(CASES / "clean-change-event" / "webhook.yaml"))[0] == 0
    assert _invoke(str(CASES / "naive-pagerduty" / "webhook.yaml"))[0] == 1
    assert _invoke(str(CASES / "free-text-warning" / "webhook.yaml"))[0] == 0  # warnings only
    assert _invoke(str(CASES / "missing" / "webhook.yaml"))[0] == 2
    assert _invoke()[0] == 2
    assert _invoke("--format", "xml", str(CASES))[0] == 2


def test_text_output_is_file_line_col_level_message_with_hint() -> None:
    code, out = _invoke(str(CASES / "percent-in-payload" / "webhook.yaml"))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{CASES / 'percent-in-payload' / 'webhook.yaml'}:30:50: error: ")
    assert "\n    hint: in JSON text write % as \\u0025" in out


def test_json_format_has_a_stable_shape() -> None:
    code, out = _invoke("--format", "json", str(CASES / "naive-pagerduty" / "webhook.yaml"))
    report = json.loads(out)
    assert code == 1 and report["status"] == "fail"
    assert set(report) == {"status", "files", "errors", "warnings"}
    assert report["errors"] and report["warnings"]
    keys = {"file", "line", "column", "path", "message", "hint", "level", "details"}
    assert all(set(p) == keys for p in report["errors"] + report["warnings"])
    assert {p["level"] for p in report["errors"]} == {"error"}
    assert {p["level"] for p in report["warnings"]} == {"warning"}


def test_strict_makes_warnings_errors() -> None:
    path = str(CASES / "free-text-warning" / "webhook.yaml")
    code, out = _invoke("--strict", "--format", "json", path)
    report = json.loads(out)
    assert code == 1 and report["status"] == "fail" and report["warnings"] == []
    assert [p["level"] for p in report["errors"]] == ["error"]
    assert json.loads(_invoke("--format", "json", path)[1])["status"] == "ok"


def test_folder_discovery_in_a_keptn_checkout(tmp_path: Path) -> None:
    clean = (CASES / "clean-change-event" / "webhook.yaml").read_text()
    for where in ("webhook", "carts/webhook", "orders/webhook", ".git/webhook"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "webhook.yaml").write_text(clean)
    (tmp_path / "carts" / "webhook.yaml").write_text("not: a webhook file\n")  # not under webhook/
    (tmp_path / "orders" / "webhook" / "webhook.yaml").write_text(
        (CASES / "does-not-decode" / "webhook.yaml").read_text())
    files, problems = find_webhook_files([tmp_path])
    assert problems == []
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "carts/webhook/webhook.yaml", "orders/webhook/webhook.yaml", "webhook/webhook.yaml"]
    code, out = _invoke("--format", "json", str(tmp_path))
    report = json.loads(out)
    assert code == 1 and len(report["files"]) == 3
    broken = {Path(p["file"]).relative_to(tmp_path).as_posix() for p in report["errors"]}
    assert broken == {"orders/webhook/webhook.yaml"}


def test_a_folder_without_webhook_files_is_an_error(tmp_path: Path) -> None:
    code, out = _invoke(str(tmp_path))
    assert code == 1 and "no webhook/webhook.yaml under this folder" in out


def test_users_own_events_replace_the_samples(tmp_path: Path) -> None:
    sample = json.loads((ROOT / "keptn_pagerduty" / "data" / "samples" / "evaluation.finished.json").read_text())[0]
    event = sample["event"]
    event["data"]["message"] = "ok"
    (tmp_path / "mine.json").write_text(json.dumps(event))
    other = dict(event, type="sh.keptn.event.test.finished")
    (tmp_path / "other.json").write_text(json.dumps(other))
    (tmp_path / "broken.json").write_text("{")
    code, out = _invoke("--format", "json", "--show-requests", "--event", str(tmp_path / "mine.json"),
                        "--event", str(tmp_path / "other.json"), "--event", str(tmp_path / "broken.json"),
                        str(CASES / "naive-pagerduty" / "webhook.yaml"))
    report = json.loads(out)
    assert code == 1
    assert {r["sample"] for r in report["requests"]} == {str(tmp_path / "mine.json")}
    assert any("not a JSON event" in p["message"] for p in report["errors"])
    assert any("test.finished" in p["message"] and "proved nothing" in p["message"] for p in report["warnings"])
    messages = " ".join(p["message"] for p in report["errors"])
    assert "integration key" in messages and "missingkey" not in messages  # the message is present: no absence


def test_show_requests_prints_command_and_body_with_the_secret_masked() -> None:
    code, out = _invoke("--show-requests", str(CASES / "clean-change-event" / "webhook.yaml"))
    assert code == 0
    assert "# " in out and "command: curl --request POST" in out
    assert "<secret pagerduty/routing-key>" in out and "L1NTR0UT" not in out


def test_subprocess_runs_the_click_command(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(CASES / "approval-triggered-defaults", checkout / "webhook")
    result = subprocess.run([sys.executable, "-c", "from keptn_pagerduty.cli_lint import lint_command; lint_command()",
                             str(checkout)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1, result.stderr
    assert f"{checkout / 'webhook' / 'webhook.yaml'}:8:7: error: spec.webhooks[0]: the task approval never finishes" \
        in result.stdout
    assert result.stderr == "1 file(s) linted: 2 error(s), 1 warning(s).\n"


def test_json_output_stays_json_for_a_number_json_cannot_hold_again() -> None:
    # 1e400 parses as infinity: shown as JSON again it would print Infinity, which no JSON parser takes.
    text = (CASES / "clean-change-event" / "webhook.yaml").read_text()
    assert '"summary": "' in text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "webhook.yaml"
        path.write_text(text.replace('"summary": "', '"n": 1e400, "summary": "', 1))
        result = subprocess.run([sys.executable, str(ROOT / "generate.py"), "lint", str(path), "--format", "json",
                                 "--show-requests"], capture_output=True, text=True, timeout=60)
    def refuse(constant: str) -> None:
        raise ValueError(constant)
    output = json.loads(result.stdout, parse_constant=refuse)
    assert output["requests"] and all("1e400" in r["body"] for r in output["requests"] if r["body"])
