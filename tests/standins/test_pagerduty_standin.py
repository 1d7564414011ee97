"""The PagerDuty stand-in over real HTTP (urllib and curl): answers, alert state, injected failures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.standins.pagerduty import PagerDutyStandIn

KEY = "0123456789abcdef0123456789abcdef"
OTHER_KEY = "fedcba9876543210fedcba9876543210"
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyStandIn]:
    with PagerDutyStandIn() as standin:
        yield standin


def post(url: str, body: Any, content_type: str = "application/json", method: str = "POST") -> tuple[int, Any, Message]:
    """Status, JSON answer (raw bytes when not JSON) and headers, without raising on 4xx/5xx."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), error.headers
    is_json = headers.get("Content-Type") == "application/json"
    return status, json.loads(raw) if is_json else raw, headers


def trigger(dedup_key: str | None = "keptn/sockshop/production/evaluation", routing_key: str = KEY,
            severity: str = "error", summary: str = "Evaluation of carts failed") -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": "trigger",
                            "payload": {"summary": summary, "source": "keptn", "severity": severity}}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def act(action: str, dedup_key: str = "keptn/sockshop/production/evaluation", routing_key: str = KEY) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}


CHANGE = {"routing_key": KEY, "payload": {"summary": "Deployed carts 1.2.3 to production", "source": "keptn"},
          "links": [{"href": "https://keptn.example.com/bridge", "text": "Keptn Bridge"}]}


# --- answers ------------------------------------------------------------------------------------------

def test_trigger_is_accepted_with_its_dedup_key(pagerduty: PagerDutyStandIn) -> None:
    status, answer, _ = post(pagerduty.url + "/v2/enqueue", trigger())
    assert (status, answer) == (202, {"status": "success", "message": "Event processed",
                                      "dedup_key": "keptn/sockshop/production/evaluation"})


