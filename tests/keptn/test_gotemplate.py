"""The Go text/template simulator against outputs and error texts of Go 1.20's text/template and fmt.

Expected strings come from Go's behaviour as its sources define it (exec.go, funcs.go, parse.go,
lex.go, fmt/print.go, fmt/format.go, strconv/ftoa.go, net/url QueryEscape); where a message
quotes positions, they are Go's (1-based line, 0-based byte column of the node).
"""

from __future__ import annotations

import json
import math
import random
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keptn_pagerduty.keptn import gotemplate
from keptn_pagerduty.keptn.gotemplate import (
    GoInt,
    StringMap,
    Template,
    TemplateError,
    UnsupportedTemplateError,
    go_format,
    parse,
    render,
)

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "e-1",
    "type": "sh.keptn.event.evaluation.finished",
    "shkeptncontext": "ctx-1",
    "data": {
        "project": "shop",
        "stage": "prod",
        "service": "cart",
        "result": "fail",
        "score": 100,
        "ratio": 66.66666666666667,
        "nothing": None,
        "empty": [],
        "letters": ["a", None, "c"],
        "labels": {"b": "x", "a": 1},
        "deployment": {"deploymentURIsPublic": ["http://cart.example.com"]},
    },
    "env": {"routingKey": "R0UT1NG"},
}


# Every case also runs twice through one memo shared by the whole module (the second run is served from
# it where it can be): a memo must never change an output or an error.
MEMO = gotemplate.Memo()


def r(text: str, data: Any = EVENT, name: str = "") -> str:
    plain = render(text, data, name)
    for _ in range(2):
        assert render(text, data, name, MEMO) == plain
    return plain


def err(text: str, data: Any = EVENT, name: str = "") -> str:
    with pytest.raises(TemplateError) as info:
        render(text, data, name)
    assert type(info.value) is TemplateError, f"expected a Go error, got {info.value!r}"
    for _ in range(2):
        with pytest.raises(TemplateError) as memo_info:
            render(text, data, name, MEMO)
        assert str(memo_info.value) == str(info.value)
    return str(info.value)


def exec_error(at: str, message: str, where: str = "1:2", name: str = "") -> str:
    """Go's execution error text: template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE."""
    return f'template: {name}:{where}: executing "{name}" at <{at}>: {message}'


# --------------------------------------------------------------------------------------------
# Text, field chains, variables, pipelines
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, no actions", "plain text, no actions"),
        ("{{.data.project}}/{{.data.stage}}/{{.data.service}}", "shop/prod/cart"),
        ("{{.shkeptncontext}}", "ctx-1"),
        ("{{.env.routingKey}}", "R0UT1NG"),
        ("{{.data.labels.b}}", "x"),
        ("{{.data.deployment.deploymentURIsPublic}}", "[http://cart.example.com]"),
        ("{{$.data.project}}", "shop"),
        ("{{with .data}}{{.project}}{{end}}", "shop"),
        ("{{$p := .data.project}}{{$p}}-{{$p}}", "shop-shop"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{with $s := .data.stage}}{{$s}}={{.}}{{end}}", "prod=prod"),
        ('{{"world" | printf "hello %s"}}', "hello world"),
        ('{{printf "%s" "xyz" | len}}', "3"),
        ('{{(printf "%s-%s" .data.project .data.stage)}}', "shop-prod"),
        ("{{(index .data.letters 0)}}{{(.data.labels).b}}", "ax"),
        ("{{`raw {{not}} \\n`}}", "raw {{not}} \\n"),
        ('{{"tab\\tquote\\"nl\\n\\u00e9\\x41\\101"}}', 'tab\tquote"nl\né' + "AA"),
        (
            "{{true}} {{false}} {{0x1F}} {{1e3}} {{'a'}} {{1_000}} {{017}} {{.5}} {{-0}}",
            "true false 31 1000 97 1000 15 0.5 0",
        ),
        ("{{/* a comment */}}c", "c"),
    ],
)
def test_values_and_pipelines(text: str, expected: str) -> None:
    assert r(text) == expected


def test_missing_and_nil_print_no_value_at_action_level() -> None:
    # An action whose value is a nil interface{} prints <no value>; inside print it is <nil>.
    assert r('{{index .data "message"}}') == "<no value>"
    assert r("{{.data.nothing}}") == "<no value>"
    assert r('{{print (index .data "message")}} {{print .data.nothing}}') == "<nil> <nil>"
    assert r('{{index .data "message" | print}}') == "<nil>"


def test_env_is_a_string_map_like_keptns() -> None:
    # Keptn's env is map[string]string: a missing index gives "" (not <no value>).
    assert r('[{{index .env "nope"}}]') == "[]"
    assert r('{{printf "%T" .env}}') == "map[string]string"
    assert r("{{.env}}") == "map[routingKey:R0UT1NG]"
    explicit = {"data": {}, "env": StringMap(k="v")}
    assert r('{{index .env "k"}}{{index .env "x"}}', explicit) == "v"


def test_parse_is_pure_and_render_caches() -> None:
    text = "{{.data.project}}-{{.data.stage}}"
    tmpl = parse(text)
    assert isinstance(tmpl, Template)
    assert tmpl.execute(EVENT) == tmpl.execute(EVENT) == "shop-prod"
    before = gotemplate._parse_cached.cache_info().misses
    r(text)
    r(text)
    assert gotemplate._parse_cached.cache_info().misses <= before + 1  # parsed once at most


