"""The proof on every generate: real Keptn events through every example profile, and broken input caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keptn_pagerduty import pagerduty, prove
from keptn_pagerduty.events import is_subscribable
from keptn_pagerduty.generator import generate, subscriptions
from keptn_pagerduty.keptn import webhook_service
from keptn_pagerduty.keptn.decode_cache import DecodeCache, document
from keptn_pagerduty.preview import simulate_generated
from keptn_pagerduty.problems import UserError

ROOT = Path(__file__).resolve().parent.parent
SHARED_EVENTS = ROOT.parent / "shared" / "keptn-events"


@pytest.fixture(scope="module")
def generated():
    return generate(ROOT / "profiles")


def real_events() -> list[Path]:
    return sorted(SHARED_EVENTS.glob("*.json")) if SHARED_EVENTS.is_dir() else []


def aim(event: dict, project: str, stage: str | None, service: str | None) -> dict:
    event = json.loads(json.dumps(event))
    data = event.setdefault("data", {})
    data["project"] = project
    if stage:
        data["stage"] = stage
    if service:
        data["service"] = service
    return event


@pytest.mark.skipif(not SHARED_EVENTS.is_dir(), reason="../shared/keptn-events is absent")
@pytest.mark.parametrize("path", real_events(), ids=lambda p: p.name)
def test_every_real_event_through_every_example_profile(path: Path, generated) -> None:
    """Either PagerDuty accepts what Keptn would send, or no subscription receives the event (documented)."""
    event = json.loads(path.read_text())
    subs = subscriptions(generated.projects)
    handled = 0
    for project in generated.projects:
        for n in project.notifications:
            stage = n.stages[0] if n.stages else None
            service = n.services[0] if n.services else None
            aimed = aim(event, project.name, stage, service)
            if aimed.get("type") != n.event.type:
                continue
            previews = simulate_generated(generated.files, subs, aimed)
            assert previews, f"{path.name} reached no webhook of {project.name}"
            for preview in previews:
                handled += 1
                assert preview.error is None, preview.error
                assert preview.pagerduty_errors == []
                assert isinstance(preview.body, dict)
                real = dict(preview.body, routing_key="A" * 32)
                url_path = pagerduty.CHANGE_URL_PATH if "/change/" in preview.url else pagerduty.ALERT_URL_PATH
                assert pagerduty.validate_event(url_path, real) == []
    if handled == 0:
        aimed = aim(event, "sockshop", "production", "carts")
        if is_subscribable(str(event.get("type"))):
            with pytest.raises(UserError, match="no subscription of these profiles receives"):
                simulate_generated(generated.files, subs, aimed)
        else:
            assert not any(sub["event"] == event.get("type") for sub in subs.values())


def test_failed_evaluation_triggers_and_passing_one_resolves_the_same_alert(generated) -> None:
    subs = subscriptions(generated.projects)
    base = {"specversion": "1.0", "id": "6c1f1a2e-1111-4a1b-9a5e-0c7d6c0e7a10", "source": "lighthouse-service",
            "type": "sh.keptn.event.evaluation.finished", "time": "2024-05-01T10:00:00.000Z",
            "shkeptncontext": "0b8c8a56-6e5b-4d5b-9a4b-6f3c1c0e9e11", "triggeredid": "9d1f0f3e-2222-4b7e-8f7e-1d2c3b4a5f60",
            "data": {"project": "sockshop", "stage": "production", "service": "carts", "result": "fail",
                     "status": "succeeded", "evaluation": {"score": 0, "result": "fail"}}}
    fail = simulate_generated(generated.files, subs, base)[0].body
    passing = json.loads(json.dumps(base))
    passing["data"].update(result="pass", evaluation={"score": 100, "result": "pass"})
    passing["shkeptncontext"] = "1c9c9b67-7f6c-5e6c-0b5c-7a4d2d1f0f22"
    resolve = simulate_generated(generated.files, subs, passing)[0].body
    assert (fail["event_action"], fail["payload"]["severity"]) == ("trigger", "critical")
    assert fail["payload"]["summary"] == "Quality gate fail for carts in production: score 0 of 100"
    assert resolve["event_action"] == "resolve"
    assert resolve["dedup_key"] == fail["dedup_key"] == "keptn/sockshop/production/carts/evaluation"


def test_identical_requests_are_proven_once(generated) -> None:
    placements = sum(len(n.locations) for p in generated.projects for n in p.notifications)
    assert generated.report.distinct_requests == sum(len(p.notifications) for p in generated.projects)
    assert generated.report.distinct_requests < placements


def test_proofs_share_sample_events_and_leave_them_as_they_were(generated) -> None:
    """Every proof reads the same decoded sample events: none may change them for the next one."""
    for event_type in {n.event for p in generated.projects for n in p.notifications}:
        shared = prove._sample_events(event_type)
        assert [event for _, event, _ in shared] == [json.loads(text) for _, text, _ in prove._samples(event_type)]


def test_files_that_differ_only_in_their_header_comment_are_decoded_once(monkeypatch) -> None:
    from keptn_pagerduty.keptn import webhook_service

    texts: list[str] = []
    real = webhook_service.decode
    monkeypatch.setattr(webhook_service, "decode", lambda text: texts.append(text) or real(text))
    result = generate(ROOT / "profiles")
    files = [name for name in result.files if name.endswith("webhook.yaml")]
    documents = {document(result.files[name].decode()) for name in files}
    assert len(documents) < len(files)  # a project's stage files share their document...
    assert len(texts) == len(documents)  # ...and each document is decoded once
    assert all(text.startswith("# ") for text in texts)  # whole files: errors name their real lines


def test_files_that_differ_only_in_names_are_decoded_once_per_shape(monkeypatch, tmp_path: Path) -> None:
    from tests.test_parallel import fleet

    folder = fleet(tmp_path / "profiles", 9)  # nine projects, two kinds of settings
    texts: list[str] = []
    real = webhook_service.decode
    monkeypatch.setattr(webhook_service, "decode", lambda text: texts.append(text) or real(text))
    shared = generate(folder, jobs=1)
    assert len(shared.projects) == 9 and len(texts) == 2  # a file of each kind; the others are filled in...
    monkeypatch.setattr(DecodeCache, "decode", lambda self, text, names, body=None: real(text))
    assert generate(folder, jobs=1).files == shared.files  # ... with what decoding each file gives


def test_sample_bodies_are_exact_when_a_template_does_more_than_print_names(tmp_path: Path) -> None:
    # A proof runs under sentinel names and subscription ID, and its bodies are put in each notification's
    # own by text; a template that measures a name breaks that, which the proof notices and then simulates
    # every notification's samples exactly.
    measure = ("hook.payload | replace('\"client\": \"', '\"client\": \"{{len .data.project}} "
               "{{.data.temporaryData.distributor.subscriptionID}} ') | indent")
    templates = webhook_template_with(tmp_path, "hook.payload | indent", measure)  # v1beta1 and v1alpha1 files
    result = generate(ROOT / "profiles", templates)
    checked = 0
    for project in result.projects:
        ids = {n.subscription_id for n in project.notifications}
        for name, data in result.files.items():
            if name.startswith(project.name + "/") and name.endswith(".sh") and "/send-" in "/" + name:
                for line in data.decode().splitlines():
                    if line.lstrip().startswith('"client": '):
                        length, subscription = line.split('"')[3].split()[:2]
                        assert (int(length), subscription in ids) == (len(project.name), True), (name, line)
                        checked += 1
    assert checked >= len(result.projects)
    assert not any(s.encode() in data for data in result.files.values() for s in prove.SENTINELS)


def test_sentinels_are_replaced_by_names_in_one_pass() -> None:
    project, stage, service, subscription = prove.SENTINELS
    names = ("shop", "prod", service, "0000-id")  # a service named like a sentinel stays as it is named
    text = f"{project}/{stage}/{service}: {project}{project} {subscription}"
    assert prove._substitute(text, names) == f"shop/prod/{service}: shopshop 0000-id"
    assert prove._substitute(text, names) == prove._substitute(text, names)  # the cut kept for reuse is not changed
    assert prove._substitute("no sentinel here", names) == "no sentinel here"
    assert prove._substitute("", names) == ""


def webhook_template_with(tmp_path: Path, old: str, new: str) -> Path:
    """A templates folder whose webhook.yaml.j2 is the bundled one with `old` made `new`."""
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (ROOT / "templates" / "webhook.yaml.j2").read_text()
    assert old in original
    (templates / "webhook.yaml.j2").write_text(original.replace(old, new))
    return templates


def test_a_broken_template_is_caught_with_a_located_error(tmp_path: Path) -> None:
    templates = webhook_template_with(tmp_path, "value: application/json", "value: application/json; charset=utf-8")
    with pytest.raises(UserError) as caught:
        generate(ROOT / "profiles", templates)
    first = caught.value.problems[0]
    assert first.file.startswith("profiles/") and first.line > 0
    assert "curl command contains denied character" in first.message
    assert any(d.startswith("output file: ") for d in first.details)
    assert any(d.startswith("sample event: ") for d in first.details)


def test_a_template_that_drops_a_field_check_is_caught(tmp_path: Path) -> None:
    templates = webhook_template_with(tmp_path, "method: POST", "method: post")
    with pytest.raises(UserError) as caught:
        generate(ROOT / "profiles", templates)
    assert "Keptn would not load this file" in caught.value.problems[0].message


def _secret_profile(folder: Path, name: str, key: str) -> Path:
    folder.mkdir()
    (folder / "alpha.yaml").write_text(f"""project: alpha
