"""Every send-*.sh of output/, run by bash with real curl against the PagerDuty stand-in.

What a user relies on: an accepted event exits 0 and shows PagerDuty's answer; a rejected one shows
PagerDuty's errors, exits non-zero and is not retried; a 429 or 5xx is retried PAGERDUTY_RETRIES times,
PAGERDUTY_RETRY_DELAY apart (0 here, to stay fast); a key of the wrong shape stops before any request;
the routing key never shows in the output nor on any command line (the body goes to curl on stdin).
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from keptn_pagerduty.pagerduty import ALERT_URL_PATH, CHANGE_URL_PATH, EVENTS_BASE_URL
from keptn_pagerduty.render import script_names
from tests.e2e.conftest import (
    OTHER_KEY,
    OUTPUT,
    ROUTING_KEY,
    SEND_TOOLS,
    IntegrationKeysPagerDuty,
    Tools,
    assert_secret_not_shown,
    make_tools,
    run_script,
)
from tests.standins.pagerduty import PagerDutyStandIn

SCRIPTS = sorted(OUTPUT.glob("*/send-*.sh"))
SEVERITIES = ("critical", "error", "warning", "info")
_SAMPLE = re.compile(r"^  ([A-Za-z0-9_-]+)\)\n    # PagerDuty action: (\S+)$", re.MULTILINE)


def script_id(script: Path) -> str:
    return script.relative_to(OUTPUT).as_posix()


def samples(script: Path) -> list[tuple[str, str]]:
    """(label, PagerDuty action) of every sample the script offers, in its order."""
    found = _SAMPLE.findall(script.read_text())
    assert found, f"{script_id(script)} offers no sample"
    return found


def is_change(script: Path) -> bool:
    return all(action == "change" for _, action in samples(script))


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    return make_tools(tmp_path / "bin", SEND_TOOLS)


def send(script: Path, tools: Tools, pagerduty_url: str, *args: str, key: str | None = ROUTING_KEY,
         **settings: str):
    env = {"PATH": str(tools.path), "PAGERDUTY_EVENTS_URL": pagerduty_url, "PAGERDUTY_RETRY_DELAY": "0", **settings}
    if key is not None:
        env["PAGERDUTY_ROUTING_KEY"] = key
    return run_script(script, *args, env=env)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_there_are_send_scripts_for_every_example_project() -> None:
    assert {s.parent.name for s in SCRIPTS} == {"sockshop", "podtato-head", "legacy-shop"}


def test_each_script_defaults_to_its_projects_region(projects) -> None:
    for project in projects.values():
        names = script_names(project)
        for n in project.notifications:
            base = EVENTS_BASE_URL[n.pagerduty.get("region", "us")]
            text = (OUTPUT / project.name / names[n.subscription_id]).read_text()
            assert f"base=${{PAGERDUTY_EVENTS_URL:-{base}}}" in text


# --- accepted ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_every_sample_is_accepted_and_does_what_its_action_says(
        script: Path, tools: Tools, pagerduty: PagerDutyStandIn) -> None:
    for number, (label, action) in enumerate(samples(script), start=1):
        run = send(script, tools, pagerduty.url, label)
        assert run.returncode == 0, f"{label}: {run.stderr}"
        requests = pagerduty.requests()
        assert len(requests) == number, f"{label}: one request per run"
        request = requests[-1]
        assert request.status == 202
        assert run.stdout.endswith("\n") and json.loads(run.stdout) == request.response
        assert request.event["routing_key"] == ROUTING_KEY
        assert request.path == (CHANGE_URL_PATH if action == "change" else ALERT_URL_PATH)
        if action == "change":
            assert request.outcome == "change"
        elif action in SEVERITIES:
            assert request.outcome in ("opened", "updated")
            alert = pagerduty.open_alert(ROUTING_KEY, request.event["dedup_key"])
            assert alert is not None and alert.severity == action
        else:  # resolve or acknowledge: acts on an open alert, or is dropped when there is none
            assert request.event["event_action"] == action
            assert request.outcome in ("resolved" if action == "resolve" else "acknowledged", "dropped")
        assert_secret_not_shown(ROUTING_KEY, run, tools)
    curls = tools.calls("curl")
    assert len(curls) == len(samples(script))
    assert all("--data-binary" in argv and argv[argv.index("--data-binary") + 1] == "@-" for argv in curls)


def opens_and_resolves(script: Path) -> bool:
    actions = {action for _, action in samples(script)}
    return bool(actions & set(SEVERITIES)) and "resolve" in actions


@pytest.mark.parametrize("script", [s for s in SCRIPTS if opens_and_resolves(s)], ids=script_id)
def test_a_trigger_then_a_resolve_sample_closes_the_alert(
        script: Path, tools: Tools, pagerduty: PagerDutyStandIn) -> None:
    triggers = [label for label, action in samples(script) if action in SEVERITIES]
    resolves = [label for label, action in samples(script) if action == "resolve"]
    assert send(script, tools, pagerduty.url, triggers[0]).returncode == 0
    assert send(script, tools, pagerduty.url, resolves[0]).returncode == 0
    opened, resolved = pagerduty.requests()
    assert opened.outcome == "opened" and resolved.outcome == "resolved"
    (alert,) = pagerduty.alerts()
    assert alert.status == "resolved" and alert.actions == ["trigger", "resolve"]


# --- rejected ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_a_400_shows_pagerdutys_errors_and_is_not_retried(script: Path, tools: Tools) -> None:
    with IntegrationKeysPagerDuty({OTHER_KEY}) as pagerduty:
        run = send(script, tools, pagerduty.url)
        assert run.returncode == 1, run.stdout + run.stderr
        assert run.stdout == ""
        assert '"errors": ["Invalid routing key"]' in run.stderr
        assert "error: PagerDuty rejected the event (HTTP 400)" in run.stderr
        assert len(pagerduty.requests()) == 1
        assert_secret_not_shown(ROUTING_KEY, run, tools)


@pytest.mark.parametrize("script", [s for s in SCRIPTS if is_change(s)], ids=script_id)
def test_a_change_event_to_a_ruleset_key_is_refused_once(script: Path, tools: Tools,
                                                         pagerduty: PagerDutyStandIn) -> None:
    ruleset_key = "R" + ROUTING_KEY[1:]
    run = send(script, tools, pagerduty.url, key=ruleset_key)
    assert run.returncode == 1
    assert "is a ruleset key" in run.stderr and "(HTTP 400)" in run.stderr
    assert [r.outcome for r in pagerduty.requests()] == ["invalid"]
    assert_secret_not_shown(ruleset_key, run, tools)


# --- retried -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_a_429_is_retried_and_then_accepted(script: Path, tools: Tools, pagerduty: PagerDutyStandIn) -> None:
    pagerduty.fail_next(1, 429)
    run = send(script, tools, pagerduty.url)
    assert run.returncode == 0, run.stderr
    assert [r.status for r in pagerduty.requests()] == [429, 202]
    assert json.loads(run.stdout) == pagerduty.requests()[-1].response
    assert "PagerDuty answered HTTP 429; retrying in 0s (try 2 of 4)" in run.stderr
    assert tools.calls("sleep") == [["sleep", "0"]]
    assert_secret_not_shown(ROUTING_KEY, run, tools)


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_repeated_5xx_gives_up_after_one_plus_retries_tries(script: Path, tools: Tools,
                                                            pagerduty: PagerDutyStandIn) -> None:
    for retries, status in ((0, 500), (2, 503)):
        before = len(pagerduty.requests())
        pagerduty.fail_next(retries + 1, status)
        run = send(script, tools, pagerduty.url, PAGERDUTY_RETRIES=str(retries))
        assert run.returncode == 1
        assert len(pagerduty.requests()) - before == retries + 1
        assert f"error: PagerDuty answered HTTP {status}; gave up after {retries + 1} tries" in run.stderr
        assert "Internal server error" in run.stderr  # PagerDuty's answer is shown
        assert_secret_not_shown(ROUTING_KEY, run, tools)
    assert all(r.outcome == "injected" for r in pagerduty.requests())


def test_an_unreachable_pagerduty_is_retried_then_reported(tools: Tools) -> None:
    run = send(SCRIPTS[0], tools, closed_port_url(), PAGERDUTY_RETRIES="1")
    assert run.returncode == 1
    assert "error: PagerDuty answered HTTP 000; gave up after 2 tries" in run.stderr
    assert len(tools.calls("curl")) == 2


# --- refused before sending --------------------------------------------------------------------------------


BAD_KEYS = {
    "unset": None,
    "empty": "",
    "31-chars": ROUTING_KEY[:31],
    "33-chars": ROUTING_KEY + "x",
    "dash": ROUTING_KEY[:31] + "-",
    "space": ROUTING_KEY[:16] + " " + ROUTING_KEY[17:],
    "newline": ROUTING_KEY + "\n",
    "non-ascii": ROUTING_KEY[:31] + "é",
    "rest-api-key": "u+AbCdEfGhIjKlMnOpQr",
}


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_a_key_of_the_wrong_shape_exits_2_without_a_request(script: Path, tools: Tools,
                                                            pagerduty: PagerDutyStandIn) -> None:
    for case, bad in BAD_KEYS.items():
        run = send(script, tools, pagerduty.url, key=bad)
        assert run.returncode == 2, f"{case}: {run.stdout}{run.stderr}"
        assert "error: set PAGERDUTY_ROUTING_KEY to the 32-character integration key" in run.stderr, case
        if bad:
            assert_secret_not_shown(bad.strip(), run, tools)
    assert pagerduty.requests() == [] and tools.calls("curl") == []


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_an_unknown_sample_exits_2_without_a_request(script: Path, tools: Tools) -> None:
    run = send(script, tools, closed_port_url(), "no-such-sample")
    assert run.returncode == 2
    labels = " ".join(label for label, _ in samples(script))
    assert f"error: unknown sample 'no-such-sample'; choose one of: {labels}" in run.stderr
    assert tools.calls("curl") == []


@pytest.mark.parametrize("script", SCRIPTS, ids=script_id)
def test_help_shows_the_header_with_the_scripts_name(script: Path, tools: Tools) -> None:
    run = send(script, tools, "http://unused.invalid", "--help", key=None)
    assert run.returncode == 0
    assert f"Usage: {script.name} [{'|'.join(label for label, _ in samples(script))}]" in run.stdout
    assert "set -euo pipefail" not in run.stdout and "${0" not in run.stdout


@pytest.mark.parametrize("setting", ["PAGERDUTY_RETRIES=abc", "PAGERDUTY_RETRIES=1e3", "PAGERDUTY_RETRIES=-1",
                                     "PAGERDUTY_RETRIES=a[$(touch pwned)]", "PAGERDUTY_RETRY_DELAY=soon"])
def test_retry_settings_that_are_no_whole_numbers_exit_2_without_a_request(setting: str, tools: Tools,
                                                                          tmp_path: Path) -> None:
    name, value = setting.split("=", 1)
    run = send(SCRIPTS[0], tools, closed_port_url(), **{name: value})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "error: PAGERDUTY_RETRIES and PAGERDUTY_RETRY_DELAY take whole numbers" in run.stderr
    assert tools.calls("curl") == []
    assert not (SCRIPTS[0].parent / "pwned").exists()


def test_a_url_curl_cannot_use_is_reported_at_once_not_retried(tools: Tools) -> None:
    run = send(SCRIPTS[0], tools, "htps://events.example.com", PAGERDUTY_RETRIES="3")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "error: curl could not send the event to htps://events.example.com" in run.stderr
    assert "check PAGERDUTY_EVENTS_URL" in run.stderr
    assert len(tools.calls("curl")) == 1


def test_the_users_curlrc_is_not_read(tools: Tools, pagerduty: PagerDutyStandIn, tmp_path: Path) -> None:
    # A .curlrc that traces everything would print the body, routing key included.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".curlrc").write_text("--trace-ascii /dev/stderr\n--include\n")
    run = send(SCRIPTS[0], tools, pagerduty.url, HOME=str(home))
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["status"] == "success"
    assert_secret_not_shown(ROUTING_KEY, run, tools)