def test_data_is_not_modified() -> None:
    data = json.loads(json.dumps(EVENT))
    snapshot = json.dumps(data, sort_keys=True)
    r('{{range .data.letters}}{{.}}{{end}}{{index .env "x"}}', data)
    assert json.dumps(data, sort_keys=True) == snapshot
    assert type(data["env"]) is dict


# --------------------------------------------------------------------------------------------
# missingkey=error and the safe forms for optional keys
# --------------------------------------------------------------------------------------------


def test_missing_key_fails_with_gos_message() -> None:
    assert err("{{.data.message}}") == exec_error(".data.message", 'map has no entry for key "message"', "1:7")


def test_missing_key_fails_even_inside_if() -> None:
    # The field node's position is that of the first chained field (".message"), as in Go.
    assert err("{{if .data.message}}x{{end}}") == exec_error(
        ".data.message", 'map has no entry for key "message"', "1:10"
    )
    assert err("{{with .data.message}}x{{end}}").endswith('map has no entry for key "message"')
    assert err("{{if and .data.project .data.message}}x{{end}}").endswith('map has no entry for key "message"')


def test_missing_env_and_top_level_keys() -> None:
    assert err("{{.env.pagerdutyKey}}").endswith('at <.env.pagerdutyKey>: map has no entry for key "pagerdutyKey"')
    assert err("{{.triggeredid}}") == exec_error(".triggeredid", 'map has no entry for key "triggeredid"')


def test_error_location_uses_name_line_and_byte_column() -> None:
    text = "line one\n  é {{.data.message}}"
    assert err(text, name="webhook") == exec_error(
        ".data.message", 'map has no entry for key "message"', "2:12", name="webhook"
    )


@pytest.mark.parametrize(
    ("text", "with_message", "without_message"),
    [
        ('{{with index .data "message"}}{{.}}{{end}}', "boom", ""),
        ('{{with index .data "message"}}{{.}}{{else}}none{{end}}', "boom", "none"),
        ('{{or (index .data "message") "n/a"}}', "boom", "n/a"),
        ('{{if index .data "message"}}has{{end}}', "has", ""),
        ("{{with .data.deployment.deploymentURIsPublic}}{{index . 0}}{{end}}", "http://cart.example.com", ""),
    ],
)
def test_safe_forms_for_optional_keys(text: str, with_message: str, without_message: str) -> None:
    with_msg = json.loads(json.dumps(EVENT))
    with_msg["data"]["message"] = "boom"
    assert r(text, with_msg) == with_message
    without = json.loads(json.dumps(EVENT))
    without["data"]["deployment"]["deploymentURIsPublic"] = []
    assert r(text, without) == without_message


def test_index_of_an_empty_list_fails() -> None:
    # index == len makes reflect.Value.Index panic; Go reports the panic text.
    text = "{{index .data.empty 0}}"
    assert err(text) == exec_error("index .data.empty 0", "error calling index: reflect: slice index out of range")
    assert err("{{index .data.letters 5}}").endswith("error calling index: index out of range: 5")
    assert err("{{index .data.letters -1}}").endswith("error calling index: index out of range: -1")


@pytest.mark.parametrize(
    ("text", "context", "message", "where"),
    [
        ("{{.data.nothing.x}}", ".data.nothing.x", "nil pointer evaluating interface {}.x", "1:7"),
        ("{{.data.project.x}}", ".data.project.x", "can't evaluate field x in type interface {}", "1:7"),
        ("{{.data.letters.x}}", ".data.letters.x", "can't evaluate field x in type interface {}", "1:7"),
        ("{{with .data.project}}{{.x}}{{end}}", ".x", "can't evaluate field x in type string", "1:24"),
        ("{{$l := .data.letters}}{{$l.x}}", "$l.x", "can't evaluate field x in type []interface {}", "1:27"),
        ("{{range .data.letters}}{{.x}}{{end}}", ".x", "can't evaluate field x in type interface {}", "1:25"),
        ("{{.env.routingKey.x}}", ".env.routingKey.x", "can't evaluate field x in type string", "1:6"),
        ('{{$n := index .data "m"}}{{$n.x}}', "$n.x", 'nil data; no entry for key "x"', "1:29"),
        ("{{.data.project 1}}", ".data.project", "project is not a method but has arguments", "1:7"),
        ("{{1 2}}", "1", "can't give argument to non-function 1", "1:2"),
        ("{{nil}}", "nil", "nil is not a command", "1:2"),
    ],
)
def test_field_errors(text: str, context: str, message: str, where: str) -> None:
    assert err(text) == exec_error(context, message, where)


def test_nil_data() -> None:
    assert err("{{.x}}", None) == exec_error(".x", 'nil data; no entry for key "x"')
    assert r("{{.}}", None) == "<no value>"


# --------------------------------------------------------------------------------------------
# Printing of decoded JSON (go_format = fmt.Sprint)
# --------------------------------------------------------------------------------------------


