"""Keptn's webhook-service, simulated: one test (or more) per behaviour of the reference page.

Expected strings marked "Go:" were produced by Go 1.19 running Keptn 1.4.5's own code paths
(fmt.Sprintf chain, parseCommandLine, net/url, text/template) on the same input.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keptn_pagerduty.keptn.webhook_service import (
    API_V1ALPHA1,
    API_V1BETA1,
    DEFAULT_DENY_LIST,
    DENIED_CHARACTERS,
    DENIED_OPTIONS,
    MAX_ARGUMENT_BYTES,
    CurlCommandError,
    DecodeError,
    Request,
    Simulation,
    WebhookConfig,
    build_command,
    check_command,
    decode,
    find_webhook,
    go_sprintf,
    refused_argument,
    simulate,
    split_command,
    template_data,
)

SHARED_EVENTS = Path(__file__).resolve().parents[2].parent / "shared" / "keptn-events"
REAL_FILES = sorted(SHARED_EVENTS.glob("*.json")) if SHARED_EVENTS.is_dir() else []
needs_shared = pytest.mark.skipif(not REAL_FILES, reason=f"{SHARED_EVENTS} is absent")

SUB = "6b1b1a9e-0000-4000-8000-000000000001"
URL = "https://events.pagerduty.com/v2/enqueue"
KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
SECRETS = {("pagerduty", "routing-key"): KEY}

# Section 1 of the reference, filled in.
EXAMPLE = f"""\
apiVersion: webhookconfig.keptn.sh/v1beta1
kind: WebhookConfig
metadata:
  name: webhook-configuration
spec:
  webhooks:
    - type: sh.keptn.event.evaluation.finished
      subscriptionID: {SUB}
      sendFinished: false
      sendStarted: false
      envFrom:
        - name: routingKey
          secretRef:
            name: pagerduty
            key: routing-key
      requests:
        - url: {URL}
          method: POST
          headers:
            - key: Content-Type
              value: application/json
          options: --max-time 10
          payload: >-
            {{"routing_key":"{{{{.env.routingKey}}}}","event_action":"trigger",
            "dedup_key":"keptn-{{{{.data.project}}}}-{{{{.data.stage}}}}-{{{{.data.service}}}}",
            "payload":{{"summary":"{{{{.type}}}} {{{{.data.project}}}}/{{{{.data.stage}}}}/{{{{.data.service}}}}:
            {{{{with index .data "result"}}}}{{{{urlquery .}}}}{{{{end}}}}
            {{{{with index .data "message"}}}}{{{{urlquery .}}}}{{{{end}}}}",
            "source":"keptn","severity":"error"}}}}