pagerduty:
  routing_key_secret: {{name: "{name}", key: "{key}"}}
routes:
  - stages: [production]
    events:
      evaluation.finished: {{}}
""")
    return folder


@pytest.mark.parametrize(("name", "key"), [("null", "-"), ("true", "null"), ("123", "0x1f"), ("pagerduty", ".inf")])
def test_a_secret_reference_that_yaml_could_misread_reaches_keptn_as_written(tmp_path: Path, name: str,
                                                                            key: str) -> None:
    # `null` unquoted is an empty name or key to Keptn (an empty routing key), a bare `-` a YAML error.
    result = generate(_secret_profile(tmp_path / "profiles", name, key))
    text = result.files["alpha/branches/production/webhook/webhook.yaml"].decode()
    config = webhook_service.decode(text)
    assert [tuple(w.env_from) for w in config.webhooks] == [(("routingKey", name, key),)]


def test_a_template_that_lets_yaml_misread_the_secret_reference_is_caught(tmp_path: Path) -> None:
    templates = webhook_template_with(tmp_path, "hook.secret_key | json", "hook.secret_key")
    profiles = _secret_profile(tmp_path / "profiles", "pagerduty", "null")
    with pytest.raises(UserError) as caught:
        generate(profiles, templates)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == ("profiles/alpha.yaml", 3, "pagerduty.routing_key_secret")
    assert "Keptn would read routingKey from key '' of secret 'pagerduty'" in problem.message
    assert "not routingKey from key 'null' of secret 'pagerduty'" in problem.message


@pytest.mark.parametrize("projects", [["var"], ["alpha", "var"], ["var", "zeta"]])
def test_names_that_form_what_keptn_refuses_are_caught_in_every_project(tmp_path: Path, projects: list[str]) -> None:
    # The default source `keptn/{project}/{stage}/...` of project `var` and stage `runtime` holds `/var/run`.
    # Alone, `var` proves the request itself; after `alpha` it shares alpha's proof (names put in by text);
    # before `zeta` its failed check makes every notification of the request simulated with its names.
    folder = tmp_path / "profiles"
    folder.mkdir()
    for project in projects:
        (folder / f"{project}.yaml").write_text(f"""project: {project}
