"""Tests of the Keptn API stand-in, over real HTTP (urllib) and real curl processes.

Why: other tests trust this stand-in to answer like Keptn; these pin down the answers it gives.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import textwrap
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from tests.standins.keptn_api import WEBHOOK_SERVICE_ID, KeptnApiStandIn

TOKEN = "test-token-123"
REG = "/api/controlPlane/v1/uniform/registration"
SUBS = f"{REG}/{WEBHOOK_SERVICE_ID}/subscription"
RES = "/api/resource-service/v1/project/sockshop"
EVENT = "sh.keptn.event.evaluation.finished"
NEEDS_CURL = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@pytest.fixture
def keptn() -> Iterator[KeptnApiStandIn]:
    projects = {"sockshop": {"stages": {"staging": ["carts"], "production": ["carts"]}}}
    with KeptnApiStandIn(TOKEN, projects=projects) as api:
        yield api


def call(
    api: KeptnApiStandIn, method: str, path: str, body: Any = None, token: str | None = TOKEN
) -> tuple[int, bytes]:
    """One request through urllib; returns (status, raw body) also for 4xx/5xx."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(api.url + path, data=data, method=method)
    if token is not None:
        req.add_header("x-token", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def call_json(api: KeptnApiStandIn, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, raw = call(api, method, path, body)
    return status, json.loads(raw) if raw else None


def curl(*args: str, token: str | None = TOKEN, cwd: Any = None) -> tuple[int, str]:
    """One request through the curl binary, as configure-keptn.sh makes them."""
    auth = ["-H", f"x-token: {token}"] if token is not None else []
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *auth, *args],
                         capture_output=True, text=True, timeout=30, check=True, cwd=cwd).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def subscription(
    projects: Any = ("sockshop",), stages: Any = ("staging",), services: Any = None, event: str = EVENT
) -> dict:
    """A subscription body; a filter list given as None is left out, as Go would see nil."""
    flt = {k: list(v) if isinstance(v, tuple) else v for k, v in
           (("projects", projects), ("stages", stages), ("services", services)) if v is not None}
    return {"event": event, "filter": flt}


def upload_body(uri: str, content: bytes) -> dict:
    return {"resources": [{"resourceURI": uri, "resourceContent": base64.b64encode(content).decode()}]}


# --- gateway ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_missing_or_wrong_token_gets_the_gateways_401_and_changes_nothing(
    keptn: KeptnApiStandIn, token: str | None
) -> None:
    status, body = call(keptn, "PUT", f"{SUBS}/abc", subscription(), token=token)
    assert (status, body) == (401, b'{"code":401, "message":"unauthenticated or invalid credentials"}')
    assert keptn.subscriptions() == {}
    [recorded] = keptn.unauthenticated_requests()
    assert recorded.token == token and TOKEN not in repr(recorded)


def test_recorded_requests_hide_the_token_but_keep_it_for_assertions(keptn: KeptnApiStandIn) -> None:
    call(keptn, "GET", f"{REG}?name=webhook-service")
    [recorded] = keptn.requests()
    assert recorded.headers["x-token"] == "<redacted>"
    assert recorded.token == TOKEN and recorded.authenticated
    assert TOKEN not in repr(recorded)
    assert recorded.path == f"{REG}?name=webhook-service"


def test_unknown_path_is_404_and_known_path_with_wrong_method_is_405(keptn: KeptnApiStandIn) -> None:
    assert call(keptn, "GET", "/api/controlPlane/v1/nothing") == (404, b"404 page not found")
    assert call(keptn, "DELETE", f"{RES}/resource")[0] == 405


@NEEDS_CURL
def test_body_over_5_mb_is_refused_with_413_before_the_token_is_checked(keptn: KeptnApiStandIn, tmp_path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps(upload_body("webhook/webhook.yaml", b"x" * (4 * 1024 * 1024))))
    assert big.stat().st_size > 5 * 1024 * 1024
    status, body = curl("-X", "POST", "--data-binary", f"@{big}", keptn.url + f"{RES}/resource", token="wrong")
    assert status == 413 and "413 Request Entity Too Large" in body
    assert call(keptn, "POST", f"{RES}/resource", big.read_bytes())[0] == 413
    assert keptn.resources() == {}


# --- shipyard-controller: integrations and subscriptions ----------------------------------