GO_FORMAT_CASES: list[tuple[Any, str]] = [
    (100, "100"),
    (100.0, "100"),
    (66.66666666666667, "66.66666666666667"),
    (0.5, "0.5"),
    (-2.5, "-2.5"),
    (0, "0"),
    (-0.0, "-0"),
    (123456, "123456"),
    (999999, "999999"),
    (1000000, "1e+06"),
    (1234567, "1.234567e+06"),
    (1.6e12, "1.6e+12"),
    (1600000000000, "1.6e+12"),
    (1e20, "1e+20"),
    (1e21, "1e+21"),
    (0.0001, "0.0001"),
    (1e-05, "1e-05"),
    (1.5e-07, "1.5e-07"),
    (1e100, "1e+100"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (True, "true"),
    (False, "false"),
    (None, "<nil>"),
    ("as is: ' \" <>", "as is: ' \" <>"),
    ({"b": 2, "a": "x", "c": None}, "map[a:x b:2 c:<nil>]"),
    ({"outer": {"inner": [1.5, "s", None, {}]}}, "map[outer:map[inner:[1.5 s <nil> map[]]]]"),
    ([], "[]"),
    (["a", "b c"], "[a b c]"),
    (GoInt(42), "42"),
]


@pytest.mark.parametrize(("value", "expected"), GO_FORMAT_CASES)
def test_go_format(value: Any, expected: str) -> None:
    assert go_format(value) == expected


def test_go_format_floats_round_trip() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        x = rng.choice([rng.random(), rng.uniform(-1e6, 1e6), rng.lognormvariate(0, 40), rng.randint(0, 10**12)])
        text = go_format(float(x))
        assert float(text) == float(x), text
        digits = text.lstrip("-").split("e")[0].replace(".", "")
        assert len(digits.strip("0")) <= 17


def test_score_prints_like_keptn() -> None:
    assert r("{{.data.score}} {{.data.ratio}}") == "100 66.66666666666667"


# --------------------------------------------------------------------------------------------
# Control structures
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{if eq .data.result "pass"}}P{{else if eq .data.result "fail"}}F{{else}}W{{end}}', "F"),
        ("{{if .data.empty}}x{{else}}empty list is false{{end}}", "empty list is false"),
        ('{{if ""}}x{{else if 0}}y{{else if .data.nothing}}z{{else}}all false{{end}}', "all false"),
        ("{{if .data.labels}}non-empty map{{end}}", "non-empty map"),
        ("{{with .data.empty}}x{{else}}w-else{{end}}", "w-else"),
        ("{{range .data.letters}}[{{.}}]{{end}}", "[a][<no value>][c]"),
        ("{{range $i, $e := .data.letters}}{{$i}}={{$e}};{{end}}", "0=a;1=<no value>;2=c;"),
        ("{{range $e := .data.letters}}{{$e}}{{end}}", "a<no value>c"),
        ("{{range $k, $v := .data.labels}}{{$k}}={{$v}},{{end}}", "a=1,b=x,"),
        ("{{range .data.labels}}{{.}},{{end}}", "1,x,"),
        ("{{range .data.empty}}x{{else}}empty{{end}}", "empty"),
        ('{{range index .data "none"}}x{{else}}nil ranges as empty{{end}}', "nil ranges as empty"),
        ("{{range $i, $e := .data.letters}}{{if eq $i 1}}{{continue}}{{end}}{{$e}}{{end}}", "ac"),
        ("{{range .data.letters}}{{if not .}}{{break}}{{end}}{{.}}{{end}}", "a"),
        ("{{range .data.letters}}{{range $.data.empty}}{{else}}{{break}}{{end}}-{{end}}", "---"),
        ("{{range $i, $e := .data.letters}}{{end}}{{$.data.stage}}", "prod"),
    ],
)
def test_control_structures(text: str, expected: str) -> None:
    assert r(text) == expected


def test_range_over_non_collections_fails() -> None:
    assert err("{{range .data.score}}{{end}}") == exec_error(".data.score", "range can't iterate over 100", "1:13")
    assert err("{{range .data.project}}{{end}}").endswith("range can't iterate over shop")
    assert err("{{range 3}}{{end}}").endswith("range can't iterate over 3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a  {{- .data.stage -}}  b", "aprodb"),
        ("a \n\t{{- .data.stage}} b", "aprod b"),
        ("a {{.data.stage -}} \n b", "a prodb"),
        ("{{-3}}", "-3"),
        ("x {{- /* c */ -}} \n y", "xy"),
        ("x\n{{- if true}}\n  yes\n{{- end}}\n", "x\n  yes\n"),
        ("{{.data.stage\n}}", "prod"),
    ],
)
def test_trim_markers_and_newlines(text: str, expected: str) -> None:
    assert r(text) == expected