def test_trigger_without_dedup_key_gets_a_fresh_one_and_a_new_alert_each_time(pagerduty: PagerDutyStandIn) -> None:
    keys = [post(pagerduty.url + "/v2/enqueue", trigger(dedup_key=None))[1]["dedup_key"] for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    assert keys[0] != keys[1]
    assert [alert.dedup_key for alert in pagerduty.alerts()] == keys


def test_invalid_event_is_refused_like_pagerduty(pagerduty: PagerDutyStandIn) -> None:
    body = trigger(severity="Critical")
    del body["payload"]["source"]
    status, answer, _ = post(pagerduty.url + "/v2/enqueue", body)
    assert status == 400
    assert answer == {"status": "invalid event", "message": "Event object is invalid", "errors": [
        "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
        "'payload.source' is missing or blank"]}
    assert pagerduty.alerts() == []
    [request] = pagerduty.requests()
    assert (request.status, request.outcome, request.event) == (400, "invalid", body)


def test_unparsable_json_and_wrong_content_type_are_unrecognized(pagerduty: PagerDutyStandIn) -> None:
    status, answer, _ = post(pagerduty.url + "/v2/enqueue", b'{"routing_key": ')
    assert (status, answer) == (400, {"status": "Unrecognized object", "message": "Event object format is unrecognized",
                                      "errors": ["JSON parse error"]})
    status, answer, _ = post(pagerduty.url + "/v2/enqueue", trigger(), content_type="application/x-www-form-urlencoded")
    assert status == 400
    assert answer["status"] == "Unrecognized object"
    assert "Content-Type" in answer["errors"][0]
    status, _, _ = post(pagerduty.url + "/v2/enqueue", trigger(), content_type="application/json; charset=utf-8")
    assert status == 202
    assert [r.status for r in pagerduty.requests()] == [400, 400, 202]


def test_unknown_path_is_404_and_other_methods_are_405(pagerduty: PagerDutyStandIn) -> None:
    assert post(pagerduty.url + "/v1/enqueue", trigger())[0] == 404
    status, _, headers = post(pagerduty.url + "/v2/enqueue", b"", method="GET")
    assert (status, headers["Allow"]) == (405, "POST")
    assert post(pagerduty.url + "/v2/change/enqueue", b"", method="PUT")[0] == 405
    assert [r.outcome for r in pagerduty.requests()] == ["not found", "not allowed", "not allowed"]


# --- alert state --------------------------------------------------------------------------------------

def test_trigger_resolve_trigger_opens_a_second_alert(pagerduty: PagerDutyStandIn) -> None:
    enqueue = pagerduty.url + "/v2/enqueue"
    post(enqueue, trigger())
    assert post(enqueue, act("resolve"))[0] == 202
    assert pagerduty.open_alert(KEY, "keptn/sockshop/production/evaluation") is None
    post(enqueue, trigger(summary="Evaluation of carts failed again"))
    first, second = pagerduty.alerts()
    assert (first.number, first.status, first.actions) == (1, "resolved", ["trigger", "resolve"])
    assert (second.number, second.status, second.summary) == (2, "triggered", "Evaluation of carts failed again")
    assert pagerduty.open_alert(KEY, "keptn/sockshop/production/evaluation") == second
    assert [r.outcome for r in pagerduty.requests()] == ["opened", "resolved", "opened"]


def test_trigger_updates_the_open_alert_then_acknowledge_and_resolve(pagerduty: PagerDutyStandIn) -> None:
    enqueue = pagerduty.url + "/v2/enqueue"
    post(enqueue, trigger(severity="warning", summary="Evaluation of carts: warning"))
    post(enqueue, trigger(severity="critical", summary="Evaluation of carts failed"))
    [alert] = pagerduty.alerts()
    assert (alert.status, alert.severity, alert.summary) == ("triggered", "critical", "Evaluation of carts failed")
    post(enqueue, act("acknowledge"))
    assert pagerduty.open_alert(KEY, alert.dedup_key).status == "acknowledged"
    post(enqueue, act("resolve"))
    [alert] = pagerduty.alerts()
    assert (alert.status, alert.actions) == ("resolved", ["trigger", "trigger", "acknowledge", "resolve"])
    assert [r.outcome for r in pagerduty.requests()] == ["opened", "updated", "acknowledged", "resolved"]


def test_acknowledge_or_resolve_without_an_open_alert_is_accepted_but_dropped(pagerduty: PagerDutyStandIn) -> None:
    enqueue = pagerduty.url + "/v2/enqueue"
    for action in ("resolve", "acknowledge"):
        status, answer, _ = post(enqueue, act(action))
        assert (status, answer["dedup_key"]) == (202, "keptn/sockshop/production/evaluation")
    post(enqueue, trigger())
    post(enqueue, act("resolve", routing_key=OTHER_KEY))  # another integration: not this alert
    post(enqueue, act("resolve"))
    post(enqueue, act("resolve"))  # already resolved
    assert [r.outcome for r in pagerduty.requests()] == [
        "dropped", "dropped", "opened", "dropped", "resolved", "dropped"]
    assert [alert.status for alert in pagerduty.alerts()] == ["resolved"]


def test_alerts_are_snapshots(pagerduty: PagerDutyStandIn) -> None:
    post(pagerduty.url + "/v2/enqueue", trigger())
    [before] = pagerduty.alerts()
    post(pagerduty.url + "/v2/enqueue", act("resolve"))
    assert (before.status, before.actions) == ("triggered", ["trigger"])


def test_change_events_are_recorded_and_do_not_open_alerts(pagerduty: PagerDutyStandIn) -> None:
    status, answer, _ = post(pagerduty.url + "/v2/change/enqueue", CHANGE)
    assert (status, answer) == (202, {"status": "success", "message": "Change event processed"})
    status, answer, _ = post(pagerduty.url + "/v2/change/enqueue", {**CHANGE, "event_action": "trigger"})
    assert status == 400
    assert answer["errors"] == [
        "'event_action' is not a field of this event (allowed here: images, links, payload, routing_key)"]
    assert pagerduty.change_events() == [CHANGE]
    assert pagerduty.alerts() == []


def test_concurrent_events_keep_one_alert_per_dedup_key(pagerduty: PagerDutyStandIn) -> None:
    bodies = [trigger(dedup_key=f"key-{i % 5}") for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda body: post(pagerduty.url + "/v2/enqueue", body)[0], bodies))
    assert statuses == [202] * 40
    assert sorted(alert.dedup_key for alert in pagerduty.alerts()) == [f"key-{i}" for i in range(5)]
    assert sorted(r.outcome for r in pagerduty.requests()).count("opened") == 5


# --- injected failures ----------------------------------------------------------------------------------

