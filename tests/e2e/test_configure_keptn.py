"""configure-keptn.sh of every example project, run by bash with real curl against the Keptn API stand-in.

What a user relies on: after one run Keptn holds every subscription under its generated id and filter
and every webhook.yaml at its level, byte for byte; a second run changes nothing; a wrong token or a
missing secret stops with a clear message before anything changes; --dry-run sends nothing; the API
token is never printed nor put on a command line. Each run uses jq, and again python3 with jq hidden.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from keptn_pagerduty.model import Project
from tests.e2e.conftest import (
    BASH,
    CONFIGURE_TOOLS,
    OUTPUT,
    PROJECTS,
    TOKEN,
    WRONG_TOKEN,
    Tools,
    assert_secret_not_shown,
    keptn_topology,
    make_tools,
    run_script,
    secrets_for,
)
from tests.standins.keptn_api import WEBHOOK_SERVICE_ID, KeptnApiStandIn

WEBHOOK_URI = "webhook/webhook.yaml"
SUBSCRIPTIONS_PATH = f"/api/controlPlane/v1/uniform/registration/{WEBHOOK_SERVICE_ID}/subscription"


# --- fixtures and helpers --------------------------------------------------------------------------------


@pytest.fixture(params=["jq", "python3"], ids=["with-jq", "jq-hidden"])
def tools(request: pytest.FixtureRequest, tmp_path: Path) -> Tools:
    """The whole PATH of the script: jq and the rest, or the rest without jq (python3 fallback)."""
    if request.param == "jq" and shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    names = CONFIGURE_TOOLS if request.param == "jq" else tuple(n for n in CONFIGURE_TOOLS if n != "jq")
    made = make_tools(tmp_path / "bin", names)
    assert (made.path / "jq").exists() == (request.param == "jq")
    return made


@pytest.fixture(params=PROJECTS)
def project(request: pytest.FixtureRequest, projects: dict[str, Project]) -> Project:
    return projects[request.param]


@pytest.fixture
def workdir(project: Project, tmp_path: Path) -> Path:
    """output/<project> copied elsewhere: the script must find its files relative to itself."""
    return Path(shutil.copytree(OUTPUT / project.name, tmp_path / "checkout" / project.name))


def standin(project: Project, secrets: list[dict[str, Any]] | None = None) -> KeptnApiStandIn:
    return KeptnApiStandIn(TOKEN, projects=keptn_topology(project.name),
                           secrets=secrets_for(project) if secrets is None else secrets)


@pytest.fixture
def keptn(project: Project) -> Iterator[KeptnApiStandIn]:
    with standin(project) as api:
        yield api


@pytest.fixture
def sockshop(projects: dict[str, Project], tmp_path: Path) -> tuple[Path, Tools]:
    """For the cases that do not depend on the project or the JSON tool: one project, jq hidden."""
    workdir = Path(shutil.copytree(OUTPUT / "sockshop", tmp_path / "checkout" / "sockshop"))
    return workdir, make_tools(tmp_path / "bin", tuple(n for n in CONFIGURE_TOOLS if n != "jq"))


def configure(workdir: Path, path: str, *args: str, url: str | None, token: str | None = TOKEN):
    env = {"PATH": path}
    if url is not None:
        env["KEPTN_API_URL"] = url
    if token is not None:
        env["KEPTN_API_TOKEN"] = token
    return run_script(workdir / "configure-keptn.sh", *args, env=env)


def expected_subscriptions(project: Project) -> dict[str, dict[str, Any]]:
    """What the generator's model says, as Keptn stores it (absent filter lists are Go's nil)."""
    return {n.subscription_id: {"event": n.event.type,
                                "filter": {key: n.filter.get(key) for key in ("projects", "stages", "services")}}
            for n in project.notifications}


def expected_resources(project: Project) -> dict[tuple[str, str | None, str | None, str], bytes]:
    """Every webhook.yaml at the level the model places it, with the bytes of output/."""
    found = {}
    for n in project.notifications:
        for loc in n.locations:
            stage = None if loc.level == "project" else loc.stage
            service = loc.service if loc.level == "service" else None
            found[(project.name, stage, service, WEBHOOK_URI)] = \
                (OUTPUT / project.name / "branches" / loc.branch / loc.path).read_bytes()
    return found


def changing_requests(keptn: KeptnApiStandIn) -> list[str]:
    return [f"{r.method} {r.path}" for r in keptn.requests() if r.method not in ("GET", "HEAD")]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


# --- a real run ------------------------------------------------------------------------------------------


def test_configures_every_subscription_and_file_and_a_second_run_changes_nothing(
        project: Project, workdir: Path, keptn: KeptnApiStandIn, tools: Tools) -> None:
    first = configure(workdir, str(tools.path), url=keptn.url + "/api")
    assert first.returncode == 0, first.stderr
    assert f"done: Keptn project {project.name} sends {len(project.notifications)}" in first.stdout
    assert keptn.subscriptions() == expected_subscriptions(project)
    assert keptn.resources() == expected_resources(project)
    assert keptn.unauthenticated_requests() == []
    # PUT under the fixed ids, never POST (which would create a new id each run).
    assert not [r for r in keptn.requests() if r.method == "POST" and r.path.startswith(SUBSCRIPTIONS_PATH)]
    json_tool = "jq" if (tools.path / "jq").exists() else "python3"
    assert tools.calls(json_tool), f"{json_tool} was never called"
    assert not tools.calls("python3" if json_tool == "jq" else "jq")
    assert_secret_not_shown(TOKEN, first, tools)

    state = (keptn.subscriptions(), keptn.resources())
    second = configure(workdir, str(tools.path), url=keptn.url + "/api")
    assert second.returncode == 0, second.stderr
    assert (keptn.subscriptions(), keptn.resources()) == state
    assert second.stdout == first.stdout
    assert_secret_not_shown(TOKEN, second, tools)


def test_runs_with_the_inherited_path_too(project: Project, workdir: Path, keptn: KeptnApiStandIn) -> None:
    run = configure(workdir, os.environ.get("PATH", "/usr/bin:/bin"), url=keptn.url + "/api/")
    assert run.returncode == 0, run.stderr
    assert keptn.subscriptions() == expected_subscriptions(project)
    assert keptn.resources() == expected_resources(project)
    assert_secret_not_shown(TOKEN, run)


# --- it stops before changing anything ---------------------------------------------------------------------


def test_a_wrong_token_stops_with_a_clear_error(workdir: Path, keptn: KeptnApiStandIn, tools: Tools) -> None:
    run = configure(workdir, str(tools.path), url=keptn.url + "/api", token=WRONG_TOKEN)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "answered HTTP 401" in run.stderr and "hint: check KEPTN_API_TOKEN" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 2, run.stderr
    assert keptn.subscriptions() == {} and keptn.resources() == {}
    assert len(keptn.requests()) == 1  # the first call already stops it
    assert_secret_not_shown(WRONG_TOKEN, run, tools)
    assert_secret_not_shown(TOKEN, run, tools)


def test_a_missing_secret_prints_the_command_and_changes_nothing(
        project: Project, workdir: Path, tools: Tools) -> None:
    check_secret_refused(project, workdir, tools, [])


@pytest.mark.parametrize("case", ["other-key", "other-scope"])
def test_a_secret_with_another_key_or_scope_counts_as_missing(
        projects: dict[str, Project], tools: Tools, tmp_path: Path, case: str) -> None:
    project = projects["sockshop"]
    workdir = Path(shutil.copytree(OUTPUT / project.name, tmp_path / "checkout" / project.name))
    wrong = [dict(s, data={"some-other-key": "x"}) if case == "other-key" else dict(s, scope="keptn-default")
             for s in secrets_for(project)]
    check_secret_refused(project, workdir, tools, wrong)


def check_secret_refused(project: Project, workdir: Path, tools: Tools, secrets: list[dict[str, Any]]) -> None:
    with standin(project, secrets) as keptn:
        run = configure(workdir, str(tools.path), url=keptn.url + "/api")
        assert run.returncode == 1, run.stdout + run.stderr
        for secret in secrets_for(project):
            (key,) = secret["data"]
            command = (f'keptn create secret {secret["name"]} --scope=keptn-webhook-service '
                       f'--from-literal="{key}=<integration key>"')
            assert command in run.stderr
        assert "Nothing was changed." in run.stderr
        assert changing_requests(keptn) == []
        assert keptn.subscriptions() == {} and keptn.resources() == {}
        assert_secret_not_shown(TOKEN, run, tools)


def test_dry_run_sends_nothing_and_shows_every_request(
        project: Project, workdir: Path, keptn: KeptnApiStandIn, tools: Tools) -> None:
    run = configure(workdir, str(tools.path), "--dry-run", url=keptn.url + "/api")
    assert run.returncode == 0, run.stderr
    assert keptn.requests() == []
    assert tools.calls("curl") == []
    assert "dry run: nothing was sent" in run.stdout
    for sub_id in expected_subscriptions(project):
        assert f"/subscription/{sub_id}" in run.stderr
    assert run.stderr.count("POST ") == len(expected_resources(project))
    assert_secret_not_shown(TOKEN, run, tools)


def test_dry_run_needs_no_token(sockshop: tuple[Path, Tools]) -> None:
    workdir, tools = sockshop
    run = configure(workdir, str(tools.path), "--dry-run", url=closed_port_url(), token=None)
    assert run.returncode == 0, run.stderr
    assert tools.calls("curl") == []


@pytest.mark.parametrize("case", ["no-url", "no-token", "unknown-argument"])
def test_usage_errors_exit_2_before_any_request(sockshop: tuple[Path, Tools], case: str) -> None:
    workdir, tools = sockshop
    url = None if case == "no-url" else closed_port_url()
    token = None if case == "no-token" else TOKEN
    args = ("--force",) if case == "unknown-argument" else ()
    run = configure(workdir, str(tools.path), *args, url=url, token=token)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("error: ")
    assert tools.calls("curl") == []


def test_without_jq_and_python3_it_stops_before_changing_anything(project: Project, workdir: Path,
                                                                  keptn: KeptnApiStandIn, tmp_path: Path) -> None:
    tools = make_tools(tmp_path / "bare", tuple(n for n in CONFIGURE_TOOLS if n not in ("jq", "python3")))
    run = configure(workdir, str(tools.path), url=keptn.url + "/api")
    assert run.returncode != 0
    assert "python3" in run.stderr
    assert changing_requests(keptn) == []
    assert_secret_not_shown(TOKEN, run, tools)


def test_an_unreachable_api_is_reported(sockshop: tuple[Path, Tools]) -> None:
    workdir, tools = sockshop
    url = closed_port_url()
    run = configure(workdir, str(tools.path), url=url)
    assert run.returncode == 1
    assert "error: cannot reach Keptn's API at " + url.removesuffix("/api") in run.stderr
    assert_secret_not_shown(TOKEN, run, tools)


def test_help_shows_the_header_only(sockshop: tuple[Path, Tools]) -> None:
    workdir, tools = sockshop
    run = configure(workdir, str(tools.path), "--help", url=None, token=None)
    assert run.returncode == 0
    assert run.stdout.startswith("Sets up Keptn for project sockshop")
    assert "Usage: configure-keptn.sh [--dry-run]" in run.stdout
    assert "set -euo pipefail" not in run.stdout
    assert not any(line.startswith("#") for line in run.stdout.splitlines())


# --- what the environment may hold -------------------------------------------------------------------------


def test_subscriptions_the_files_do_not_set_up_are_named_and_kept(
        project: Project, workdir: Path, keptn: KeptnApiStandIn, tools: Tools) -> None:
    # A route a profile no longer has leaves its subscription in Keptn, which keeps sending its events.
    def put(sub_id: str, projects: list[str]) -> None:
        body = json.dumps({"event": "sh.keptn.event.test.finished", "filter": {"projects": projects}}).encode()
        request = urllib.request.Request(f"{keptn.url}{SUBSCRIPTIONS_PATH}/{sub_id}", data=body, method="PUT",
                                         headers={"x-token": TOKEN, "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

    put("0d0e5c1a-0000-4000-8000-000000000001", [project.name])
    put("0d0e5c1a-0000-4000-8000-000000000002", ["another-project"])
    run = configure(workdir, str(tools.path), url=keptn.url + "/api")
    assert run.returncode == 0, run.stderr
    assert (f"warning: the webhook-service has other subscriptions for project {project.name}, which these "
            f"files do not set up:\n  0d0e5c1a-0000-4000-8000-000000000001 sh.keptn.event.test.finished\n") in run.stderr
    assert "000000000002" not in run.stderr
    assert set(keptn.subscriptions()) == set(expected_subscriptions(project)) | {
        "0d0e5c1a-0000-4000-8000-000000000001", "0d0e5c1a-0000-4000-8000-000000000002"}
    again = configure(workdir, str(tools.path), url=keptn.url + "/api")
    assert again.stderr == run.stderr


def test_no_warning_when_keptn_holds_only_these_subscriptions(
        project: Project, workdir: Path, keptn: KeptnApiStandIn) -> None:
    run = configure(workdir, os.environ.get("PATH", "/usr/bin:/bin"), url=keptn.url + "/api")
    assert run.returncode == 0 and "warning" not in run.stderr, run.stderr


def test_the_users_curlrc_is_not_read(sockshop: tuple[Path, Tools], projects: dict[str, Project],
                                     tmp_path: Path) -> None:
    workdir, tools = sockshop
    home = tmp_path / "home"
    home.mkdir()
    (home / ".curlrc").write_text("--verbose\n--include\n")  # would print the token and break the answers
    with standin(projects["sockshop"]) as keptn:
        run = run_script(workdir / "configure-keptn.sh", env={"PATH": str(tools.path), "HOME": str(home),
                                                               "KEPTN_API_URL": keptn.url + "/api",
                                                               "KEPTN_API_TOKEN": TOKEN})
        assert run.returncode == 0, run.stderr
        assert_secret_not_shown(TOKEN, run, tools)


def test_an_exported_cdpath_changes_nothing(sockshop: tuple[Path, Tools], projects: dict[str, Project],
                                           tmp_path: Path) -> None:
    workdir, tools = sockshop
    with standin(projects["sockshop"]) as keptn:
        # Run by a relative path, as `bash sockshop/configure-keptn.sh`: cd then uses CDPATH, and prints the folder.
        env = {"PATH": str(tools.path), "HOME": str(tmp_path), "LC_ALL": "C.UTF-8", "CDPATH": f".:{tmp_path}",
               "KEPTN_API_URL": keptn.url + "/api", "KEPTN_API_TOKEN": TOKEN}
        run = subprocess.run([BASH, "sockshop/configure-keptn.sh"], cwd=workdir.parent, env=env,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert keptn.resources()


class _Answering(http.server.BaseHTTPRequestHandler):
    """What may stand at KEPTN_API_URL instead of Keptn: an ingress that redirects http:// to https://,
    or a web page."""

    status = 308
    def do_GET(self) -> None:  # noqa: N802
        self.answer()

    do_POST = do_PUT = do_GET  # noqa: N815

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome</body></html>"
        self.send_response(self.status)
        if self.status == 308:
            self.send_header("Location", "https://keptn.example.com" + self.path)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[308, 200], ids=["redirect", "web-page"])
def not_keptn(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Answering,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_that_is_not_keptns_stops_with_a_clear_error(not_keptn: str, workdir: Path, tools: Tools) -> None:
    run = configure(workdir, str(tools.path), url=not_keptn)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "parse error" not in run.stderr
    if "redirect" in run.stderr:
        assert "answered HTTP 308, a redirect to https://keptn.example.com/api/controlPlane/v1/" in run.stderr
        assert "hint: set KEPTN_API_URL to the address Keptn's API answers at" in run.stderr
    else:
        assert "answered with something else than the JSON it sends; is KEPTN_API_URL Keptn's API?" in run.stderr
    assert len(tools.calls("curl")) == 1  # the first answer already stops it
    assert_secret_not_shown(TOKEN, run, tools)