# --------------------------------------------------------------------------------------------
# Builtin functions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{and 1 0 2}}", "0"),
        ("{{and 1 2}}", "2"),
        ('{{or 0 "" "x"}}', "x"),
        ('{{or 0 ""}}', ""),
        ("{{or true .data.missing}}", "true"),  # short-circuit: .data.missing is never evaluated
        ("{{and false .data.missing}}", "false"),
        ("{{1 | and 2}}", "1"),
        ('{{not .data.empty}} {{not 0}} {{not "x"}}', "true true false"),
        ('{{eq .data.project "a" "shop"}}', "true"),
        ('{{eq .data.result "pass"}} {{ne .data.result "pass"}}', "false true"),
        ('{{eq (index .data "message") "x"}} {{ne (index .data "message") "x"}}', "false true"),
        ("{{eq .data.nothing nil}} {{eq nil nil}} {{eq .data.labels nil}}", "true true false"),
        ("{{eq .data.score 100.0}} {{eq 2 2}} {{eq (len .data.letters) 3}}", "true true true"),
        ("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 1 2}}", "true true false false"),
        ('{{lt .data.score 200.0}} {{gt "b" "a"}}', "true true"),
        ('{{eq (index "abc" 0) 97}}', "true"),
        ('{{len "é"}} {{len .data.labels}} {{len .data.letters}} {{len .data.empty}}', "2 2 3 0"),
        ('{{index .data.letters 2}} {{index .data.labels "b"}} {{index . "data" "stage"}}', "c x prod"),
        ('{{index "abc" 1}}', "98"),
        ('{{slice "hello" 1 3}} {{slice "hello" 2}} {{slice "hello"}}', "el llo hello"),
        ("{{slice .data.letters 1}} {{slice .data.letters 0 1}}", "[<nil> c] [a]"),
        ('{{print 1 2 "a" "b" 3 nil}}', "1 2ab3 <nil>"),
        ('{{println "a" 1 .data.score}}', "a 1 100\n"),
        ("{{print .data.labels .data.letters}}", "map[a:1 b:x] [a <nil> c]"),
    ],
)
def test_builtins(text: str, expected: str) -> None:
    assert r(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{eq .data.score 100}}", "error calling eq: incompatible types for comparison"),
        ("{{eq .data.project 1}}", "error calling eq: incompatible types for comparison"),
        ("{{lt .data.score 2}}", "error calling lt: incompatible types for comparison"),
        ("{{lt true false}}", "error calling lt: invalid type for comparison"),
        ("{{lt nil 1}}", "error calling lt: invalid type for comparison"),
        ("{{eq 1}}", "error calling eq: missing argument for comparison"),
        ("{{len .data.score}}", "error calling len: len of type float64"),
        ("{{len .data.nothing}}", "error calling len: len of nil pointer"),
        ('{{len (index .data "m")}}', "error calling len: reflect: call of reflect.Value.Type on zero Value"),
        ('{{index .data.letters "a"}}', "error calling index: cannot index slice/array with type string"),
        ("{{index .data.letters .data.score}}", "error calling index: cannot index slice/array with type float64"),
        ("{{index .data.score 0}}", "error calling index: can't index item of type float64"),
        ("{{index .data 1}}", "error calling index: value has type int; should be string"),
        ("{{index nil 0}}", "error calling index: index of untyped nil"),
        ("{{index .data.letters 1 0}}", "error calling index: index of nil pointer"),
        ('{{index "abc" 3}}', "error calling index: reflect: string index out of range"),
        ("{{slice .data.letters 2 1}}", "error calling slice: invalid slice index: 2 > 1"),
        ('{{slice "abc" 1 2 3}}', "error calling slice: cannot 3-index slice a string"),
        ('{{slice "abc" 4}}', "error calling slice: index out of range: 4"),
        ("{{slice .data.score}}", "error calling slice: can't slice item of type float64"),
    ],
)
def test_builtin_errors(text: str, message: str) -> None:
    assert err(text) == exec_error(text[2:-2], message)


def test_non_comparable_values() -> None:
    assert err("{{eq .data.labels .data.labels}}").endswith(
        "error calling eq: non-comparable type map[a:%!s(float64=1) b:x]: map[string]interface {}"
    )
    assert "error calling eq: non-comparable types" in err("{{eq .data.labels .data.letters}}")


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        ("{{ne 1}}", "ne", "wrong number of args for ne: want 2 got 1"),
        ("{{not}}", "not", "wrong number of args for not: want 1 got 0"),
        ("{{and}}", "and", "wrong number of args for and: want at least 1 got 0"),
        ("{{printf}}", "printf", "wrong number of args for printf: want at least 1 got 0"),
    ],
)
def test_argument_count_errors(text: str, at: str, message: str) -> None:
    assert err(text) == exec_error(at, message)


def test_printf_format_must_be_a_string() -> None:
    assert err("{{printf 5}}") == exec_error("5", "expected string; found 5", "1:9")
    assert err("{{printf .data.score}}") == exec_error(
        ".data.score", "wrong type for value; expected string; got float64", "1:14"
    )
    assert err("{{printf nil}}") == exec_error("nil", "cannot assign nil to string", "1:9")