"""

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "c4d2b3c1-9f5e-4a6b-8f3e-2d1c0b9a8f7e",
    "source": "lighthouse-service",
    "type": "sh.keptn.event.evaluation.finished",
    "time": "2023-05-17T08:32:14.120Z",
    "shkeptncontext": "5f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    "shkeptnspecversion": "0.2.4",
    "triggeredid": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "data": {"project": "sockshop", "stage": "production", "service": "carts", "result": "fail",
             "status": "succeeded", "message": "Evaluation failed",
             "evaluation": {"score": 66.66666666666667, "result": "fail"}},
}


def event(**data: Any) -> dict[str, Any]:
    """EVENT with data keys replaced (a value of None removes the key)."""
    result = copy.deepcopy(EVENT)
    for key, value in data.items():
        if value is None:
            result["data"].pop(key, None)
        else:
            result["data"][key] = value
    return result


def beta(payload: str = '{"summary":"x"}', *, url: str = URL, options: str = "", extra: str = "") -> WebhookConfig:
    """A one-request v1beta1 file; url, payload and options are YAML single-quoted scalars, extra is raw YAML."""
    lines = [
        f"apiVersion: {API_V1BETA1}", "kind: WebhookConfig", "spec:", "  webhooks:",
        "    - type: sh.keptn.event.evaluation.finished", f"      subscriptionID: {SUB}",
        "      envFrom:", "        - name: routingKey",
        "          secretRef: {name: pagerduty, key: routing-key}",
    ]
    lines += ["      requests:", f"        - url: {yaml_quote(url)}", "          method: POST"]
    lines += ["          headers:", "            - {key: Content-Type, value: application/json}"]
    if options:
        lines.append(f"          options: {yaml_quote(options)}")
    if payload:
        lines.append(f"          payload: {yaml_quote(payload)}")
    lines += [f"          {line}" for line in extra.splitlines()]
    return decode("\n".join(lines) + "\n")


def alpha(*commands: str) -> WebhookConfig:
    lines = [f"apiVersion: {API_V1ALPHA1}", "kind: WebhookConfig", "spec:", "  webhooks:",
             "    - type: sh.keptn.event.evaluation.finished", f"      subscriptionID: {SUB}",
             "      envFrom:", "        - name: routingKey",
             "          secretRef: {name: pagerduty, key: routing-key}"]
    lines += ["      requests:"] + [f"        - {yaml_quote(c)}" for c in commands]
    return decode("\n".join(lines) + "\n")


def yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run(config: WebhookConfig, ev: dict[str, Any] | None = None, secrets: dict | None = None) -> Simulation:
    hook = find_webhook(config, SUB)
    assert hook is not None
    return simulate(config, hook, ev if ev is not None else event(), SECRETS if secrets is None else secrets)


def error_of(config: WebhookConfig, ev: dict[str, Any] | None = None) -> str:
    simulation = run(config, ev)
    assert simulation.error is not None, simulation
    assert simulation.results[-1].error == simulation.error
    return simulation.error


# --- 1. the file ------------------------------------------------------------------------------------


def test_decode_accepts_the_reference_example() -> None:
    config = decode(EXAMPLE)
    assert config.api_version == API_V1BETA1
    hook = find_webhook(config, SUB)
    assert hook is not None and find_webhook(config, "other") is None
    assert (hook.type, hook.send_finished, hook.send_started) == ("sh.keptn.event.evaluation.finished", False, False)
    assert hook.env_from == (("routingKey", "pagerduty", "routing-key"),)
    (request,) = hook.requests
    assert (request.url, request.method, request.headers, request.options, request.raw) == (
        URL, "POST", (("Content-Type", "application/json"),), "--max-time 10", None)
    assert request.payload.startswith('{"routing_key":"{{.env.routingKey}}","event_action":"trigger", "dedup_key"')
    assert "\n" not in request.payload  # folded


def test_the_reference_example_sends_valid_json_to_pagerduty() -> None:
    simulation = run(decode(EXAMPLE))
    assert simulation.ok and simulation.sent_back == ()
    (result,) = simulation.results
    assert result.argv is not None and result.argv[0] == "curl" and result.argv[-1] == "--fail-with-body"
    assert result.argv[1:3] == ("--request", "POST") and "--max-time" in result.argv
    assert (result.url, result.method) == (URL, "POST")
    assert result.json_body == {
        "routing_key": KEY, "event_action": "trigger", "dedup_key": "keptn-sockshop-production-carts",
        "payload": {"summary": "sh.keptn.event.evaluation.finished sockshop/production/carts: fail Evaluation+failed",
                    "source": "keptn", "severity": "error"}}


def test_send_started_defaults_to_true_and_send_finished_to_false() -> None:
    hook = beta().webhooks[0]
    assert (hook.send_started, hook.send_finished) == (True, False)


MISSING_OR_INVALID = [
    ("apiVersion: webhookconfig.keptn.sh/v1beta1\n", "apiVersion: webhookconfig.keptn.sh/v1\n",
     "unsupported webhook configuration version 'webhookconfig.keptn.sh/v1'"),
    ("apiVersion: webhookconfig.keptn.sh/v1beta1\n", "", "unsupported webhook configuration version ''"),
    ("  webhooks:\n", "  hooks:\n", "missing 'webhooks[]' part"),
    ("    - type: sh.keptn.event.evaluation.finished\n", "    - kind: x\n", "missing 'webhooks[].Type' part"),
    (f"      subscriptionID: {SUB}\n", "", "missing 'webhooks[].SubscriptionID' part"),
    ("      requests:\n", "      calls:\n", "missing 'webhooks[].Requests[]' part"),
    (f"        - url: {URL}\n", "        - uri: x\n", "webhook request URL empty"),
    ("          method: POST\n", "", "webhook request method empty"),
    ("          method: POST\n", "          method: post\n", "unsupported webhook request method"),
    ("          method: POST\n", "          method: PATCH\n", "unsupported webhook request method"),
    ("          method: POST\n", "          method: DELETE\n", "unsupported webhook request method"),
    ("              value: application/json\n", "              value: ''\n", "webhook request header or value empty"),
    ("            - key: Content-Type\n", "            - key:\n", "webhook request header or value empty"),
]


@pytest.mark.parametrize("old,new,message", MISSING_OR_INVALID)
def test_decode_rejects_each_missing_or_invalid_field_with_keptns_message(old: str, new: str, message: str) -> None:
    assert old in EXAMPLE
    with pytest.raises(DecodeError) as caught:
        decode(EXAMPLE.replace(old, new, 1))
    assert str(caught.value) == "Webhook configuration invalid: " + message


def test_an_empty_requests_list_is_missing_too() -> None:
    text = EXAMPLE.split("      requests:\n")[0] + "      requests: []\n"
    with pytest.raises(DecodeError, match=r"missing 'webhooks\[\]\.Requests\[\]' part"):
        decode(text)


def test_one_bad_webhook_invalidates_the_whole_file() -> None:
    good = EXAMPLE.split("  webhooks:\n")[1]
    bad = good.replace(SUB, "second").replace("method: POST", "method: PATCH")
    with pytest.raises(DecodeError, match="unsupported webhook request method"):
        decode(EXAMPLE + bad)


def test_type_checks_of_all_webhooks_come_before_request_checks() -> None:
    """Keptn checks type/subscriptionID/requests of every webhook first, then the v1beta1 requests."""
    good = EXAMPLE.split("  webhooks:\n")[1]
    text = EXAMPLE.replace("method: POST", "method: PATCH") + good.replace(
        "    - type: sh.keptn.event.evaluation.finished\n", "    - kind: none\n")
    with pytest.raises(DecodeError, match=r"missing 'webhooks\[\]\.Type' part"):
        decode(text)


def test_unknown_keys_are_ignored_and_request_keys_match_case_insensitively() -> None:
    text = EXAMPLE.replace("          method: POST\n", "          Method: POST\n          timeout: 10\n")
    assert decode(text).webhooks[0].requests[0].method == "POST"


def test_a_payload_written_as_a_yaml_mapping_is_silently_dropped() -> None:
    """mapstructure cannot put a mapping into a string; Keptn ignores that error: no --data at all."""
    config = beta(payload="", extra='payload: {"summary": "x"}')
    assert config.webhooks[0].requests[0].payload == ""
    assert build_command(API_V1BETA1, config.webhooks[0].requests[0]) == (
        f"curl --request POST --header 'Content-Type: application/json' {URL}")


def test_a_string_request_in_a_v1beta1_file_is_rejected() -> None:
    text = EXAMPLE.split("      requests:\n")[0] + f"      requests:\n        - curl {URL}\n"
    with pytest.raises(DecodeError, match="webhook request URL empty"):
        decode(text)


@pytest.mark.parametrize("old,new,message", [
    ("      sendStarted: false\n", "      sendStarted: maybe\n", "line 10: cannot unmarshal !!str `maybe` into bool"),
    ("      sendStarted: false\n", "      sendStarted: 1\n", "line 10: cannot unmarshal !!int `1` into bool"),
    ("  name: webhook-configuration\n", "  name: [a]\n", "line 4: cannot unmarshal !!seq into string"),
    ("      requests:\n", "      requests: {}\n      x:\n", "line 16: cannot unmarshal !!map into []interface {}"),
    ("      sendFinished: false\n", "      sendFinished: false\n      sendFinished: true\n",
     'line 10: mapping key "sendFinished" already defined at line 9'),
])
def test_yaml_type_errors_reject_the_file_like_yaml_v3(old: str, new: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(EXAMPLE.replace(old, new, 1))
    assert str(caught.value) == "yaml: unmarshal errors:\n  " + message


def test_yaml_1_1_booleans_work_for_send_flags() -> None:
    config = decode(EXAMPLE.replace("      sendStarted: false\n", "      sendStarted: yes\n"))
    assert config.webhooks[0].send_started is True


def test_a_yaml_syntax_error_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="^yaml: line"):
        decode("apiVersion: [x\n")


# --- 2. building the command -----------------------------------------------------------------------

def beta_request(payload: str = "{}", headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
                 options: str = "", url: str = URL) -> Request:
    return Request(url=url, method="POST", headers=headers, payload=payload, options=options, raw=None)


def test_the_command_is_built_in_keptns_order() -> None:
    request = beta_request('{"a":1}', (("Content-Type", "application/json"), ("X-Id", "7")), "--max-time 10")
    assert build_command(API_V1BETA1, request) == (
        "curl --request POST --header 'Content-Type: application/json' --header 'X-Id: 7' "
        f"--data '{{\"a\":1}}' --max-time 10 {URL}")


def test_a_percent_in_the_payload_eats_the_url() -> None:
    # Go: the URL step reads `%"` as a verb and consumes the URL; the final %s has nothing left.
    command = build_command(API_V1BETA1, beta_request('{"summary":"90%"}'))
    assert command == ("curl --request POST --header 'Content-Type: application/json' "
                       f"--data '{{\"summary\":\"90%!\"(string={URL})}}' %!s(MISSING)")


def test_a_percent_in_the_payload_with_options_corrupts_twice() -> None:
    # Go: `% o` eats the options at the options step, then `%!o` eats the URL at the URL step.
    command = build_command(API_V1BETA1, beta_request('{"summary":"90% of budget"}', options="--max-time 10"))
    assert command == (
        "curl --request POST --header 'Content-Type: application/json' --data '{\"summary\":\"90%!!(string="
        f"{URL})o(string=--max-time 10)f budget\"}}' %!!(MISSING)s(MISSING) %!s(MISSING)")


def test_a_percent_in_a_header_value_corrupts_the_following_steps() -> None:
    command = build_command(API_V1BETA1, beta_request(
        "{}", (("X-Quota", "5%"), ("Content-Type", "application/json"))))
    assert command == (  # Go
        f"curl --request POST --header 'X-Quota: 5%!!(string={URL})!(string={{}})'(string=Content-Type) "
        "--header 'application/json: %!!(MISSING)!(MISSING)s(MISSING)' --data '%!!(MISSING)s(MISSING)' "
        "%!s(MISSING)")


def test_a_double_percent_is_no_escape_it_depends_on_the_steps_that_follow() -> None:
    # Options are the last formatted step before the URL: %% becomes a single % ...
    assert build_command(API_V1BETA1, beta_request(options="-w 100%%")).endswith(f"-w 100% {URL}")
    # ... but in the payload it survives one step as %% and is a verb (`% s`) at the next.
    command = build_command(API_V1BETA1, beta_request('{"s":"100%% sure"}', options="--max-time 10"))
    assert command.endswith(f"--data '{{\"s\":\"100{URL}ure\"}}' --max-time 10 %!s(MISSING)")


def test_a_percent_in_the_url_is_harmless_to_the_chain() -> None:
    assert build_command(API_V1BETA1, beta_request(url=URL + "?q=a%20b")).endswith(f"'{{}}' {URL}?q=a%20b")


def test_a_percent_from_event_data_is_harmless() -> None:
    simulation = run(beta('{"summary":"{{.data.message}}"}'), event(message="90% done"))
    assert simulation.ok and simulation.results[0].json_body == {"summary": "90% done"}


def test_a_v1alpha1_string_is_used_as_is() -> None:
    command = f"curl -X POST -d '{{\"s\":\"90%\"}}' {URL}"
    assert build_command(API_V1ALPHA1, alpha(command).webhooks[0].requests[0]) == command


@pytest.mark.parametrize("format_,args,expected", [  # Go
    ("a %d", ["x"], "a %!d(string=x)"),
    ("hi", ["x"], "hi%!(EXTRA string=x)"),
    ("%", [], "%!(NOVERB)"),
    ("%[3]s", ["a"], "%!s(BADINDEX)"),
    ("%*s", ["a", "b"], "%!(BADWIDTH)b"),
    ("%10d", ["ab"], "%!d(string=        ab)"),
    ("%# x|%q|%05s", ["hi", 'a"b', "ab"], '0x68 0x69|"a\\"b"|000ab'),
])
def test_go_sprintf_matches_go(format_: str, args: list[str], expected: str) -> None:
    assert go_sprintf(format_, args) == expected


# --- parsing and checking the rendered command -------------------------------------------------------


def test_the_splitter_keeps_backslashes_inside_quotes_and_escapes_outside() -> None:
    assert split_command(r"""curl -H 'a: b' --data '{\"x\":1}' a\ b "c d"e""") == [
        "curl", "-H", "a: b", "--data", r'{\"x\":1}', "a b", "c d", "e"]


def test_non_ascii_text_reaches_curl_double_encoded() -> None:
    """Keptn appends string(byte) per byte: UTF-8 text is re-encoded as if it were Latin-1 (Go)."""
    assert split_command("curl -d 'é €'") == ["curl", "-d", "Ã© â\x82¬"]


def test_non_ascii_event_text_reaches_pagerduty_garbled_unless_urlquoted() -> None:
    config = beta('{"plain":"{{.data.message}}","quoted":"{{urlquery .data.message}}"}')
    (result,) = run(config, event(message="Prüfung")).results
    assert result.json_body == {"plain": "PrÃ¼fung", "quoted": "Pr%C3%BCfung"}


def test_an_apostrophe_in_the_payload_breaks_parsing() -> None:
    config = beta('{"summary":"it\'s down"}')
    assert error_of(config) == (
        "could not execute request 'curl --request POST --header 'Content-Type: application/json' "
        f"--data '{{\"summary\":\"it's down\"}}' {URL}': could not parse curl command")


def test_an_apostrophe_from_event_data_breaks_parsing() -> None:
    config = beta('{"summary":"{{.data.message}}"}')
    assert error_of(config, event(message="it's down")).endswith(": could not parse curl command")


def test_two_apostrophes_do_not_break_parsing_but_split_the_payload() -> None:
    simulation = run(beta('{"summary":"{{.data.message}}"}'), event(message="a'b'c"))
    assert simulation.ok and simulation.results[0].json_body is None  # curl got a broken body


def test_events_that_render_the_same_command_get_the_same_request_and_refusal() -> None:
    """Parsed commands are kept for reuse: a command that parses gives equal results each time, and a
    refused one is refused each time (a refusal is never kept as a result)."""
    config = beta('{"summary":"{{.data.message}}"}')
    first, again = run(config, event(message="up")), run(config, event(message="up", result="fail"))
    assert first.results == again.results and first.results[0].json_body == {"summary": "up"}
    for _ in range(2):
        assert error_of(config, event(message="a > b")).endswith("curl command contains denied character '>'")


@pytest.mark.parametrize("char", DENIED_CHARACTERS)
def test_each_denied_character_in_static_text_fails_the_request(char: str) -> None:
    config = beta('{"summary":"a' + char + 'b"}')
    reported = "$" if char == "$(" else char  # Keptn checks "$" before "$("
    assert error_of(config).endswith(f"': curl command contains denied character '{reported}'")


@pytest.mark.parametrize("char", DENIED_CHARACTERS)
def test_each_denied_character_from_event_data_fails_the_request(char: str) -> None:
    config = beta('{"summary":"{{.data.message}}"}')
    reported = "$" if char == "$(" else char
    assert error_of(config, event(message="a" + char + "b")).endswith(
        f"curl command contains denied character '{reported}'")


def test_a_denied_character_fails_the_request_with_keptns_full_message() -> None:
    assert error_of(beta('{"summary":"a > b"}')) == (
        "could not execute request 'curl --request POST --header 'Content-Type: application/json' "
        f"--data '{{\"summary\":\"a > b\"}}' {URL}': curl command contains denied character '>'")


@pytest.mark.parametrize("option", DENIED_OPTIONS)
def test_each_denied_option_fails_the_request(option: str) -> None:
    assert error_of(beta(options=f"{option} x")).endswith(f"curl command contains invalid option '{option}'")


def test_denied_options_are_a_prefix_match_on_every_argument() -> None:
    assert error_of(beta(options="--output-dir /tmp")).endswith("contains invalid option '--output'")
    assert error_of(beta('-Text')).endswith("contains invalid option '-T'")  # the payload argument


@pytest.mark.parametrize("command", [f"curl -d @/etc/passwd {URL}", f"curl --data @x {URL}"])
def test_data_from_a_file_fails_the_request(command: str) -> None:
    assert error_of(alpha(command)).endswith("file uploads using @ in --data is not allowed")


def test_data_raw_with_an_at_sign_is_allowed() -> None:
    assert run(alpha(f"curl --data-raw @x {URL}")).ok


def test_data_as_the_last_argument_crashes_the_service() -> None:
    simulation = run(alpha(f"curl {URL} --data"))
    assert simulation.error is not None and "index out of range [3] with length 3" in simulation.error


def test_the_command_must_start_with_curl_and_a_space() -> None:
    assert error_of(alpha(f"wget {URL}")).endswith(": only curl commands are allowed to be executed")
    assert error_of(alpha(f" curl {URL}")).endswith(": only curl commands are allowed to be executed")
    with pytest.raises(CurlCommandError, match="^no command provided$"):
        check_command("")


def test_fail_with_body_is_appended_once() -> None:
    assert check_command(f"curl {URL}") == ["curl", URL, "--fail-with-body"]
    assert check_command(f"curl --fail-with-body {URL}") == ["curl", "--fail-with-body", URL]


# --- URL deny lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "kubernetes.default.svc", "my-svc.keptn.svc.cluster.local"])
def test_v1beta1_urls_on_the_deny_list_fail(host: str) -> None:
    message = error_of(beta(url=f"http://{host}:8080/x"))
    assert message.startswith("creating CURL request failed: curl command contains denied URL '")
    assert message.removeprefix("creating CURL request failed: curl command contains denied URL '")[:-1] in host


def test_v1beta1_checks_an_ipv6_literal_host() -> None:
    assert error_of(beta(url="http://[::1]:80/x")) == (
        "creating CURL request failed: curl command contains denied URL '::1'")


def test_v1beta1_only_the_url_is_checked_against_the_deny_list() -> None:
    assert run(beta('{"summary":"kubernetes on localhost"}')).ok


def test_v1beta1_deny_list_is_the_configmap() -> None:
    config = beta(url="https://hooks.example.com/x")
    hook = find_webhook(config, SUB)
    assert hook is not None
    simulation = simulate(config, hook, event(), SECRETS, deny_list=DEFAULT_DENY_LIST + ("example.com",))
    assert simulation.error == "creating CURL request failed: curl command contains denied URL 'example.com'"


def test_v1beta1_a_templated_host_fails() -> None:
    message = error_of(beta(url="https://{{.env.host}}/v2/enqueue"))
    assert message == ('creating CURL request failed: parse "https://{{.env.host}}/v2/enqueue": '
                       'invalid character "{" in host name')  # Go


def test_v1beta1_a_fully_templated_url_fails_at_dns() -> None:
    assert error_of(beta(url="{{.env.url}}")) == "creating CURL request failed: lookup : no such host"  # Go


def test_v1beta1_templating_in_the_path_and_query_is_fine() -> None:
    simulation = run(beta(url=URL + "/{{.data.project}}?s={{.data.stage}}"))
    assert simulation.ok and simulation.results[0].url == URL + "/sockshop?s=production"


def test_v1alpha1_checks_the_whole_raw_command_even_the_payload() -> None:
    config = alpha(f"""curl -X POST -d '{{"summary":"pod restarted by kubernetes"}}' {URL}""")
    assert error_of(config) == "creating CURL request failed: curl command contains denied URL 'kubernetes'"


def test_v1alpha1_ignores_backslashes_when_checking_the_deny_list() -> None:
    assert error_of(alpha(r"curl http://local\host/x")).endswith("denied URL 'localhost'")


def test_v1alpha1_uses_the_fixed_list_not_the_configmap() -> None:
    config = alpha(f"curl -X POST {URL}")
    hook = find_webhook(config, SUB)
    assert hook is not None
    assert simulate(config, hook, event(), SECRETS, deny_list=("pagerduty.com",)).ok


# --- 3. templating -----------------------------------------------------------------------------------


def test_a_missing_key_fails_the_request() -> None:
    message = error_of(beta('{"summary":"{{.data.message}}"}'), event(message=None))
    assert message.startswith("could not parse request 'curl --request POST")
    assert message.endswith('map has no entry for key "message"')


def test_a_missing_key_fails_even_inside_if() -> None:
    message = error_of(beta('{"summary":"{{if .data.message}}{{.data.message}}{{end}}"}'), event(message=None))
    assert message.endswith('map has no entry for key "message"')


@pytest.mark.parametrize("snippet,expected", [
    ('{{with index .data "message"}}{{.}}{{end}}', ""),
    ('{{or (index .data "message") "n/a"}}', "n/a"),
])
def test_the_safe_forms_for_optional_keys(snippet: str, expected: str) -> None:
    simulation = run(beta('{"summary":"' + snippet + '"}'), event(message=None))
    assert simulation.ok and simulation.results[0].json_body == {"summary": expected}


def test_a_bare_index_of_an_absent_key_prints_no_value_which_fails_the_gt_check() -> None:
    message = error_of(beta('{"summary":"{{index .data "message"}}"}'), event(message=None))
    assert message.endswith("curl command contains denied character '>'")


def test_index_on_an_empty_list_fails_and_with_guards_it() -> None:
    ev = event(deployment={"deploymentURIsPublic": []})
    assert "index out of range" in error_of(beta('{"u":"{{index .data.deployment.deploymentURIsPublic 0}}"}'), ev)
    guarded = '{"u":"{{with .data.deployment.deploymentURIsPublic}}{{index . 0}}{{end}}"}'
    assert run(beta(guarded), ev).results[0].json_body == {"u": ""}


def test_numbers_print_as_go_prints_float64() -> None:
    payload = '{"a":{{.data.a}},"b":{{.data.b}},"c":{{.data.c}}}'
    ev = event(a=100, b=66.66666666666667, c=1600000000000)
    (result,) = run(beta(payload), ev).results
    assert result.body == '{"a":100,"b":66.66666666666667,"c":1.6e+12}'  # Go
    assert result.json_body == {"a": 100, "b": 66.66666666666667, "c": 1.6e12}


def test_an_env_name_must_be_a_go_identifier() -> None:
    config = beta('{"k":"{{.env.routing-key}}"}')
    assert "bad character U+002D '-'" in error_of(config)


def test_whole_objects_print_go_map_syntax_not_json() -> None:
    (result,) = run(beta('{"labels":"{{.data.labels}}"}'), event(labels={"b": "2", "a": "1"})).results
    assert result.json_body == {"labels": "map[a:1 b:2]"}


def test_a_quote_or_newline_from_event_data_makes_the_json_invalid() -> None:
    config = beta('{"summary":"{{.data.message}}"}')
    for message in ('say "hi"', "two\nlines"):
        (result,) = run(config, event(message=message)).results
        assert result.error is None and result.json_body is None


def test_urlquery_makes_a_hostile_message_safe() -> None:
    hostile = "it's > 5; rm -rf $HOME | `x` && y \"q\"\n"
    config = beta('{"summary":"{{with index .data "message"}}{{urlquery .}}{{end}}"}')
    simulation = run(config, event(message=hostile))
    assert simulation.ok
    assert simulation.results[0].json_body == {  # Go
        "summary": "it%27s+%3E+5%3B+rm+-rf+%24HOME+%7C+%60x%60+%26%26+y+%22q%22%0A"}
    for unsafe in ("{{js .}}", "{{html .}}"):
        assert not run(beta('{"summary":"{{with index .data "message"}}' + unsafe + '{{end}}"}'),
                       event(message=hostile)).ok


def test_the_template_sees_the_event_as_keptn_reencodes_it() -> None:
    ev = event()
    ev["unknown"] = "dropped"
    ev["gitcommitid"] = ""
    del ev["triggeredid"]
    ev["time"] = "2023-05-17T08:32:14.120000+00:00"
    data = template_data(ev, SUB, {"routingKey": KEY})
    assert "unknown" not in data and "gitcommitid" not in data and "triggeredid" not in data
    assert data["time"] == "2023-05-17T08:32:14.12Z"
    assert data["data"]["temporaryData"] == {"distributor": {"subscriptionID": SUB}}
    assert data["env"] == {"routingKey": KEY}
    assert template_data({"type": "x", "data": {}}, SUB, {})["time"] == "0001-01-01T00:00:00Z"


# --- secrets -------------------------------------------------------------------------------------------


def test_a_missing_secret_fails_before_any_request() -> None:
    simulation = run(beta(), secrets={})
    assert simulation.error == "could not read secret pagerduty.routing-key" and simulation.results == ()


def test_a_missing_key_of_an_existing_secret_renders_empty() -> None:
    simulation = run(beta('{"k":"{{.env.routingKey}}"}'), secrets={("pagerduty", "other"): "x"})
    assert simulation.ok and simulation.results[0].json_body == {"k": ""}


def test_secret_values_are_masked_in_error_messages() -> None:
    message = error_of(beta("{\"k\":\"{{.env.routingKey}}\",\"s\":\"{{.data.message}}\"}"), event(message="a > b"))
    assert KEY not in message  # the untemplated request never holds it; masking is a second guard
    simulation = run(alpha(f"curl -H 'x: {KEY}' {URL} -o x"))
    assert simulation.error is not None and KEY not in simulation.error and "***" in simulation.error


# --- 5. events and what goes back ---------------------------------------------------------------------


def two_requests(webhook_extra: str = "", second: str = URL) -> WebhookConfig:
    text = EXAMPLE.replace("      sendFinished: false\n      sendStarted: false\n", webhook_extra)
    request = text.split("      requests:\n")[1]
    return decode(text + request.replace(f"        - url: {URL}", f"        - url: {second}", 1))


def triggered(task: str = "approval") -> dict[str, Any]:
    ev = event()
    ev["type"] = f"sh.keptn.event.{task}.triggered"
    del ev["triggeredid"]
    return ev


STARTED, FINISHED = "sh.keptn.event.approval.started", "sh.keptn.event.approval.finished"


@pytest.mark.parametrize("flags,sent", [
    ("", (STARTED, STARTED)),  # defaults: one .started per request, never a .finished: the task hangs
    ("sendFinished: true\n", (STARTED, FINISHED)),
    ("sendStarted: false\n", ()),
    ("sendStarted: false\nsendFinished: true\n", (FINISHED,)),
])
def test_a_triggered_subscription_answers_keptn(flags: str, sent: tuple[str, ...]) -> None:
    extra = "".join(f"      {line}\n" for line in flags.splitlines())
    simulation = run(two_requests(extra), triggered())
    assert simulation.ok and simulation.sent_back == sent
    # Keptn ends a task when as many .started as .finished came, and at least one.
    assert simulation.leaves_task_open == (flags in ("", "sendStarted: false\nsendFinished: true\n"))


@pytest.mark.parametrize("flags,sent", [
    ("", (STARTED, STARTED, FINISHED + ":fail")),  # the first request ran: one .finished per request left
    ("sendFinished: true\n", (STARTED, FINISHED + ":fail")),
    ("sendStarted: false\n", (FINISHED + ":fail",)),
])
def test_a_failure_on_a_triggered_subscription_fails_the_task(flags: str, sent: tuple[str, ...]) -> None:
    extra = "".join(f"      {line}\n" for line in flags.splitlines())
    simulation = run(two_requests(extra, second="http://localhost/x"), triggered())
    assert len(simulation.results) == 2 and simulation.results[0].error is None
    assert simulation.sent_back == sent and simulation.fails_task


def test_a_failure_before_any_request_sends_one_fail_per_request() -> None:
    simulation = run(two_requests(), triggered(), secrets={})
    assert simulation.sent_back == (STARTED, STARTED, FINISHED + ":fail", FINISHED + ":fail")


def test_no_webhook_found_sends_started_and_a_failed_finished() -> None:
    config = decode(EXAMPLE)
    simulation = simulate(config, None, triggered(), SECRETS)
    assert simulation.error == "could not retrieve Webhook config: no valid webhook config found"
    assert simulation.sent_back == (STARTED, FINISHED + ":fail")
    assert simulate(config, None, event(), SECRETS).sent_back == ()


def test_finished_and_started_subscriptions_never_answer_even_on_failure() -> None:
    for kind in ("finished", "started"):
        ev = event()
        ev["type"] = f"sh.keptn.event.approval.{kind}"
        simulation = run(two_requests(second="http://localhost/x"), ev)
        assert simulation.error is not None and simulation.sent_back == ()


@pytest.mark.parametrize("event_type", [
    "sh.keptn.event.production.delivery.finished", "sh.keptn.event.production.remediation.triggered",
    "sh.keptn.event.evaluation.status.changed", "sh.keptn.events.problem", "sh.keptn.event..finished",
])
def test_events_other_than_task_events_are_dropped(event_type: str) -> None:
    ev = event()
    ev["type"] = event_type
    simulation = run(decode(EXAMPLE), ev)
    assert simulation.ignored and simulation.results == () and simulation.sent_back == ()


def test_an_event_without_project_stage_and_service_is_dropped_without_an_answer() -> None:
    ev = triggered()
    del ev["data"]["stage"]
    simulation = run(two_requests(), ev)
    assert simulation.error == "could not parse incoming event" and simulation.sent_back == ()
    assert simulation.ignored == "project, stage and service must be present in the event data"


# --- v1alpha1 end to end -------------------------------------------------------------------------------


def test_the_v1alpha1_path() -> None:
    command = ("curl -X POST -H 'Content-Type: application/json' --max-time 10 "
               "--data '{\"routing_key\":\"{{.env.routingKey}}\",\"summary\":\"{{.data.project}}\"}' " + URL)
    simulation = run(alpha(command))
    assert simulation.ok
    (result,) = simulation.results
    assert result.argv == ("curl", "-X", "POST", "-H", "Content-Type: application/json", "--max-time", "10",
                           "--data", f'{{"routing_key":"{KEY}","summary":"sockshop"}}', URL, "--fail-with-body")
    assert (result.url, result.method, result.json_body) == (URL, "POST", {"routing_key": KEY, "summary": "sockshop"})


def test_a_v1alpha1_file_may_hold_mapping_requests_built_without_checks() -> None:
    config = decode(f"apiVersion: {API_V1ALPHA1}\nspec:\n  webhooks:\n    - type: t\n      subscriptionID: {SUB}\n"
                    f"      requests:\n        - url: {URL}\n          method: patch\n")
    assert build_command(API_V1ALPHA1, config.webhooks[0].requests[0]) == f"curl --request patch {URL}"
    assert run(config).ok


# --- real events -----------------------------------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_every_real_keptn_event_gives_a_valid_json_body(path: Path) -> None:
    config = decode(EXAMPLE)
    ev = json.loads(path.read_text(encoding="utf-8"))
    simulation = run(config, ev)
    data = ev.get("data") or {}
    if len(ev["type"].split(".")) != 5:
        assert simulation.ignored and simulation.sent_back == ()
    elif not (data.get("project") and data.get("stage") and data.get("service")):
        assert simulation.error == "could not parse incoming event"
    else:
        assert simulation.ok, simulation.error
        (result,) = simulation.results
        assert isinstance(result.json_body, dict), result.body
        assert result.json_body["routing_key"] == KEY
        assert result.json_body["dedup_key"] == f"keptn-{data['project']}-{data['stage']}-{data['service']}"


def test_an_argument_linux_refuses_fails_the_request_as_exec_does() -> None:
    # The payload is one argument of curl's; Linux takes an argument of at most 128 KiB, its NUL included.
    limit = MAX_ARGUMENT_BYTES
    at_most = '{"s":"' + "x" * (limit - 1 - 8) + '"}'  # 131,071 bytes and the NUL
    assert len(at_most) == limit - 1
    assert run(beta(at_most)).ok
    over = at_most.replace("x", "é", 1)  # one byte more
    assert error_of(beta(over)).endswith(": fork/exec /usr/bin/curl: argument list too long")
    assert refused_argument(("curl", over)) == limit + 1 and refused_argument(("curl", at_most)) == 0
    assert refused_argument(["é" * (limit // 4)]) == 0  # long in characters, short in bytes


@pytest.mark.skipif(sys.platform != "linux", reason="Keptn runs on Linux; other systems have other limits")
def test_the_argument_limit_is_the_one_of_linux() -> None:
    true = shutil.which("true")
    assert true is not None
    subprocess.run([true, "x" * (MAX_ARGUMENT_BYTES - 1)], check=True)
    with pytest.raises(OSError, match="Argument list too long"):
        subprocess.run([true, "x" * MAX_ARGUMENT_BYTES], check=True)


def test_yaml_v3_reads_yaml_1_1_only() -> None:
    base = "\n".join(f"{line}" for line in [
        f"apiVersion: {API_V1BETA1}", "kind: WebhookConfig", "spec:", "  webhooks:",
        "    - type: sh.keptn.event.evaluation.finished", f"      subscriptionID: {SUB}",
        "      requests:", f"        - url: {URL}", "          method: POST"]) + "\n"
    assert decode("%YAML 1.1\n---\n" + base).webhooks
    with pytest.raises(DecodeError, match="^yaml: found incompatible YAML document$"):
        decode("%YAML 1.2\n---\n" + base)
    with pytest.raises(DecodeError, match="^yaml: found incompatible YAML document$"):
        decode("# a comment first\n%YAML 1.2\n---\n" + base)


def _merge_file(headers: str) -> str:
    return "\n".join([
        f"apiVersion: {API_V1BETA1}", "kind: WebhookConfig", "spec:", "  webhooks:",
        "    - type: sh.keptn.event.evaluation.finished", f"      subscriptionID: {SUB}",
        "      requests:", f"        - url: {URL}", "          method: POST", "          headers:"]) + "\n" + headers


def test_merge_keys_apply_as_in_yaml_v3() -> None:
    # The mapping's own keys win; of several merged mappings, the first that has a key gives it.
    headers = ("            - &h {key: Content-Type, value: application/json}\n"
               "            - <<: *h\n"
               "              key: X-A\n"
               "            - <<: [{key: X-B}, *h, {value: never}]\n")
    request = decode(_merge_file(headers)).webhooks[0].requests[0]
    assert request.headers == (("Content-Type", "application/json"), ("X-A", "application/json"),
                               ("X-B", "application/json"))
    with pytest.raises(DecodeError, match="^yaml: map merge requires map or sequence of maps as the value$"):
        decode(_merge_file("            - <<: [x]\n              key: X-A\n"))
    quoted = _merge_file('            - {"<<": {key: K, value: V}, key: X-A, value: v}\n')
    assert decode(quoted).webhooks[0].requests[0].headers == (("X-A", "v"),)  # a quoted << is a key like any
    with pytest.raises(DecodeError, match='mapping key "<<" already defined'):
        decode(_merge_file("            - {<<: {key: K}, <<: {value: V}}\n"))


def test_a_nul_in_an_argument_fails_the_request_as_go_exec_does() -> None:
    ev = event()
    ev["data"]["message"] = "a\u0000b"  # from event data: YAML text cannot hold one
    config = beta('{"m": "{{.data.message}}"}')
    assert run(config).ok
    assert error_of(config, ev).endswith(": fork/exec /usr/bin/curl: invalid argument")