def test_lookup_by_name_returns_the_webhook_service_with_its_fixed_id_first(keptn: KeptnApiStandIn) -> None:
    status, raw = call(keptn, "GET", f"{REG}?name=webhook-service")
    pairs = json.loads(raw, object_pairs_hook=list)
    assert status == 200 and len(pairs) == 1
    assert pairs[0][0] == ("id", WEBHOOK_SERVICE_ID) == ("id", keptn.webhook_service_id)
    integration = json.loads(raw)[0]
    assert integration["name"] == "webhook-service" and integration["subscriptions"] == []


def test_lookup_without_name_lists_all_and_an_unknown_name_none(keptn: KeptnApiStandIn) -> None:
    _, everything = call_json(keptn, "GET", REG)
    assert {i["name"] for i in everything} >= {"webhook-service", "approval-service", "lighthouse-service"}
    assert call_json(keptn, "GET", f"{REG}?name=no-such-service") == (200, [])


def test_put_twice_with_one_id_leaves_one_subscription_with_that_id(keptn: KeptnApiStandIn) -> None:
    first = subscription(stages=["staging"])
    second = subscription(stages=["production"], services=["carts"])
    assert call_json(keptn, "PUT", f"{SUBS}/my-id", first) == (201, {"id": "my-id"})
    assert call_json(keptn, "PUT", f"{SUBS}/my-id", second) == (201, {"id": "my-id"})
    assert call_json(keptn, "PUT", f"{SUBS}/my-id", second) == (201, {"id": "my-id"})
    expected = {"event": EVENT, "filter": {"projects": ["sockshop"], "stages": ["production"], "services": ["carts"]}}
    assert keptn.subscriptions() == {"my-id": expected}
    assert call_json(keptn, "GET", f"{SUBS}/my-id") == (200, {"id": "my-id", **expected})
    assert call_json(keptn, "GET", SUBS) == (200, [{"id": "my-id", **expected}])


def test_post_creates_a_new_uuid_each_time(keptn: KeptnApiStandIn) -> None:
    status1, body1 = call_json(keptn, "POST", SUBS, subscription())
    status2, body2 = call_json(keptn, "POST", SUBS, subscription())
    assert status1 == status2 == 201
    assert body1["id"] != body2["id"] and len(body1["id"]) == 36
    assert set(keptn.subscriptions()) == {body1["id"], body2["id"]}


def test_absent_filter_lists_come_back_as_null_like_go_nil_slices(keptn: KeptnApiStandIn) -> None:
    call_json(keptn, "PUT", f"{SUBS}/s1", {"event": EVENT, "filter": {"projects": ["sockshop"]}})
    assert keptn.subscriptions()["s1"]["filter"] == {"projects": ["sockshop"], "stages": None, "services": None}


def test_get_missing_is_404_delete_is_200_even_when_missing_and_empty_list_is_null(keptn: KeptnApiStandIn) -> None:
    call_json(keptn, "PUT", f"{SUBS}/s1", subscription())
    assert call_json(keptn, "GET", f"{SUBS}/nope") == (404, {"code": 404, "message": "mongo: no documents in result"})
    assert call_json(keptn, "DELETE", f"{SUBS}/s1") == (200, {})
    assert call_json(keptn, "DELETE", f"{SUBS}/s1") == (200, {})
    assert call(keptn, "GET", SUBS) == (200, b"null")


@pytest.mark.parametrize(
    ("method", "body", "message"),
    [
        ("POST", {"filter": {"projects": ["sockshop"]}}, "the event must be specified when setting up a subscription"),
        ("PUT", subscription(event=""), "the event must be specified when setting up a subscription"),
        ("POST", subscription(stages=None, services=["carts"]),
         "at least one stage must be specified when setting up a subscription filter for a service"),
        ("PUT", subscription(stages=None, services=[]),
         "at least one stage must be specified when setting up a subscription filter for a service"),
        ("PUT", subscription(projects=None), "webhook should refer to exactly one project"),
        ("PUT", subscription(projects=["a", "b"]), "webhook should refer to exactly one project"),
    ],
)
def test_subscription_rules_are_enforced_with_keptns_messages(
    keptn: KeptnApiStandIn, method: str, body: dict, message: str
) -> None:
    path = SUBS if method == "POST" else f"{SUBS}/s1"
    assert call_json(keptn, method, path, body) == (400, {"code": 400, "message": message})
    assert keptn.subscriptions() == {}


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", subscription(projects=None)),  # POST never checks the project
        ("PUT", subscription(projects=[])),  # the validator tests for nil, not for empty
        ("PUT", subscription(stages=[], services=["carts"])),
    ],
)
def test_subscription_rules_keep_keptns_nil_versus_empty_quirks(
    keptn: KeptnApiStandIn, method: str, body: dict
) -> None:
    path = SUBS if method == "POST" else f"{SUBS}/s1"
    assert call_json(keptn, method, path, body)[0] == 201


