"""Docs that cannot drift: generated parts are regenerated and compared, quoted output is rerun, quoted
error texts are reproduced by the simulation of Keptn's webhook-service, links resolve."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from keptn_pagerduty import reference
from keptn_pagerduty.keptn import webhook_service

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"


def fenced_after(text: str, marker: str) -> str:
    """The body of the first fenced block after `marker`."""
    start = text.index(marker)
    match = re.compile(r"```[a-z]*\n(.*?)\n```", re.S).search(text, start)
    assert match, marker
    return match.group(1)


def test_profile_reference_is_current() -> None:
    committed = (DOCS / "profile-reference.md").read_text(encoding="utf-8")
    assert committed == reference.render(), f"docs/profile-reference.md is stale: run `{reference.COMMAND}`"


def test_profile_reference_covers_every_key_of_the_schema() -> None:
    text = (DOCS / "profile-reference.md").read_text(encoding="utf-8")
    schema = json.loads((ROOT / "keptn_pagerduty" / "data" / "profile.schema.json").read_text())
    for key in schema["properties"]:
        assert f"| `{key}` |" in text
    for key in schema["$defs"]["eventSettings"]["properties"]:
        assert f"| `{key}` |" in text
    assert "| `pagerduty.region` | one of `us`, `eu` | `us` |" in text  # enum and default
    assert "| `keptn.timeout_seconds` | integer from 1 to 300 | `10` |" in text


def test_reference_module_prints_and_checks(tmp_path: Path) -> None:
    printed = subprocess.run([sys.executable, "-m", "keptn_pagerduty.reference"], capture_output=True, text=True,
                             timeout=60)
    assert printed.returncode == 0 and printed.stdout == reference.render()
    stale = tmp_path / "ref.md"
    stale.write_text("old\n")
    check = subprocess.run([sys.executable, "-m", "keptn_pagerduty.reference", "--check", str(stale)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "is stale" in check.stderr
    assert reference.main(["--check", str(DOCS / "profile-reference.md")]) == 0


def test_readme_keeps_the_quick_start_commands_and_the_performance_section() -> None:
    quick = fenced_after(README, "## Quick start")
    assert quick == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/python generate.py\n"
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest")
    assert README.index("## Quick start") < README.index("## A 60-second tour")
    performance = README[README.index("## Performance"):]
    assert ".venv/bin/python benchmarks/bench.py --sizes 100,1000,5000" in performance
    assert (ROOT / "benchmarks" / "bench.py").is_file()
    # CI runs exactly the README's test command.
    assert quick.splitlines()[1] in (ROOT / ".ci" / "run").read_text()
    assert "## Already have webhooks? Lint them." in README


def test_readme_webhook_excerpt_is_the_generated_file() -> None:
    marker = "<!-- excerpt of output/sockshop/branches/production/webhook/webhook.yaml"
    excerpt = fenced_after(README, marker)
    actual = (ROOT / "output" / "sockshop" / "branches" / "production" / "webhook" / "webhook.yaml").read_text()
    lines = [line for line in excerpt.splitlines() if line.strip() != "..."]
    assert "\n".join(lines) in actual, "README's webhook.yaml excerpt differs from output/: copy it again"


def test_readme_preview_is_what_the_command_prints() -> None:
    block = fenced_after(README, "<!-- output of the command below")
    command, expected = block.split("\n", 1)
    assert command.startswith("$ keptn-pagerduty preview ")
    args = command.split()[2:]
    result = subprocess.run([sys.executable, "-m", "keptn_pagerduty", *args], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("argv: "))
    assert printed == expected, f"README's preview is stale; the command now prints:\n{printed}"


def test_readme_tour_profile_matches_the_example_profile() -> None:
    tour = fenced_after(README, "## A 60-second tour")
    profile = (ROOT / "profiles" / "sockshop-quality-gates.yaml").read_text()
    for line in tour.splitlines():
        key = line.split("#")[0].strip()
        if key.startswith(("project:", "extends:", "- name:", "stages:", "summary:")):
            assert key in profile, line


def test_relative_links_in_docs_resolve() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([\w./-]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"
    for name in ("docs/troubleshooting.md", "docs/json-output.md", "docs/ci.md", "docs/profile-reference.md"):
        assert f"]({name})" in README, name


# --- Troubleshooting: every Keptn text in the table is one the simulation really produces ------------------


def keptn_rows() -> list[str]:
    text = (DOCS / "troubleshooting.md").read_text()
    section = text[text.index("## Keptn's webhook-service"):text.index("## PagerDuty")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]*)`", row).group(1) for row in rows]  # type: ignore[union-attr]


def pattern(text: str) -> re.Pattern[str]:
    parts = re.split(r"<[^>]+>", text)
    return re.compile(".*?".join(re.escape(part) for part in parts), re.S)


WEBHOOK = """apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
metadata:
  name: webhook-configuration