def test_fail_next_answers_429_with_retry_after_then_recovers(pagerduty: PagerDutyStandIn) -> None:
    pagerduty.fail_next(2, 429, retry_after=7)
    for _ in range(2):
        status, answer, headers = post(pagerduty.url + "/v2/enqueue", trigger())
        assert (status, answer["status"], headers["Retry-After"]) == (429, "throttle event", "7")
    assert pagerduty.alerts() == []
    assert post(pagerduty.url + "/v2/enqueue", trigger())[0] == 202
    assert [r.outcome for r in pagerduty.requests()] == ["injected", "injected", "opened"]


def test_fail_next_answers_5xx_without_retry_after(pagerduty: PagerDutyStandIn) -> None:
    pagerduty.fail_next(1, 500)
    status, answer, headers = post(pagerduty.url + "/v2/change/enqueue", CHANGE)
    assert (status, "Retry-After" in headers) == (500, False)
    assert pagerduty.change_events() == []
    assert post(pagerduty.url + "/v2/change/enqueue", CHANGE)[0] == 202


def test_fail_next_refuses_statuses_that_are_not_transient(pagerduty: PagerDutyStandIn) -> None:
    with pytest.raises(ValueError):
        pagerduty.fail_next(1, 400)


def test_url_is_only_there_while_running() -> None:
    standin = PagerDutyStandIn()
    with pytest.raises(RuntimeError):
        standin.url
    with standin:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", standin.url)
    with pytest.raises(RuntimeError):
        standin.url


# --- with curl, as the Keptn webhook-service sends them -------------------------------------------------

def curl(url: str, body: Any, *options: str) -> tuple[int, Any]:
    """Status and JSON answer of a POST by curl, like a webhook-service curl command.

    The answer goes to a file because curl truncates a file before a retry, but on stdout it would
    print every attempt's answer.
    """
    with tempfile.TemporaryDirectory() as folder:
        answer_file = Path(folder) / "answer.json"
        result = subprocess.run(
            ["curl", "--silent", "--show-error", "--output", str(answer_file), "--write-out", "%{http_code}",
             "--header", "Content-Type: application/json", "--data-binary", json.dumps(body), *options, url],
            capture_output=True, text=True, timeout=60, check=False)
        answer = answer_file.read_text() if answer_file.exists() else ""
    return int(result.stdout), json.loads(answer) if answer else None


@needs_curl
def test_curl_trigger_invalid_and_change(pagerduty: PagerDutyStandIn) -> None:
    assert curl(pagerduty.url + "/v2/enqueue", trigger())[0] == 202
    status, answer = curl(pagerduty.url + "/v2/enqueue", {**trigger(), "routing_key": "short"})
    assert status == 400
    assert answer["errors"] == ["Length of 'routing_key' is incorrect (should be 32 characters)"]
    assert curl(pagerduty.url + "/v2/change/enqueue", CHANGE) == (
        202, {"status": "success", "message": "Change event processed"})
    assert curl(pagerduty.url + "/v2/enqueue", act("resolve"))[0] == 202
    assert [alert.status for alert in pagerduty.alerts()] == ["resolved"]
    assert pagerduty.change_events() == [CHANGE]
    assert pagerduty.requests()[0].headers["user-agent"].startswith("curl/")


@needs_curl
def test_curl_retry_gets_through_injected_503(pagerduty: PagerDutyStandIn) -> None:
    pagerduty.fail_next(1, 503)
    status, answer = curl(pagerduty.url + "/v2/enqueue", trigger(), "--retry", "3", "--retry-delay", "1")
    assert (status, answer["status"]) == (202, "success")
    assert [r.status for r in pagerduty.requests()] == [503, 202]


@needs_curl
def test_curl_retry_honours_retry_after_on_429(pagerduty: PagerDutyStandIn) -> None:
    pagerduty.fail_next(1, 429, retry_after=1)
    started = time.monotonic()
    assert curl(pagerduty.url + "/v2/enqueue", trigger(), "--retry", "3")[0] == 202
    assert time.monotonic() - started >= 0.9
    assert [r.status for r in pagerduty.requests()] == [429, 202]


@needs_curl
def test_curl_retry_does_not_repeat_a_400(pagerduty: PagerDutyStandIn) -> None:
    resolve_without_dedup_key = {"routing_key": KEY, "event_action": "resolve"}
    status, _ = curl(pagerduty.url + "/v2/enqueue", resolve_without_dedup_key, "--retry", "3", "--retry-delay", "1")
    assert status == 400
    assert [r.status for r in pagerduty.requests()] == [400]