# --------------------------------------------------------------------------------------------
# fmt: printf verbs and Go's error forms
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('"%s|%v|%q" .data.project .data.project .data.project', 'shop|shop|"shop"'),
        ('"%d %d" 1', "1 %!d(MISSING)"),
        ('"%v"', "%!v(MISSING)"),
        ('"%d" 1 2', "1%!(EXTRA int=2)"),
        ('"x" "y" nil', "x%!(EXTRA string=y, <nil>)"),
        ('"%d" "x"', "%!d(string=x)"),
        ('"%s" 1', "%!s(int=1)"),
        ('"%d" .data.score', "%!d(float64=100)"),
        ('"%t %d" true true', "true %!d(bool=true)"),
        ('"%s|%v" nil nil', "%!s(<nil>)|<nil>"),
        ('"%z" 1', "%!z(int=1)"),
        ('"%"', "%!(NOVERB)"),
        ('"100%%"', "100%"),
        ('"%[2]d %[1]d" 1 2', "2 1"),
        ('"%[3]d" 1', "%!d(BADINDEX)"),
        ('"%*d|%-*d|" 5 42 4 7', "   42|7   |"),
        ('"%*d" "x" 1', "%!(BADWIDTH)1"),
        ('"%5s|%-5s|%.2s|" "ab" "cd" "xyz"', "   ab|cd   |xy|"),
        ('"%05d|%+d|% d|%x|%X|%o|%b|%c|%q|%U" 42 5 5 255 255 8 5 65 65 65', "00042|+5| 5|ff|FF|10|101|A|'A'|U+0041"),
        (
            '"%.2f|%e|%E|%g|%.3g|%v|%f|%G" 3.14159 1234.5678 1234.5678 0.00001 1234.5678 1e6 1e6 1e-7',
            "3.14|1.234568e+03|1.234568E+03|1e-05|1.23e+03|1e+06|1000000.000000|1E-07",
        ),
        ('"%6.2f|%-8.3f|%08.3f|%+.1f" 3.14159 3.14159 -3.14159 2.0', "  3.14|3.142   |-003.142|+2.0"),
        ('"%v %.1f %5.1f%%" .data.ratio .data.ratio .data.score', "66.66666666666667 66.7 100.0%"),
        ('"%x" 3.0', "0x1.8p+01"),
        (
            '"%T %T %T %T %T" .data.score 1 .data.labels .data.letters nil',
            "float64 int map[string]interface {} []interface {} <nil>",
        ),
        (
            '"%v|%s|%d" .data.labels .data.labels .data.labels',
            "map[a:1 b:x]|map[a:%!s(float64=1) b:x]|map[%!d(string=a):%!d(float64=1) %!d(string=b):%!d(string=x)]",
        ),
        ('"%5v" .data.letters', "[    a <nil>     c]"),
        ('"%x|%X|% x|%#x" "hi" "hi" "hi" "hi"', "6869|6869|68 69|0x6869"),
        ('"%q|%+q|%#q" "é\\n" "é\\n" "a`b"', '"é\\n"|"\\u00e9\\n"|"a`b"'),
        ('"%#q" "ok"', "`ok`"),
    ],
)
def test_printf(args: str, expected: str) -> None:
    assert r("{{printf " + args + "}}") == expected


# --------------------------------------------------------------------------------------------
# Escaping builtins: urlquery, js, html
# --------------------------------------------------------------------------------------------

HOSTILE = 'it\'s "x"; $y | z > w & v % 50\n`tick` é 日本 ~-_.'


def test_urlquery_matches_gos_query_escape() -> None:
    data = {"data": {"message": HOSTILE}}
    expected = "it%27s+%22x%22%3B+%24y+%7C+z+%3E+w+%26+v+%25+50%0A%60tick%60+%C3%A9+%E6%97%A5%E6%9C%AC+~-_."
    assert r("{{urlquery .data.message}}", data) == expected
    assert r("{{.data.message | urlquery}}", data) == expected
    # Python's quote_plus with nothing extra kept safe is the same function.
    assert expected == urllib.parse.quote_plus(HOSTILE, safe="")


def test_urlquery_output_alphabet() -> None:
    everything = "".join(chr(c) for c in range(1, 0x300)) + "日本\U0001f600"
    out = r("{{urlquery .}}", everything)
    assert set(out) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+%-")
    assert urllib.parse.unquote_plus(out) == everything


def test_urlquery_of_several_and_of_nil_arguments() -> None:
    # Arguments are joined as fmt.Sprint does; a nil argument reads "<no value>".
    assert r('{{urlquery "a b" 1 2}}') == "a+b1+2"
    assert r("{{urlquery nil 1}}") == "%3Cno+value%3E1"
    assert r('{{urlquery (index .data "message")}}') == "%3Cno+value%3E"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("it's", "it\\'s"),
        ('say "hi"', 'say \\"hi\\"'),
        ("a<b>c", "a\\u003Cb\\u003Ec"),
        ("x&y=z", "x\\u0026y\\u003Dz"),
        ("back\\slash", "back\\\\slash"),
        ("line\nbreak\ttab\r\x00\x1f", "line\\u000Abreak\\u0009tab\\u000D\\u0000\\u001F"),
        ("é 日本 \x7f", "é 日本 \x7f"),
        ("nb\u00a0sp\u2028", "nb\\u00A0sp\\u2028"),
        ("plain", "plain"),
    ],
)
def test_js(text: str, expected: str) -> None:
    assert r("{{js .}}", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<a href='x'>\"&\"</a>", "&lt;a href=&#39;x&#39;&gt;&#34;&amp;&#34;&lt;/a&gt;"),
        ("nul\x00byte", "nul\ufffdbyte"),
        ("plain é", "plain é"),
    ],
)
def test_html(text: str, expected: str) -> None:
    assert r("{{html .}}", text) == expected


def test_escapers_print_non_strings_first() -> None:
    assert r("{{html .data.labels}}") == "map[a:1 b:x]"
    assert r("{{js .data.score}}") == "100"