spec:
  webhooks:
    - type: sh.keptn.event.evaluation.finished
      subscriptionID: 0f2b6a46-3f0c-4f0e-9d44-9a1b3d0c1e22
      sendFinished: false
      envFrom:
        - name: routingKey
          secretRef: {name: pagerduty, key: routing-key}
      requests:
        - url: https://events.pagerduty.com/v2/enqueue
          method: POST
          options: --max-time 10
          payload: 'PAYLOAD'
"""
EVENT = {"specversion": "1.0", "id": "1", "source": "lighthouse-service", "type": "sh.keptn.event.evaluation.finished",
         "time": "2024-05-14T08:20:03.778Z", "shkeptncontext": "044ee9c9-3afd-46c0-a1d2-cba7665d937a",
         "data": {"project": "sockshop", "stage": "production", "service": "carts", "result": "pass",
                  "status": "succeeded", "message": "carts isn't ready",
                  "temporaryData": {"distributor": {"subscriptionID": "0f2b6a46-3f0c-4f0e-9d44-9a1b3d0c1e22"}}}}
SECRETS = {("pagerduty", "routing-key"): "k" * 32}

# (what to change in WEBHOOK, event changes, secrets) -> the text Keptn prints
CASES = {
    "no webhook": ("", None, SECRETS),
    "bad version": ("apiVersion: webhookconfig.keptn.sh/v1beta1>apiVersion: webhookconfig.keptn.sh/v2", None, SECRETS),
    "no subscription id": ("subscriptionID: 0f2b6a46-3f0c-4f0e-9d44-9a1b3d0c1e22>subscriptionID: ''", None, SECRETS),
    "lower-case method": ("method: POST>method: post", None, SECRETS),
    "bool as text": ("sendFinished: false>sendFinished: [false]", None, SECRETS),
    "no secret": ("", None, {}),
    "missing key": ("PAYLOAD>{\"m\": \"{{.data.labels}}\"}", None, SECRETS),
    "quote from event": ("PAYLOAD>{\"m\": \"{{.data.message}}\"}", None, SECRETS),
    "denied character": ("PAYLOAD>{\"m\": \"a; b\"}", None, SECRETS),
    "denied url": ("https://events.pagerduty.com/v2/enqueue>http://localhost:8080/", None, SECRETS),
    "invalid option": ("--max-time 10>-o /tmp/x", None, SECRETS),
    "sequence event": ("", {"type": "sh.keptn.event.production.delivery.finished"}, SECRETS),
    "argument too long": ("PAYLOAD>{\"m\": \"" + "x" * 131072 + "\"}", None, SECRETS),
    "nul from event": ("PAYLOAD>{\"m\": \"{{.data.message}}\"}",
                       {"data": {**EVENT["data"], "message": "a\u0000b"}}, SECRETS),
}


def keptn_says(change: str, event_change: dict | None, secrets: dict) -> str:
    text = WEBHOOK
    if change:
        old, new = change.split(">", 1)
        text = text.replace(old, new)
    text = text.replace("PAYLOAD", '{"routing_key": "{{.env.routingKey}}"}')
    event = copy.deepcopy(EVENT)
    event.update(event_change or {})
    try:
        config = webhook_service.decode(text)
    except webhook_service.DecodeError as exc:
        return str(exc)
    hook = webhook_service.find_webhook(config, "0f2b6a46-3f0c-4f0e-9d44-9a1b3d0c1e22")
    if event_change is None and change == "" and secrets is SECRETS:
        hook = None  # "no webhook": no file held the subscription
    simulation = webhook_service.simulate(config, hook, event, secrets)
    return simulation.error or simulation.ignored or ""


def test_v1alpha1_only_curl_is_allowed() -> None:
    assert any(pattern(row).fullmatch("could not execute request 'wget x': only curl commands are allowed to be "
                                      "executed") for row in keptn_rows())
    with pytest.raises(webhook_service.CurlCommandError, match="only curl commands are allowed to be executed"):
        webhook_service.check_command("wget https://example.com")


@pytest.mark.parametrize("case", sorted(CASES))
def test_troubleshooting_quotes_what_keptn_really_prints(case: str) -> None:
    said = keptn_says(*CASES[case])
    assert said, case
    matching = [row for row in keptn_rows() if pattern(row).search(said)]
    assert matching, f"{case}: Keptn prints {said!r}, which no row of docs/troubleshooting.md explains"


def test_every_keptn_row_is_reproduced() -> None:
    said = [keptn_says(*case) for case in CASES.values()]
    said.append("could not execute request 'wget x': only curl commands are allowed to be executed")
    for row in keptn_rows():
        assert any(pattern(row).search(text) for text in said), f"no case reproduces the row `{row}`"
