"""Placeholders compile into Go template text that Keptn renders safely for any event."""

from __future__ import annotations

import json

import pytest

from keptn_pagerduty.events import load_catalogue
from keptn_pagerduty.keptn.gotemplate import render
from keptn_pagerduty.placeholders import Context, PlaceholderError, compile_text, json_static

HAZARDS = "%'$|;>&`{}"


def event_type(name: str = "evaluation.finished"):
    return load_catalogue().lookup(name)


def rendered(text: str, event: dict, name: str = "evaluation.finished", context: Context = Context()) -> str:
    """What PagerDuty reads: the compiled text rendered by Go's rules, decoded as a JSON string."""
    template = compile_text(text, event_type(name), context).template
    return json.loads('"' + render(template, event) + '"')


EVENT = {"type": "sh.keptn.event.evaluation.finished", "time": "2024-05-01T10:00:00.000Z",
         "shkeptncontext": "0b8c8a56-6e5b-4d5b-9a4b-6f3c1c0e9e11", "id": "x", "source": "lighthouse-service",
         "specversion": "1.0",
         "data": {"project": "sockshop", "stage": "production", "service": "carts", "result": "fail",
                  "evaluation": {"score": 0, "result": "fail"},
                  "message": "Evaluation failed due to key_sli objective 'p95': 1203 > 1000; see https://x?a=1&b=2"}}


def test_static_text_escapes_every_character_keptn_treats_specially() -> None:
    escaped = json_static("90% of 'carts' > SLO; $HOME | `x` && {a}")
    assert not set(escaped) & set(HAZARDS)
    assert json.loads(f'"{escaped}"') == "90% of 'carts' > SLO; $HOME | `x` && {a}"


def test_static_text_breaks_the_var_run_substring_and_v1alpha1_deny_words() -> None:
    assert "/var/run" not in json_static("mounts /var/run")
    alpha = json_static("on kubernetes via localhost", api_version="v1alpha1")
    assert "kubernetes" not in alpha and "localhost" not in alpha
    assert json.loads(f'"{alpha}"') == "on kubernetes via localhost"


def test_required_names_print_plainly() -> None:
    compiled = compile_text("{project}/{stage}/{service}", event_type())
    assert compiled.template == "{{.data.project}}/{{.data.stage}}/{{.data.service}}"
    assert rendered("{project}/{stage}/{service}", EVENT) == "sockshop/production/carts"


def test_optional_number_zero_is_printed_not_replaced_by_the_default() -> None:
    assert rendered("score {evaluation.score|n/a}", EVENT) == "score 0"
    without = json.loads(json.dumps(EVENT))
    del without["data"]["evaluation"]
    assert rendered("score {evaluation.score|n/a}", without) == "score n/a"
    without["data"]["evaluation"] = {"result": "fail"}
    assert rendered("score {evaluation.score|n/a}", without) == "score n/a"


def test_absent_optional_text_prints_its_default_instead_of_failing() -> None:
    without = json.loads(json.dumps(EVENT))
    del without["data"]["message"]
    assert rendered("{message|no message}", without) == "no message"
    assert rendered("[{message}]", without) == "[]"


def test_free_text_goes_through_urlquery_and_is_cut() -> None:
    out = rendered("{message}", EVENT)
    assert out.startswith("Evaluation+failed+due+to+key_sli+objective+%27p95%27")
    assert not set(out) & set("'$|;>&` ")
    long = json.loads(json.dumps(EVENT))
    long["data"]["message"] = "x" * 5000
    assert len(rendered("{message}", long, context=Context(free_text_limit=200))) == 200


def test_label_keys_and_static_placeholders() -> None:
    event = json.loads(json.dumps(EVENT))
    event["data"]["labels"] = {"buildId": "1.2.3 'rc'"}
    assert rendered("{labels.buildId|none} {task} {phase} {event}", event) == \
        "1.2.3+%27rc%27 evaluation finished evaluation.finished"
    assert rendered("{labels.other|none}", event) == "none"


def test_literal_braces_never_reach_the_template_parser() -> None:
    compiled = compile_text("{{literal}} and {{{{", event_type())
    assert "{" not in compiled.template and "}" not in compiled.template
    assert rendered("{{literal}} and {{{{", EVENT) == "{literal} and {{"


@pytest.mark.parametrize(("text", "message", "offset"), [
    ("Gate {result", "a `{` that starts no placeholder", 5),
    ("x } y", "a lone `}`", 2),
    ("{}", "an empty placeholder", 0),
    ("score {score}", "`{score}` is not a field of evaluation.finished", 6),
    ("{labels}", "`{labels}` is a map", 0),
])
def test_errors_name_the_problem_and_its_position(text: str, message: str, offset: int) -> None:
    with pytest.raises(PlaceholderError) as caught:
        compile_text(text, event_type())
    assert message in str(caught.value)
    assert caught.value.offset == offset


def test_unknown_field_lists_the_fields_the_event_has() -> None:
    with pytest.raises(PlaceholderError) as caught:
        compile_text("{score}", event_type())
    assert "evaluation.score" in caught.value.hint and "message" in caught.value.hint


def test_lists_are_refused_where_length_is_bounded() -> None:
    with pytest.raises(PlaceholderError):
        compile_text("{deployment.deploymentURIsPublic}", event_type("deployment.finished"),
                      Context(allow_lists=False))
    assert compile_text("{deployment.deploymentURIsPublic}", event_type("deployment.finished")).max_length is None


def test_max_length_adds_static_text_and_field_bounds() -> None:
    compiled = compile_text("ab{project}", event_type())
    assert compiled.max_length == 2 + 63