# --------------------------------------------------------------------------------------------
# Parse errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.data.project", "template: :1: unclosed action"),
        ("{{.x\n\n", "template: :3: unclosed action started at :1"),
        ("{{.x}", 'template: :1: unexpected "}" in operand'),
        ("{{foo}}", 'template: :1: function "foo" not defined'),
        ("{{toJson .data}}", 'template: :1: function "toJson" not defined'),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("a\n{{else}}", "template: :2: unexpected {{else}}"),
        ("{{if .x}}", "template: :1: unexpected EOF"),
        ("{{if .x}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
        ("{{with .x}}{{else with .y}}{{end}}", "template: :1: unexpected <with> in else"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{if}}{{end}}", "template: :1: missing value for if"),
        ('{{.x | "a"}}', "template: :1: non executable command in pipeline stage 2"),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{if .x}}{{continue}}{{end}}", "template: :1: {{continue}} outside {{range}}"),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{`abc}}", "template: :1: unterminated raw quoted string"),
        ('{{"\\q"}}', "template: :1: invalid syntax"),
        ("{{'ab'}}", "template: :1: malformed character constant: 'ab'"),
        ("{{$x}}", 'template: :1: undefined variable "$x"'),
        ("{{if true}}{{$y := 1}}{{end}}{{$y}}", 'template: :1: undefined variable "$y"'),
        ("{{.env.routing-key}}", "template: :1: bad character U+002D '-'"),
        ("{{.x €}}", "template: :1: unrecognized character in action: U+20AC '€'"),
        ("{{)}}", "template: :1: unexpected right paren U+0029 ')'"),
        ("{{(.x}}", "template: :1: unclosed left paren"),
        ('{{"a".x}}', 'template: :1: unexpected . after term "\\"a\\""'),
        ("{{ /* c */ }}", 'template: :1: unexpected "/" in command'),
        ("{{/* c */ x}}", "template: :1: comment ends before closing delimiter"),
        ("{{/* c", "template: :1: unclosed comment"),
        ("{{99999999999999999999}}", 'template: :1: integer overflow: "99999999999999999999"'),
        ("{{$a, $b := 1}}", "template: :1: too many declarations in command"),
        ("{{range $a, $b, $c := 1}}{{end}}", "template: :1: too many declarations in range"),
        ('{{if true}}{{define "a"}}{{end}}{{end}}', "template: :1: unexpected <define> in command"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(text)
    assert type(info.value) is TemplateError
    assert str(info.value) == message


def test_parse_error_carries_the_name() -> None:
    with pytest.raises(TemplateError, match=r'^template: webhook:1: function "x" not defined$'):
        parse("{{x}}", name="webhook")


def test_number_overflowing_int_fails_at_execution() -> None:
    assert err("{{18446744073709551615}}") == exec_error("18446744073709551615", "18446744073709551615 overflows int")


# --------------------------------------------------------------------------------------------
# Unsupported constructs never pass silently
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ('{{define "x"}}a{{end}}', "define"),
        ('{{template "x"}}', "template"),
        ('{{block "x" .}}a{{end}}', "block"),
        ("{{1i}}", "imaginary"),
        ("{{1+2i}}", "complex"),
        ("{{range $x = .l}}{{end}}", "range"),
        ('{{"\\xff"}}', "UTF-8"),
    ],
)
def test_unsupported_at_parse(text: str, construct: str) -> None:
    with pytest.raises(UnsupportedTemplateError, match=construct):
        parse(text)


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("{{call .data.project}}", "call"),
        ('{{printf "%#v" .data}}', "%#v"),
        ('{{printf "%p" .data}}', "%p"),
        ('{{printf "%b" 1.5}}', "%b"),
        ("{{slice .data.letters 0 5}}", "capacity"),
        ('{{slice "é" 1}}', "UTF-8"),
    ],
)
def test_unsupported_at_execution(text: str, construct: str) -> None:
    parse(text)  # Go parses these fine
    with pytest.raises(UnsupportedTemplateError, match=construct):
        r(text)


def test_unsupported_is_a_template_error() -> None:
    assert issubclass(UnsupportedTemplateError, TemplateError)


def test_non_json_data_is_refused() -> None:
    with pytest.raises(UnsupportedTemplateError):
        r("{{.}}", ("tuple",))


# --------------------------------------------------------------------------------------------
# Real Keptn events (from ../shared, when present)
# --------------------------------------------------------------------------------------------

SHARED_EVENTS = Path(__file__).resolve().parents[2].parent / "shared" / "keptn-events"
REAL_EVENTS = sorted(SHARED_EVENTS.glob("*.json")) if SHARED_EVENTS.is_dir() else []