def test_lenient_mode_accepts_what_keptn_1_4_5_really_accepts() -> None:
    with KeptnApiStandIn(TOKEN, strict_subscriptions=False) as api:
        assert call_json(api, "PUT", f"{SUBS}/s1", {"filter": {"services": ["carts"]}}) == (201, {"id": "s1"})
        stored = {"event": "", "filter": {"projects": None, "stages": None, "services": ["carts"]}}
        assert api.subscriptions() == {"s1": stored}


@pytest.mark.parametrize(
    "body", [b"", b"{not json", b"[]", json.dumps({"event": EVENT, "filter": {"projects": "sockshop"}}).encode()]
)
def test_unbindable_subscription_body_is_400(keptn: KeptnApiStandIn, body: bytes) -> None:
    status, raw = call(keptn, "PUT", f"{SUBS}/s1", body)
    assert status == 400 and json.loads(raw)["code"] == 400
    assert keptn.subscriptions() == {}


def test_unknown_integration_answers_as_keptn_does_per_method(keptn: KeptnApiStandIn) -> None:
    other = f"{REG}/0000/subscription"
    not_found = {"code": 404, "message": "mongo: no documents in result"}
    assert call_json(keptn, "POST", other, subscription()) == (404, not_found)
    assert call_json(keptn, "GET", other) == (404, not_found)
    assert call_json(keptn, "GET", f"{other}/x") == (404, not_found)
    assert call_json(keptn, "PUT", f"{other}/x", subscription()) == (500, {**not_found, "code": 500})
    assert call_json(keptn, "DELETE", f"{other}/x") == (500, {**not_found, "code": 500})


# --- resource-service ---------------------------------------------------------------------

LEVELS = [
    ("", ("sockshop", None, None)),
    ("/stage/staging", ("sockshop", "staging", None)),
    ("/stage/production/service/carts", ("sockshop", "production", "carts")),
]
CONTENT = "apiVersion: webhookconfig.keptn.sh/v1beta1\n# ünïcödé ✓\n".encode() + bytes(range(256))


@NEEDS_CURL
@pytest.mark.parametrize(("level", "key"), LEVELS)
def test_uploads_at_each_level_read_back_byte_identical_through_curl(
    keptn: KeptnApiStandIn, tmp_path, level: str, key: tuple
) -> None:
    base = keptn.url + RES + level + "/resource"
    send = ["-H", "Content-Type: application/json", "--data-binary", "@payload.json", base]
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(upload_body("webhook/webhook.yaml", b"old")))
    status, body = curl("-X", "POST", *send, cwd=tmp_path)
    assert status == 201 and set(json.loads(body)) == {"commitID", "metadata"}
    payload.write_text(json.dumps(upload_body("webhook/webhook.yaml", CONTENT)))
    status, body = curl("-X", "PUT", *send, cwd=tmp_path)
    commit = json.loads(body)["commitID"]
    assert status == 200 and len(commit) == 40

    assert keptn.resources() == {(*key, "webhook/webhook.yaml"): CONTENT}
    status, body = curl(base + "/webhook%2Fwebhook.yaml")
    answer = json.loads(body)
    assert status == 200 and base64.b64decode(answer["resourceContent"]) == CONTENT
    assert answer["resourceURI"] == "webhook%2Fwebhook.yaml" and answer["metadata"]["version"] == commit


def test_levels_are_separate_files(keptn: KeptnApiStandIn) -> None:
    for level, _ in LEVELS:
        body = upload_body("webhook/webhook.yaml", level.encode())
        assert call(keptn, "POST", f"{RES}{level}/resource", body)[0] == 201
    assert {k: v for k, v in keptn.resources().items()} == {
        (*key, "webhook/webhook.yaml"): level.encode() for level, key in LEVELS
    }