pagerduty:
  routing_key_secret: {{name: pagerduty, key: routing-key}}
routes:
  - stages: [runtime]
    events:
      evaluation.finished: {{}}
""")
    with pytest.raises(UserError) as caught:
        generate(folder)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == ("profiles/var.yaml", 7, 'routes[0].events["evaluation.finished"]')
    assert problem.message.endswith("curl command contains denied character '/var/run'")
    assert "names: project var, stage runtime, service carts (from a sample event)" in problem.details


def test_a_body_over_what_linux_passes_to_curl_is_caught(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    details = "".join(f"\n          detail{i:03d}: {'x' * 1990}" for i in range(80))  # 160 KB of static text
    (folder / "big.yaml").write_text(f"""project: big
pagerduty:
  routing_key_secret: {{name: pagerduty, key: routing-key}}
routes:
  - stages: [production]
    events:
      evaluation.finished:
        custom_details:{details}
""")
    with pytest.raises(UserError) as caught:
        generate(folder)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == ("profiles/big.yaml", 7)
    assert problem.message.endswith("fork/exec /usr/bin/curl: argument list too long")
    assert "limits to 128 KiB" in problem.hint


def test_a_body_that_longer_names_would_take_over_the_limit_is_caught() -> None:
    # Proofs run under sentinel names; a real name can be 63 characters long.
    project = prove.SENTINELS[0]
    body = project + "x" * (webhook_service.MAX_ARGUMENT_BYTES - 1 - len(project) - 10)
    assert webhook_service.refused_argument(("curl", body)) == 0  # fits under the sentinel name
    grown = webhook_service.MAX_ARGUMENT_BYTES - 10 + 63 - len(project)
    assert prove._with_longest_names(("curl", "--data", body)) == grown
    assert prove._with_longest_names(("curl", "x" * 18000)) == 0  # too short to matter: not even encoded


def test_triggered_subscriptions_only_when_allowed_and_never_send_back(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "shop.yaml").write_text("""project: shop
pagerduty:
  routing_key_secret: {name: pagerduty, key: routing-key}
routes:
  - stages: [production]
    events:
      approval.triggered:
        allow_triggered: true
        results: {none: warning}