@pytest.mark.skipif(not REAL_EVENTS, reason=f"{SHARED_EVENTS} is absent")
@pytest.mark.parametrize("path", REAL_EVENTS, ids=lambda p: p.name)
def test_real_events(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    event["env"] = {"routingKey": "k"}
    safe = (
        '{"routing_key":"{{.env.routingKey}}","summary":"{{.data.project}}/{{.data.stage}}/{{.data.service}}'
        ' {{.type}}{{with index .data "message"}}: {{urlquery .}}{{end}}","ctx":"{{.shkeptncontext}}"}'
    )
    if not {"project", "stage", "service"} <= set(event["data"]):
        # Keptn drops such events before templating; Go would fail on the first absent key.
        assert 'map has no entry for key "' in err(safe, event)
        return
    out = r(safe, event)
    assert json.loads(out)["routing_key"] == "k"
    if "message" in event["data"]:
        assert r("{{.data.message}}", event) == go_format(event["data"]["message"])
    else:
        assert err("{{.data.message}}", event).endswith('map has no entry for key "message"')


def test_non_finite_floats_print_as_go_does() -> None:
    assert go_format(math.inf) == "+Inf"
    assert go_format(-math.inf) == "-Inf"
    assert go_format(math.nan) == "NaN"


# --------------------------------------------------------------------------------------------
# Memo: action outputs shared between templates
# --------------------------------------------------------------------------------------------


def test_memo_shares_actions_between_templates_that_differ_in_text() -> None:
    memo = gotemplate.Memo()
    first = render('{"a": "{{.data.project}}", "b": "{{with .data.result}}{{.}}{{end}}"}', EVENT, "", memo)
    second = render('{"z": "{{.data.project}}/{{with .data.result}}{{.}}{{end}}"}', EVENT, "", memo)
    assert (first, second) == ('{"a": "shop", "b": "fail"}', '{"z": "shop/fail"}')
    assert len(memo) == 2  # two distinct actions, each evaluated once
    other = json.loads(json.dumps(EVENT))
    other["data"]["project"] = "mall"
    assert render('{{.data.project}}', other, "", memo) == "mall"  # other data: evaluated again
    assert len(memo) == 3


def test_memo_tells_variables_apart() -> None:
    memo = gotemplate.Memo()
    action = '{{if eq $r "x"}}yes{{else}}no{{end}}'
    assert render('{{$r := "x"}}' + action, EVENT, "", memo) == "yes"
    assert render('{{$r := "y"}}' + action, EVENT, "", memo) == "no"
    assert render('{{$r := 1}}{{$r}}', EVENT, "", memo) == "1"
    assert render('{{$r := "1"}}{{printf "%T" $r}}', EVENT, "", memo) == "string"
    assert render('{{$r := 1}}{{printf "%T" $r}}', EVENT, "", memo) == "int"


def test_memo_runs_declarations_in_parentheses_every_time() -> None:
    # A declaration inside an action's parentheses stays for the actions after it, as in Go.
    memo = gotemplate.Memo()
    one, two = '{{print ($x := 1)}}{{$x}}', '{{print ($x := 2)}}{{$x}}'
    assert (render(one, EVENT), render(two, EVENT)) == ("11", "22")
    assert (render(one, EVENT, "", memo), render(two, EVENT, "", memo), render(one, EVENT, "", memo)) == ("11", "22", "11")
    assert render('{{if (print ($y := 1))}}{{$y}}{{end}}', EVENT, "", memo) == "1"


def test_memo_runs_assignments_every_time() -> None:
    memo = gotemplate.Memo()
    assert render('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', EVENT, "", memo) == "2"
    assert render('{{$x := 1}}{{if false}}{{$x = 2}}{{end}}{{$x}}', EVENT, "", memo) == "1"
    assert render('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', EVENT, "", memo) == "2"


def test_memo_tells_a_string_map_from_a_map() -> None:
    memo = gotemplate.Memo()
    action = '{{index .x "missing"}}'
    assert render(action, {"x": StringMap({"k": "v"})}, "", memo) == ""
    assert render(action, {"x": {"k": "v"}}, "", memo) == "<no value>"


def test_memo_keeps_no_errors_and_errors_name_their_own_template() -> None:
    memo = gotemplate.Memo()
    assert render('{{.data.project}}', EVENT, "", memo) == "shop"
    missing = {"data": {}}
    for text, name in (("ab{{.data.project}}", "one"), ("abcd\n{{.data.project}}", "two")):
        with pytest.raises(TemplateError) as plain:
            render(text, missing, name)
        with pytest.raises(TemplateError) as memoized:
            render(text, missing, name, memo)
        assert str(memoized.value) == str(plain.value)
        assert str(plain.value).startswith(f"template: {name}:{text.count(chr(10)) + 1}:")
    assert len(memo) == 1


def test_memo_tells_data_apart_by_the_key_its_caller_gives() -> None:
    """A caller that names its data (a proof names each sample event) spares the memo the repr of it: equal keys
    must then mean equal data, as the memo trusts them."""
    memo = gotemplate.Memo()
    shop, mall = EVENT, {**EVENT, "data": {**EVENT["data"], "project": "mall"}}
    assert render('{{.data.project}}', shop, "", memo, data_key="shop") == "shop"
    assert render('{{.data.project}}', mall, "", memo, data_key="mall") == "mall"
    assert render('a {{.data.project}}', mall, "", memo, data_key="shop") == "a shop"  # trusted, not checked
    assert render('a {{.data.project}}', mall, "", memo) == "a mall"  # without a key: its repr
    assert len(memo) == 3


def test_memo_is_bounded() -> None:
    memo = gotemplate.Memo(limit=3)
    for index in range(10):
        assert render('{{.n}}', {"n": index}, "", memo) == str(index)
    assert len(memo) <= 3


# Templates made of actions that read data, declare, assign and scope variables, over data that differ in
# type and value: with one memo shared by every example, each output and error must be the memo-less one.
_PIECES = (
    "x", "\n", '{{.data.project}}', '{{.data.result}}', '{{with .data.result}}{{.}}{{else}}none{{end}}',
    '{{$r := .data.result}}', '{{$r}}', '{{$r = "z"}}', '{{if eq (print $r) "pass"}}P{{else}}F{{end}}',
    '{{print ($y := .data.score)}}', '{{print ($y := 1)}}', '{{print ($y := "two")}}', '{{$y}}', '{{range $i, $e := .data.list}}{{$i}}={{$e}};{{end}}',
    '{{len .data.list}}', '{{index .data "missing"}}', '{{with $z := .data.project}}{{$z}}{{end}}',
    '{{.data.score}}', '{{printf "%v-%T" .data.score .data.score}}', '{{index .env "routingKey"}}',
)
_MEMO_FOR_PROPERTIES = gotemplate.Memo()


@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8),
       result=st.sampled_from([None, "pass", "fail", 1, True]),
       score=st.sampled_from([100, 100.0, -0.0, "100", None]),
       items=st.sampled_from([[], ["a"], ["a", None], None]))
