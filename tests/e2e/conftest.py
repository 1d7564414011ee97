"""End to end with real bash and real curl: the generated scripts and webhooks against the stand-ins.

Why: the unit tests prove each piece in memory; these run what a user runs (configure-keptn.sh,
send-*.sh, the curl command Keptn's webhook-service would exec) as processes, over HTTP, against the
Keptn API and PagerDuty stand-ins on free ports of 127.0.0.1.

Processes run with a PATH of "tool shims" only: one small script per command a generated script may
exec, which records its argv and execs the real program. Any other command would be "not found", so
the recorded argv lists are every command line the script produced, and a secret can be checked
against all of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from keptn_pagerduty.generator import Generation, generate
from keptn_pagerduty.model import Project
from tests.standins.pagerduty import PagerDutyStandIn

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "output"
SHARED_EVENTS = ROOT.parent / "shared" / "keptn-events"
REAL_EVENT_FILES = sorted(SHARED_EVENTS.glob("*.json")) if SHARED_EVENTS.is_dir() else []
needs_shared = pytest.mark.skipif(not REAL_EVENT_FILES, reason=f"{SHARED_EVENTS} is absent")

BASH = shutil.which("bash") or "/bin/bash"
TOKEN = "e2e-keptn-api-token-7f3a9c1d5b"
WRONG_TOKEN = "e2e-wrong-token-0000000000"
# An integration key of PagerDuty's shape (32 alphanumerics, lower case: not a ruleset key).
ROUTING_KEY = "e2ek3y0f0r0pagerduty0integr4tion"
OTHER_KEY = "e2eunkn0wn0key00000000000000abcd"
assert len(ROUTING_KEY) == len(OTHER_KEY) == 32

# The Keptn projects the example profiles are written for: stages and services as their shipyards and
# service onboarding would create them. Every stage and service a profile names must be here
# (checked by `topology`), plus some that no profile names, so "not subscribed" is exercised.
TOPOLOGY: dict[str, dict[str, list[str]]] = {
    "sockshop": {"dev": ["carts", "carts-db"], "staging": ["carts", "carts-db", "orders"],
                 "production": ["carts", "carts-db", "orders"]},
    "podtato-head": {"hardening": ["helloservice"], "production": ["helloservice"]},
    "legacy-shop": {"dev": ["frontend"], "hardening": ["frontend"], "production": ["frontend"]},
}
PROJECTS = tuple(TOPOLOGY)

# Commands the generated scripts may run (besides bash builtins). A script that needs another one
# fails with "command not found", which a test then reports.
CONFIGURE_TOOLS = ("base64", "cat", "curl", "dirname", "jq", "python3", "sed", "tr")
SEND_TOOLS = ("cat", "curl", "sed", "sleep")


@pytest.fixture(scope="session")
def generation() -> Generation:
    """The generator's model of the example profiles: what output/ must configure."""
    return generate(ROOT / "profiles")


@pytest.fixture(scope="session")
def projects(generation: Generation) -> dict[str, Project]:
    found = {p.name: p for p in generation.projects}
    assert set(found) == set(TOPOLOGY), "update TOPOLOGY in tests/e2e/conftest.py for the example projects"
    for project in found.values():
        for n in project.notifications:
            for stage in n.stages:
                assert stage in TOPOLOGY[project.name], f"{project.name}: stage {stage} missing from TOPOLOGY"
                for service in n.services:
                    assert service in TOPOLOGY[project.name][stage], \
                        f"{project.name}: service {service} of stage {stage} missing from TOPOLOGY"
    return found


def keptn_topology(*names: str) -> dict[str, Any]:
    """The `projects` argument of KeptnApiStandIn for these projects."""
    return {name: {"stages": {stage: list(services) for stage, services in TOPOLOGY[name].items()}}
            for name in names}


def secrets_for(*projects: Project) -> list[dict[str, Any]]:
    """The routing-key secrets the projects' webhooks read, created as `keptn create secret` would."""
    data: dict[str, dict[str, str]] = {}
    for project in projects:
        for n in project.notifications:
            ref = n.pagerduty["routing_key_secret"]
            data.setdefault(ref["name"], {})[ref["key"]] = ROUTING_KEY
    return [{"name": name, "scope": "keptn-webhook-service", "data": keys} for name, keys in sorted(data.items())]


class IntegrationKeysPagerDuty(PagerDutyStandIn):
    """The stand-in, knowing which integration keys exist: PagerDuty answers 400 "Invalid routing key"
    to a well-formed key that belongs to no integration (one of the real errors[] strings)."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__()
        self.keys = keys

    def _process(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, int, dict[str, Any], str]:
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        key = event.get("routing_key") if isinstance(event, dict) else None
        if isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9]{32}", key) and key not in self.keys:
            answer = {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid routing key"]}
            return event, 400, answer, "invalid"
        return super()._process(path, headers, body)


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyStandIn]:
    with PagerDutyStandIn() as standin:
        yield standin


# --- processes -----------------------------------------------------------------------------------------


@dataclass
class Tools:
    """A folder of shims to use as the whole PATH, and the argv every shim was called with."""

    path: Path
    log: Path  # a folder: one file per call, the arguments NUL-terminated

    def argvs(self) -> list[list[str]]:
        """Every recorded command line (argv[0] is the command's name), in no particular order."""
        return [[arg.decode("utf-8", "replace") for arg in record.read_bytes().split(b"\0")[:-1]]
                for record in sorted(self.log.iterdir())]

    def calls(self, name: str) -> list[list[str]]:
        return [argv for argv in self.argvs() if argv[0] == name]


def make_tools(folder: Path, names: tuple[str, ...]) -> Tools:
    """Shims for `names` in `folder`: each records its argv and execs the real command."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls"
    log.mkdir(exist_ok=True)
    for name in names:
        real = real_command(name)
        if real is None:
            continue
        shim = folder / name
        # Builtins only, so the shim itself runs nothing that would need PATH; $$ is the command's own
        # pid after exec, $RANDOM keeps a reused pid from overwriting an earlier record.
        shim.write_text(f"#!{BASH}\n"
                        f"printf '%s\\0' {name} \"$@\" >\"{log}/{name}.$$.$RANDOM$RANDOM\"\n"
                        f"exec -a {name} '{real}' \"$@\"\n")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return Tools(folder, log)


def real_command(name: str) -> str | None:
    if name == "python3":  # the interpreter itself, not a version-manager shim that needs its own PATH
        return os.path.realpath(sys.executable)
    found = shutil.which(name)
    return os.path.realpath(found) if found else None


def run_script(script: Path, *args: str, env: dict[str, str], cwd: Path | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a generated script with bash, with exactly `env` (plus HOME and a C locale)."""
    full_env = {"HOME": str(cwd or script.parent), "LC_ALL": "C.UTF-8", **env}
    return subprocess.run([BASH, str(script), *args], cwd=cwd or script.parent, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def assert_secret_not_shown(secret: str, run: subprocess.CompletedProcess[str], tools: Tools | None = None) -> None:
    assert secret not in run.stdout, f"the secret is on stdout:\n{run.stdout}"
    assert secret not in run.stderr, f"the secret is on stderr:\n{run.stderr}"
    if tools is not None:
        for argv in tools.argvs():
            assert not any(secret in arg for arg in argv), f"the secret is on a command line: {argv[0]} ..."
