"""A local stand-in for PagerDuty's Events API v2, so tests can send real HTTP (urllib, curl) and then
ask what PagerDuty would have done: which alerts are open, which events were dropped, what was refused.

It validates with ``keptn_pagerduty.pagerduty`` (the same rules the generator proves its output with),
answers with PagerDuty's status codes and bodies, and keeps alert state the way PagerDuty's dedup rules
describe. ``fail_next`` injects 429/5xx answers to exercise retries.

    with PagerDutyStandIn() as pagerduty:
        post(pagerduty.url + "/v2/enqueue", event)
        assert pagerduty.open_alert(key, "keptn/sockshop/production") is not None
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keptn_pagerduty.pagerduty import ALERT_URL_PATH, CHANGE_URL_PATH, validate_event

THROTTLED = {"status": "throttle event",
             "message": "Requests for this service are arriving too quickly.  Please retry later."}
SERVER_ERROR = {"status": "error", "message": "Internal server error. Please retry later."}


@dataclass
class Alert:
    """One PagerDuty alert: opened by a trigger, closed for good by a resolve."""

    number: int  # order of opening, from 1
    routing_key: str
    dedup_key: str
    status: str  # "triggered", "acknowledged" or "resolved"
    summary: str = ""
    severity: str = ""
    source: str = ""
    actions: list[str] = field(default_factory=list)  # every event_action applied, in order


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received and answered; ``outcome`` says what it did to the state."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    event: Any  # the parsed JSON, None when it did not parse
    status: int
    response: dict[str, Any]
    # "opened", "updated", "acknowledged", "resolved", "dropped", "change", "invalid", "injected",
    # "not found" (404) or "not allowed" (405)
    outcome: str


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: int | None


class PagerDutyStandIn:
    """PagerDuty's Events API v2 on 127.0.0.1 at a free port; a context manager, or ``start``/``stop``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alerts: list[Alert] = []
        self._open: dict[tuple[str, str], Alert] = {}
        self._changes: list[dict[str, Any]] = []
        self._requests: list[RecordedRequest] = []
        self._failures: deque[_Failure] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> PagerDutyStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="pagerduty-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> PagerDutyStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``; append ``/v2/enqueue`` as with events.pagerduty.com."""
        if self._server is None:
            raise RuntimeError("the PagerDuty stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- what tests control and inspect -------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 429, retry_after: int | None = None) -> None:
        """Answer the next ``n`` POSTs to an event path with ``status`` (429 or 5xx), before looking at them;
        ``retry_after`` adds a ``Retry-After`` header (seconds)."""
        if status != 429 and not 500 <= status <= 599:
            raise ValueError(f"fail_next injects 429 or 5xx, not {status}")
        with self._lock:
            self._failures.extend(_Failure(status, retry_after) for _ in range(n))

    def alerts(self) -> list[Alert]:
        """Every alert ever opened, oldest first (copies: later events do not change them)."""
        with self._lock:
            return [_copy(alert) for alert in self._alerts]

    def open_alert(self, routing_key: str, dedup_key: str) -> Alert | None:
        """The triggered or acknowledged alert for this key pair, if any."""
        with self._lock:
            alert = self._open.get((routing_key, dedup_key))
            return _copy(alert) if alert else None

    def change_events(self) -> list[dict[str, Any]]:
        """Bodies of accepted change events, oldest first."""
        with self._lock:
            return json.loads(json.dumps(self._changes))

    def requests(self) -> list[RecordedRequest]:
        """Every request received (accepted, refused or failed on purpose), oldest first."""
        with self._lock:
            return list(self._requests)

    # --- PagerDuty's behaviour ------------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, JSON body and extra headers for one request; records the request."""
        with self._lock:
            extra_headers: dict[str, str] = {}
            event: Any = None
            if path not in (ALERT_URL_PATH, CHANGE_URL_PATH):
                status, response, outcome = 404, {}, "not found"
            elif method != "POST":
                status, response, outcome = 405, {}, "not allowed"
                extra_headers["Allow"] = "POST"
            elif self._failures:
                failure = self._failures.popleft()
                status, outcome = failure.status, "injected"
                response = THROTTLED if status == 429 else SERVER_ERROR
                if failure.retry_after is not None:
                    extra_headers["Retry-After"] = str(failure.retry_after)
            else:
                event, status, response, outcome = self._process(path, headers, body)
            self._requests.append(RecordedRequest(method, path, headers, body, event, status, response, outcome))
            return status, response, extra_headers

    def _process(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, int, dict[str, Any], str]:
        """PagerDuty's checks (media type, JSON, the event rules), then the event's effect on the state."""
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return None, 400, _unrecognized(f"Content-Type must be application/json, not {content_type!r}"), "invalid"
        try:
            event = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None, 400, _unrecognized("JSON parse error"), "invalid"
        violations = validate_event(path, event)
        if violations:
            errors = [v.message for v in violations]
            answer = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
            return event, 400, answer, "invalid"
        if path == CHANGE_URL_PATH:
            self._changes.append(event)
            return event, 202, {"status": "success", "message": "Change event processed"}, "change"
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex  # PagerDuty makes one up for a bare trigger
        outcome = self._apply(event, dedup_key)
        return event, 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, outcome

    def _apply(self, event: dict[str, Any], dedup_key: str) -> str:
        """PagerDuty's dedup rules: one open alert per (routing_key, dedup_key); acting on none drops the event."""
        action, key = event["event_action"], (event["routing_key"], dedup_key)
        alert = self._open.get(key)
        if action == "trigger":
            outcome = "updated" if alert else "opened"
            if alert is None:
                alert = self._open[key] = Alert(len(self._alerts) + 1, *key, status="triggered")
                self._alerts.append(alert)
            payload = event["payload"]
            alert.summary, alert.severity, alert.source = payload["summary"], payload["severity"], payload["source"]
        elif alert is None:
            return "dropped"
        else:
            alert.status = outcome = "acknowledged" if action == "acknowledge" else "resolved"
            if action == "resolve":
                del self._open[key]
        alert.actions.append(action)
        return outcome


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops connections from a burst of parallel senders, which then
    # wait a full second for the SYN to be retried.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing only; PagerDutyStandIn decides the answers."""

    standin: PagerDutyStandIn

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, response, extra_headers = self.standin._answer(self.command, self.path, headers, body)
        if status == 404:
            self.send_error(404)  # the HTML page a plain http.server sends
            return
        data = json.dumps(response).encode("utf-8") if response else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_POST = do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests inspect ``requests()`` instead of reading a log."""


def _unrecognized(error: str) -> dict[str, Any]:
    """PagerDuty's answer to a body that is not a JSON event at all (its OpenAPI file's error example)."""
    return {"status": "Unrecognized object", "message": "Event object format is unrecognized", "errors": [error]}


def _copy(alert: Alert) -> Alert:
    return dataclasses.replace(alert, actions=list(alert.actions))