""")
    result = generate(folder)
    webhook = result.files["shop/branches/production/webhook/webhook.yaml"].decode()
    assert "sendFinished: false" in webhook and "sendStarted: false" in webhook
    readme = result.files["shop/README.md"].decode()
    assert "About .triggered subscriptions" in readme and "fails the task" in readme


@pytest.fixture(scope="module")
def every_event_type(tmp_path_factory: pytest.TempPathFactory):
    """A profile that subscribes to every event type of the catalogue, with the default settings."""
    from keptn_pagerduty.events import load_catalogue
    folder = tmp_path_factory.mktemp("all") / "profiles"
    folder.mkdir()
    events = "".join(f"      {t.short}: {{allow_triggered: true}}\n" if t.phase == "triggered" else f"      {t.short}: {{}}\n"
                     for t in load_catalogue().event_types())
    (folder / "all.yaml").write_text("project: sockshop\npagerduty:\n  routing_key_secret: {name: pagerduty, key: routing-key}\n"
                                     "routes:\n  - events:\n" + events)
    return generate(folder)


@pytest.mark.skipif(not SHARED_EVENTS.is_dir(), reason="../shared/keptn-events is absent")
@pytest.mark.parametrize("path", real_events(), ids=lambda p: p.name)
def test_every_real_event_through_a_profile_of_every_type(path: Path, every_event_type) -> None:
    event = json.loads(path.read_text())
    subs = subscriptions(every_event_type.projects)
    data = event.get("data") or {}
    if not is_subscribable(str(event.get("type"))):
        assert not any(sub["event"] == event.get("type") for sub in subs.values())
        return
    if not all(data.get(k) for k in ("project", "stage", "service")):
        pytest.skip("Keptn's webhook-service drops an event without project, stage and service")
    previews = simulate_generated(every_event_type.files, subs, aim(event, "sockshop", None, None))
    assert len(previews) == 1
    preview = previews[0]
    assert preview.error is None, preview.error
    assert preview.pagerduty_errors == []


def test_the_shape_of_a_request_changes_with_everything_that_decides_its_proof(generated) -> None:
    """Requests with one shape share one proof (in a run by the shape, in the proof cache and between processes by
    its digest): every part of the request and of its sending rules must be in both, and the names that samples
    replace must not."""
    import dataclasses

    from keptn_pagerduty.keptn import webhook_service

    project = next(p for p in generated.projects if p.api_version == "v1beta1")
    n = next(n for n in project.notifications if n.settings.get("kind") == "alert" and n.settings.get("results"))
    text = next(data for name, data in generated.files.items()
                if name.startswith(f"{project.name}/") and name.endswith("webhook.yaml")
                and n.subscription_id.encode() in data).decode()
    config = webhook_service.decode(text)
    webhook = webhook_service.find_webhook(config, n.subscription_id)

    def key(config, webhook, n) -> tuple:
        shape = prove._shape(config, webhook, n)
        return shape, prove._shape_digest(shape)

    original = key(config, webhook, n)
    request = webhook.requests[0]
    changed_requests = [dataclasses.replace(request, **{f.name: value}) for f, value in zip(
        dataclasses.fields(request), ("https://example.com/x", "PUT", (("X-A", "b"),), "{}", "--retry 1", "curl x"))]
    assert len(changed_requests) == len(dataclasses.fields(request))  # a new field needs a case here
    variants = [dataclasses.replace(webhook, requests=(r,)) for r in changed_requests] + [
        dataclasses.replace(webhook, requests=webhook.requests * 2),
        dataclasses.replace(webhook, env_from=(("other", "pagerduty", "routing-key"),)),
        dataclasses.replace(webhook, send_started=not webhook.send_started),
        dataclasses.replace(webhook, send_finished=not webhook.send_finished)]
    keys = [key(config, variant, n) for variant in variants] + [original]
    assert len({shape for shape, _ in keys}) == len({digest for _, digest in keys}) == len(variants) + 1
    results = dict(n.settings["results"], none="info" if n.settings["results"].get("none") != "info" else "error")
    other_results = dataclasses.replace(n, settings={**n.settings, "results": results})
    change = dataclasses.replace(n, settings={**n.settings, "kind": "change"})
    alpha = dataclasses.replace(config, api_version=webhook_service.API_V1ALPHA1)
    keys = [original, key(config, webhook, other_results), key(config, webhook, change), key(alpha, webhook, n)]
    assert len({shape for shape, _ in keys}) == len({digest for _, digest in keys}) == 4
    # Names and the subscription ID are not part of it: samples are aimed at sentinels.
    renamed = dataclasses.replace(webhook, subscription_id="00000000-0000-5000-8000-000000000000")
    assert key(config, renamed, dataclasses.replace(n, project="another")) == original