@settings(max_examples=400, deadline=None)
def test_a_memo_never_changes_an_output_or_an_error(pieces: list[str], result: Any, score: Any, items: Any) -> None:
    data: dict[str, Any] = {"data": {"project": "shop", "score": score}, "env": {"routingKey": "K"}}
    for key, value in (("result", result), ("list", items)):
        if value is not None:
            data["data"][key] = value
    text = "".join(pieces)
    try:
        expected: tuple[str, str] = ("ok", render(text, data))
    except TemplateError as exc:
        expected = ("error", str(exc))
    try:
        got: tuple[str, str] = ("ok", render(text, data, "", _MEMO_FOR_PROPERTIES))
    except TemplateError as exc:
        got = ("error", str(exc))
    assert got == expected


# The lexer takes the usual tokens inside an action a run at a time (`_QUICK`); everything else goes through
# its general path, one item at a time. Both must give the same items, for any text.
_LEXER_PIECES = ("{{", "}}", "{{- ", " -}}", "{{/*c*/}}", " ", "  ", "\t", "\n", "-", ".", ".data", ".a1", "._x",
                 ".é", "é", "$", "$x", "$1", "x", "if", "end", "else", "true", "nil", "index", "printf", '"s"',
                 '"a\\"b"', '"open', '"a\nb"', "|", "(", ")", "1", "1.5", "0x1F", ":=", "=", ",", "}", "text",
                 "'c'", "`raw`", "+", "#")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_LEXER_PIECES), max_size=14))
def test_the_lexers_quick_path_gives_the_items_of_its_general_path(pieces: list[str]) -> None:
    text = "".join(pieces)
    quick = [(i.typ, i.pos, i.val, i.line) for i in gotemplate._Lexer(text).run()]
    saved, gotemplate._QUICK = gotemplate._QUICK, gotemplate.re.compile(r"(?!)")  # matches nothing
    try:
        general = [(i.typ, i.pos, i.val, i.line) for i in gotemplate._Lexer(text).run()]
    finally:
        gotemplate._QUICK = saved
    assert quick == general


# Templates that differ only in their text outside actions share one parse (gotemplate._parse_shared): each
# must still render, or fail, exactly as its own parse does.
SHARED_ACTIONS = ["{{.data.project}}", "{{- .data.stage -}}", "{{ .data.project -}}", "{{- .data.service }}",
                  "{{/* a }} b */}}", "{{- /* c */ -}}", '{{"}}"}}', '{{index .data "result"}}', "{{.data.nope}}",
                  "{{.data.nothing.here}}", "{{len .data.project}}", "{{$x := 1}}", "{{ .data.score }}"]
SHARED_BLOCKS = ["{{if .data.project}}", "{{- with .data.stage -}}", "{{range .data.letters}}", "{{if .data.nope}}"]
SHARED_TEXT = st.text(alphabet=" \t\r\n-{}ab.\u2028", max_size=5)


@st.composite
def shared_templates(draw) -> tuple[list[str], list[str], list[str]]:
    """Actions (a block around some of them, perhaps), and two sets of texts to put between them."""
    actions = draw(st.lists(st.sampled_from(SHARED_ACTIONS), min_size=1, max_size=5))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(actions)))
        end = draw(st.integers(start, len(actions)))
        middle = ["{{else}}"] if draw(st.booleans()) else []
        actions = actions[:start] + [draw(st.sampled_from(SHARED_BLOCKS))] + actions[start:end] + middle + [
            "{{- end}}" if draw(st.booleans()) else "{{end}}"] + actions[end:]
    texts = st.lists(SHARED_TEXT, min_size=len(actions) + 1, max_size=len(actions) + 1)
    return actions, draw(texts), draw(texts)


def _joined(actions: list[str], texts: list[str]) -> str:
    return texts[0] + "".join(action + text for action, text in zip(actions, texts[1:]))


def _outcome(run) -> str:
    try:
        return "output: " + run()
    except TemplateError as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(shared_templates())
@example((["{{ .data.project -}}"], ["", "a"], ["", "\t\r\nb"]))  # trimmed: every space Go trims, no more
@example((["{{- .data.service }}"], ["a", ""], ["a \u2028\r\n", ""]))
def test_templates_that_share_a_parse_render_as_their_own_parse(case) -> None:
    actions, first, second = case
    one, two = _joined(actions, first), _joined(actions, second)
    _outcome(lambda: render(one, EVENT))
    assert _outcome(lambda: render(two, EVENT)) == _outcome(lambda: parse(two).execute(EVENT))
    assert _outcome(lambda: render(two, EVENT, memo=MEMO)) == _outcome(lambda: parse(two).execute(EVENT))


def test_templates_that_differ_outside_actions_share_a_parse() -> None:
    one = 'a {{.data.project}} b {{- if .data.stage}} c {{.data.stage}}{{else}} d {{end}} e'
    two = 'x{{.data.project}}\ty {{- if .data.stage}}z{{.data.stage}}{{else}}w{{end}}\n'
    assert render(one, EVENT) == "a shop b c prod e"
    shared = gotemplate._parse_text(two, "")
    assert shared.shared and render(two, EVENT) == "xshop\tyzprod\n" == parse(two).execute(EVENT)
    # An error names the places of its own text, not those of the template it shares a parse with.
    err_one, err_two = "{{.data.project}}\n\n{{.data.nope.x}}", "{{.data.project}} {{.data.nope.x}}"
    with pytest.raises(TemplateError):
        render(err_one, EVENT)
    assert gotemplate._parse_text(err_two, "").shared
    assert _outcome(lambda: render(err_two, EVENT)) == _outcome(lambda: parse(err_two).execute(EVENT))
    assert ":1:" in _outcome(lambda: render(err_two, EVENT))