def test_a_leading_slash_in_the_uri_names_the_same_file(keptn: KeptnApiStandIn) -> None:
    call(keptn, "POST", f"{RES}/resource", upload_body("/webhook/webhook.yaml", b"a"))
    call(keptn, "PUT", f"{RES}/resource", upload_body("webhook/webhook.yaml", b"b"))
    assert keptn.resources() == {("sockshop", None, None, "webhook/webhook.yaml"): b"b"}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (f"{RES}/resource", {"resources": [{"resourceURI": "webhook/webhook.yaml", "resourceContent": "not base64!"}]},
         400, "resource content is not base64 encoded"),
        (f"{RES}/resource", {"resources": [{"resourceURI": "webhook/webhook.yaml", "resourceContent": "aGk"}]},
         400, "resource content is not base64 encoded"),
        (f"{RES}/resource", upload_body("../webhook/webhook.yaml", b"x"), 400, "invalid resource uri"),
        (f"{RES}/resource", upload_body("~/webhook.yaml", b"x"), 400, "invalid resource uri"),
        (f"{RES}/stage/dev/resource", upload_body("webhook/webhook.yaml", b"x"), 404, "Stage not found"),
        (f"{RES}/stage/staging/service/orders/resource", upload_body("webhook/webhook.yaml", b"x"),
         404, "Service not found"),
        ("/api/resource-service/v1/project/nope/resource", upload_body("webhook/webhook.yaml", b"x"),
         404, "Could not find credentials for upstream repository"),
        (f"{RES}/resource", {"resources": "webhook/webhook.yaml"}, 400, "Invalid request format"),
    ],
)
def test_bad_uploads_are_refused_like_the_resource_service(
    keptn: KeptnApiStandIn, path: str, body: dict, status: int, message: str
) -> None:
    for method in ("POST", "PUT"):
        assert call_json(keptn, method, path, body) == (status, {"code": status, "message": message})
    assert keptn.resources() == {}


def test_base64_with_line_breaks_is_accepted_like_go(keptn: KeptnApiStandIn) -> None:
    wrapped = base64.encodebytes(CONTENT * 3).decode()  # 76-column lines, as `base64` without -w0 prints
    body = {"resources": [{"resourceURI": "webhook/webhook.yaml", "resourceContent": wrapped}]}
    assert call(keptn, "POST", f"{RES}/resource", body)[0] == 201
    assert keptn.resources()[("sockshop", None, None, "webhook/webhook.yaml")] == CONTENT * 3


def test_single_resource_get_put_delete(keptn: KeptnApiStandIn) -> None:
    one = f"{RES}/stage/staging/resource/webhook%2Fwebhook.yaml"
    assert call_json(keptn, "GET", one) == (404, {"code": 404, "message": "Resource not found"})
    assert call_json(keptn, "PUT", one, {"resourceContent": base64.b64encode(b"hi").decode()})[0] == 200
    assert keptn.resources() == {("sockshop", "staging", None, "webhook/webhook.yaml"): b"hi"}
    assert call_json(keptn, "GET", f"{RES}/stage/staging/resource/webhook%2F..%2Fx")[0] == 400
    assert call_json(keptn, "DELETE", one)[0] == 200
    assert call_json(keptn, "DELETE", one)[0] == 404
    assert keptn.resources() == {}


# --- secret-service -----------------------------------------------------------------------

SECRET = {"name": "pagerduty", "scope": "keptn-webhook-service", "data": {"routing-key": "R0UT1NGK3Y"}}


def test_create_secret_is_201_echoing_it_values_included_like_keptn(keptn: KeptnApiStandIn) -> None:
    assert call_json(keptn, "POST", "/api/secrets/v1/secret", SECRET) == (201, SECRET)
    assert keptn.secrets() == {"pagerduty": {"scope": "keptn-webhook-service", "data": {"routing-key": "R0UT1NGK3Y"}}}
    assert call_json(keptn, "POST", "/api/secrets/v1/secret", SECRET) == (
        409, {"code": 409, "message": "Unable to create secret: secret already exists"})


def test_listing_secrets_shows_names_scopes_and_keys_never_values() -> None:
    preset = [{"name": "other", "scope": "keptn-default", "data": {"b": "1", "a": "2"}}]
    with KeptnApiStandIn(TOKEN, secrets=preset) as api:
        call(api, "POST", "/api/secrets/v1/secret", SECRET)
        status, raw = call(api, "GET", "/api/secrets/v1/secret")
        assert status == 200 and b"R0UT1NGK3Y" not in raw
        assert json.loads(raw) == {"Secrets": [
            {"name": "other", "scope": "keptn-default", "keys": ["a", "b"]},
            {"name": "pagerduty", "scope": "keptn-webhook-service", "keys": ["routing-key"]},
        ]}
        _, scoped = call_json(api, "GET", "/api/secrets/v1/secret?scope=keptn-webhook-service")
        assert [s["name"] for s in scoped["Secrets"]] == ["pagerduty"]
        assert call_json(api, "GET", "/api/secrets/v1/secret?name=nope") == (200, {"Secrets": []})


@pytest.mark.parametrize(
    ("body", "status", "message_start"),
    [
        ({"scope": "keptn-webhook-service", "data": {}}, 400,
         "Invalid request format: Key: 'Secret.SecretMetadata.Name'"),
        ({**SECRET, "scope": "nope"}, 400, "Unable to create secret: unable to check defined scope nope"),
        ({**SECRET, "name": "PagerDuty"}, 500, 'Unable to create secret: Secret "PagerDuty" is invalid'),
        ({**SECRET, "data": {"routing key": "x"}}, 500, 'Unable to create secret: Secret "pagerduty" is invalid'),
        ({**SECRET, "data": {"routing-key": 5}}, 400, "Invalid request format: json: cannot unmarshal number"),
    ],
)
def test_bad_secrets_are_refused(keptn: KeptnApiStandIn, body: dict, status: int, message_start: str) -> None:
    code, answer = call_json(keptn, "POST", "/api/secrets/v1/secret", body)
    assert code == status and answer["message"].startswith(message_start)
    assert keptn.secrets() == {}


def test_secret_scope_defaults_to_keptn_default_on_create(keptn: KeptnApiStandIn) -> None:
    _, answer = call_json(keptn, "POST", "/api/secrets/v1/secret", {"name": "s", "data": {"k": "v"}})
    assert answer["scope"] == "keptn-default"


# --- the whole setup flow, as a bash script would run it ----------------------------------


@NEEDS_CURL
@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed")
def test_a_curl_and_jq_setup_script_configures_everything(keptn: KeptnApiStandIn, tmp_path) -> None:
    (tmp_path / "webhook.yaml").write_bytes(CONTENT)
    script = textwrap.dedent("""\
        set -euo pipefail
        api() { curl -sS --fail-with-body -H "x-token: $KEPTN_API_TOKEN" -H 'Content-Type: application/json' "$@"; }
        id=$(api "$KEPTN_URL/api/controlPlane/v1/uniform/registration?name=webhook-service" | jq -r '.[0].id')
        jq -n '{event:"sh.keptn.event.evaluation.finished",
                filter:{projects:["sockshop"],stages:["staging"],services:["carts"]}}' |
          api -X PUT --data-binary @- "$KEPTN_URL/api/controlPlane/v1/uniform/registration/$id/subscription/pd-eval" \\
          >/dev/null
        content=$(base64 -w0 webhook.yaml)
        jq -n --arg c "$content" '{resources:[{resourceURI:"webhook/webhook.yaml",resourceContent:$c}]}' >body.json
        api -X POST --data-binary @body.json \\
            "$KEPTN_URL/api/resource-service/v1/project/sockshop/stage/staging/service/carts/resource" >/dev/null
        if ! api "$KEPTN_URL/api/secrets/v1/secret?name=pagerduty" | jq -e '.Secrets | length > 0' >/dev/null; then
          jq -n --arg k "$PD_KEY" '{name:"pagerduty",scope:"keptn-webhook-service",data:{"routing-key":$k}}' |
            api -X POST --data-binary @- "$KEPTN_URL/api/secrets/v1/secret" >/dev/null
        fi
        echo "$id"
        """)
    env = {"PATH": "/usr/bin:/bin", "KEPTN_URL": keptn.url, "KEPTN_API_TOKEN": TOKEN, "PD_KEY": "R0UT1NGK3Y"}
    for _ in range(2):  # running it twice must leave the same state
        run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == WEBHOOK_SERVICE_ID
    assert keptn.subscriptions() == {"pd-eval": {"event": EVENT, "filter": {
        "projects": ["sockshop"], "stages": ["staging"], "services": ["carts"]}}}
    assert keptn.resources() == {("sockshop", "staging", "carts", "webhook/webhook.yaml"): CONTENT}
    assert keptn.secrets()["pagerduty"] == {"scope": "keptn-webhook-service", "data": {"routing-key": "R0UT1NGK3Y"}}
    assert keptn.unauthenticated_requests() == []
