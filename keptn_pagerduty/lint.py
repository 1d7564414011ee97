"""Lint any webhook.yaml: the proof the generator gives its own files, for files people already have.

Why: most Keptn installations already hold hand-written webhook.yaml files, and their failures show up only
as a log line in the webhook-service or a failed task at 3 a.m. This module runs each webhook of a file
through the same simulation the generator trusts (Keptn's decoding, templating, command checks and the
events sent back to Keptn) for realistic and hostile sample events, checks PagerDuty's rules where the URL
is PagerDuty's Events API, and reports every finding as a `Problem` at its line in the YAML.

A finding is explained, not just detected: a refused command names the character and where it came from
(the template's own text, or the event field that carried it, found by re-rendering the sample with its
text neutralised, then restoring one field at a time); a `missingkey` failure comes with the safe rewrite.
Findings are deduplicated across sample events: one per webhook, request, rule and cause, naming the first
sample event that shows it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import events, pagerduty
from .keptn import webhook_service as ws
from .keptn.gotemplate import UnsupportedTemplateError
from .problems import Problem
from .yamlsource import Loader, format_path

ERROR, WARNING = "error", "warning"
# Stand-in for every envFrom secret: 32 alphanumerics, so PagerDuty's routing_key rules pass.
STAND_IN_SECRET = "L1NTR0UT1NGKEY000000000000000000"
PAGERDUTY_HOSTS = frozenset({"events.pagerduty.com", "events.eu.pagerduty.com"})
SAFE_KINDS = frozenset({"name", "id", "time", "enum", "number", "bool"})  # Keptn keeps these plain
# The shape the generator refuses in its own output: a PagerDuty integration key.
INTEGRATION_KEY = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])")
SLACK_WEBHOOK = re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+")
CREDENTIAL_HEADER = re.compile(r"(?i)^(authorization|x-api-key|api-key|x-auth-token|x-routing-key|token)$")
ALPHA_HEADER = re.compile(r"(?:--header|-H)\s+['\"]?([A-Za-z0-9-]+):\s*([^'\"]*)")

_ACTION = re.compile(r"\{\{.*?\}\}", re.S)
_GO_POSITION = re.compile(r"^template: :(\d+)(?::(\d+))?: ")
_MISSING_KEY = re.compile(r'executing "" at <([^>]*)>: map has no entry for key "([^"]*)"')
_PROBE = "KPLINT{:03d}"
_PROBE_TAIL = " it's \"q\""  # printed as is, its space survives; through urlquery it becomes +
_UNTOUCHED = frozenset({("type",), ("specversion",), ("id",), ("data", "temporaryData")})
_FILE_SKIPPED = "Keptn skips the whole file, every webhook in it, with only a log line"

Node = yaml.Node
FieldPath = tuple[object, ...]


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A labelled event, kept as JSON text so that no run can change it for the next."""

    label: str
    text: str

    def event(self) -> dict[str, Any]:
        return json.loads(self.text)


@dataclass(frozen=True)
class Render:
    """What Keptn would do with one request for one sample event: the command and body, or its error."""

    file: str
    line: int
    path: str
    webhook: str
    subscription_id: str
    sample: str
    command: str | None
    body: object | None  # parsed when it is JSON, else the text
    error: str | None
    text: str | None = None  # the body as Keptn would send it

    @property
    def shown_body(self) -> object | None:
        """The body to show: parsed, or its text where JSON cannot hold the parsed body again (1e400 parses
        as infinity, which would print as Infinity). Worked out only when renders are shown."""
        if self.text is not None and not isinstance(self.body, str):
            try:
                json.dumps(self.body, allow_nan=False)
            except ValueError:
                return self.text
        return self.body

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path, "webhook": self.webhook,
                "subscription_id": self.subscription_id, "sample": self.sample, "command": self.command,
                "body": self.shown_body, "error": self.error}


@dataclass
class LintReport:
    """The findings of a run, and the renders behind them (shown on request)."""

    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    renders: list[Render] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level != ERROR]

    def extend(self, other: LintReport) -> None:
        self.files += other.files
        self.problems += other.problems
        self.renders += other.renders

    def strict(self) -> LintReport:
        """Warnings become errors: for CI that must not let a hazard in."""
        return LintReport(self.files, [replace(p, level=ERROR) for p in self.problems], self.renders)


# --------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------


def find_webhook_files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    """Files given as such, and every `webhook/webhook.yaml` under folders given.

    A Keptn Git checkout holds `webhook/webhook.yaml` (project or stage level) and
    `<service>/webhook/webhook.yaml`; searching the whole tree also covers a folder of checkouts such as
    the generator's `output/`. Hidden folders (`.git`) are skipped.
    """
    found: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        hits = sorted(p for p in path.rglob("webhook.yaml") if p.parent.name == "webhook" and p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not hits:
            problems.append(Problem(str(path), message="no webhook/webhook.yaml under this folder",
                                    hint="give a Keptn project checkout (webhook/webhook.yaml, "
                                         "<service>/webhook/webhook.yaml) or the files themselves"))
        found += hits
    return list(dict.fromkeys(found)), problems


def load_events(paths: Sequence[Path]) -> tuple[list[Sample], list[Problem]]:
    """The user's own CloudEvents: a JSON object per file, or a list of them."""
    samples: list[Sample] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = "nested too deep" if isinstance(exc, RecursionError) else exc
            problems.append(Problem(str(path), message=f"not a JSON event: {reason}",
                                    hint="give a Keptn CloudEvent as JSON (an object, or a list of objects)"))
            continue
        items = data if isinstance(data, list) else [data]
        if not items:
            problems.append(Problem(str(path), message="an empty list: no event to run",
                                    hint="give a Keptn CloudEvent as JSON (an object, or a list of objects)"))
        for index, item in enumerate(items):
            label = str(path) if len(items) == 1 else f"{path}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                problems.append(Problem(str(path), message=f"{label} is not a CloudEvent: it has no \"type\"",
                                        hint='an event looks like {"type": "sh.keptn.event.evaluation.finished", '
                                             '"data": {...}}'))
                continue
            samples.append(Sample(label, json.dumps(item)))
    return samples, problems


def lint_paths(paths: Sequence[Path], user_events: Sequence[Sample] | None = None) -> LintReport:
    """Lint every webhook.yaml found under `paths`; `user_events`, when given, replace the built-in samples."""
    files, problems = find_webhook_files(paths)
    report = LintReport(problems=problems)
    for path in files:
        report.extend(lint_file(path, user_events=user_events))
    if user_events is not None:
        used = {r.sample for r in report.renders}
        report.problems += [Problem(s.label, message=f"no linted webhook has the type {s.event()['type']}, so this "
                                                     "event proved nothing", hint="a webhook runs the events of its "
                                                     "`type`", level=WARNING)
                            for s in user_events if s.label not in used]
    report.problems.sort(key=lambda p: (p.file, p.line, p.column, p.level, p.path, p.message))
    return report


def lint_file(path: Path, display: str | None = None, user_events: Sequence[Sample] | None = None) -> LintReport:
    """Lint one file; `display` is the name findings show (default: the path as given)."""
    name = display or str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return LintReport([name], [Problem(name, message=f"cannot read file: {exc.strerror}")])
    except UnicodeDecodeError as exc:
        return LintReport([name], [Problem(name, 1, 1, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                           "save the file as UTF-8")])
    return lint_text(name, text, user_events)


def lint_text(name: str, text: str, user_events: Sequence[Sample] | None = None) -> LintReport:
    """Findings for one webhook.yaml given as text."""
    return _FileLinter(name, text, user_events).run()


# --------------------------------------------------------------------------------------------------
# Where things are in the YAML
# --------------------------------------------------------------------------------------------------

def _compose(text: str) -> Node | None:
    try:
        return next(iter(yaml.compose_all(text, Loader=Loader)), None)
    except yaml.YAMLError:
        return None


def _get(node: Node | None, name: str, fold: bool = False) -> Node | None:
    """The value of key `name` of a mapping node; `fold` also matches other cases, as mapstructure does."""
    if not isinstance(node, yaml.MappingNode):
        return None
    pairs = [(k.value, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
    exact = [v for k, v in pairs if k == name]
    folded = [v for k, v in pairs if fold and k.casefold() == name.casefold()]
    return (exact or folded or [None])[0]


def _start(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _webhook_nodes(root: Node | None) -> list[tuple[int, Node]]:
    """(index in the YAML list, node) of each webhook Keptn decodes: yaml.v3 drops null entries."""
    seq = _get(_get(root, "spec"), "webhooks")
    if not isinstance(seq, yaml.SequenceNode):
        return []
    return [(i, n) for i, n in enumerate(seq.value) if not (isinstance(n, yaml.ScalarNode) and n.tag.endswith(":null"))]


def _request_nodes(hook: Node) -> list[Node]:
    seq = _get(hook, "requests")
    return list(seq.value) if isinstance(seq, yaml.SequenceNode) else []


def _position_in(lines: list[str], node: Node, offset: int) -> tuple[int, int]:
    """Line and column of character `offset` of a scalar's value; the scalar's start when unsure."""
    value = node.value if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, str) or not 0 <= offset <= len(value):
        return _start(node)
    before = value[:offset]
    column = offset - (before.rfind("\n") + 1)
    if node.style == "|":  # a literal block: value lines are file lines, below the `|`
        line = node.start_mark.line + 1 + before.count("\n")
        if line >= len(lines):
            return _start(node)
        value_line = value.split("\n")[before.count("\n")]
        indent = (len(lines[line]) - len(lines[line].lstrip(" "))) - (len(value_line) - len(value_line.lstrip(" ")))
        return line + 1, indent + column + 1
    if node.style in (None, "", "'", '"') and node.start_mark.line == node.end_mark.line:
        source = lines[node.start_mark.line]
        return node.start_mark.line + 1, _quoted_column(source, node.start_mark.column, node.style, offset) + 1
    return _start(node)


def _quoted_column(source: str, start: int, style: str | None, offset: int) -> int:
    """0-based column in `source` of value character `offset` of a one-line scalar starting at `start`.

    Escapes make source and value differ: `\\"` in a double-quoted scalar, `''` in a single-quoted one.
    """
    if not style:
        return start + offset
    i = start + 1
    for _ in range(offset):
        if style == '"' and source.startswith("\\", i):
            i += {"x": 4, "u": 6, "U": 10}.get(source[i + 1:i + 2], 2)
        else:
            i += 2 if style == "'" and source.startswith("''", i) else 1
    return i


# --------------------------------------------------------------------------------------------------
# Files Keptn would not load
# --------------------------------------------------------------------------------------------------

_DECODE_HINTS = {
    "unmarshal": "this value has the wrong type here (a list where text is expected, or the like)",
    "configuration version": "write apiVersion: webhookconfig.keptn.sh/v1beta1 (Keptn 0.19+) or "
                             "webhookconfig.keptn.sh/v1alpha1",
    "'webhooks[]'": "list the webhooks under spec.webhooks",
    "'webhooks[].Type'": "add type: sh.keptn.event.<task>.<phase>, the event type of the subscription",
    "'webhooks[].SubscriptionID'": "add subscriptionID: the id of the webhook-service subscription (Keptn's UI "
                                   "or API creates it; PUT .../subscription/{id} lets you choose it)",
    "'webhooks[].Requests[]'": "add at least one request",
    "URL empty": "add url: (in v1beta1 a request is a mapping of url, method, headers, payload; a curl string "
                 "is v1alpha1)",
    "method empty": "add method: POST (or PUT, GET, HEAD)",
    "unsupported webhook request method": "write the method in upper case: POST, PUT, GET or HEAD",
    "header or value empty": "give every header a non-empty key and value",
    "already defined": "remove one of the two keys",
}


def _decode_problems(name: str, text: str, error: ws.DecodeError) -> list[Problem]:
    """Every reason Keptn would refuse the file, at its line (Keptn itself stops at the first)."""
    message = str(error)
    if message.startswith("yaml: unmarshal errors:"):
        return [_decode_problem(name, int(m.group(1)), 1, "", m.group(2))
                for m in re.finditer(r"line (\d+): (.*)", message)]
    syntax = re.match(r"yaml: line (\d+): ", message)
    if syntax or message.startswith("yaml:"):
        line = int(syntax.group(1)) if syntax else 1
        return [_decode_problem(name, line, 1, "", message, "check indentation, colons and quotes around this line")]
    root = _compose(text)
    if "configuration version" in message or "'webhooks[]'" in message:
        key = "apiVersion" if "version" in message else "spec"
        node = _get(root, key)
        line, column = _start(node) if node is not None else (1, 1)
        return [_decode_problem(name, line, column, key, message)]
    problems = []
    for index, hook in _webhook_nodes(root):
        try:
            ws.decode(_isolate(text, root, hook))
        except ws.DecodeError as exc:
            problems.append(_webhook_decode_problem(name, text, root, index, hook, str(exc)))
    return problems or [_decode_problem(name, 1, 1, "", message)]


def _decode_problem(name: str, line: int, column: int, path: str, keptn_message: str, hint: str = "") -> Problem:
    hint = hint or next((h for key, h in _DECODE_HINTS.items() if key in keptn_message), "")
    return Problem(name, line, column, path, f"Keptn would not load this file: {keptn_message}", hint,
                   details=(_FILE_SKIPPED,))


def _webhook_decode_problem(name: str, text: str, root: Node, index: int, hook: Node, message: str) -> Problem:
    """At the webhook; at the request and its field when the message is about a request."""
    path: FieldPath = ("spec", "webhooks", index)
    node = hook
    if "request " in message:
        for r_index, request in enumerate(_request_nodes(hook)):
            try:
                ws.decode(_isolate(text, root, hook, request))
                continue
            except ws.DecodeError:
                path, node = path + ("requests", r_index), request
            for word, key in (("method", "method"), ("url", "url"), ("header", "headers")):
                value = _get(request, key, fold=True)
                if word in message.lower() and value is not None:
                    path, node = path + (key,), value
                    break
            break
    line, column = _start(node)
    return _decode_problem(name, line, column, format_path(path), message)


def _isolate(text: str, root: Node, hook: Node, request: Node | None = None) -> str:
    """The file with every other webhook (and, given `request`, every other request) blanked out.

    Lines are blanked, not removed, so line numbers stay. Flow-style lists cannot be cut this way and
    are left as they are.
    """
    others = [n for _, n in _webhook_nodes(root) if n is not hook]
    if request is not None:
        others += [r for r in _request_nodes(hook) if r is not request]
    lines = text.split("\n")
    for node in others:
        span = _item_lines(text, node)
        if span is None:
            return text
        for line in range(*span):
            lines[line] = ""
    return "\n".join(lines)


def _item_lines(text: str, node: Node) -> tuple[int, int] | None:
    """Lines [first, end) of a block-sequence item, from its dash to its last line."""
    index = node.start_mark.index - 1
    while index >= 0 and text[index] in " \t\r\n":
        index -= 1
    if index < 0 or text[index] != "-":
        return None
    end = node.end_mark
    line_start = text.rfind("\n", 0, end.index) + 1
    last = end.line if text[line_start:end.index].strip() == "" else end.line + 1
    return text.count("\n", 0, index), last


# --------------------------------------------------------------------------------------------------
# The untemplated command and its YAML fields
# --------------------------------------------------------------------------------------------------


@dataclass
class _Segment:
    """A YAML field whose text sits in the untemplated command at `start` (negative: not found)."""

    name: str
    node: Node
    path: FieldPath
    start: int
    text: str


@dataclass
class _Request:
    index: int
    request: ws.Request
    node: Node
    path: FieldPath
    command: str
    segments: list[_Segment]
    json_expected: bool
    percent: bool = False  # a literal % corrupts the command (reported once, at the %)
    quote: bool = False  # a literal ' in payload or headers breaks the quoting (reported once, at the ')


def _segments(request: ws.Request, node: Node, path: FieldPath, command: str) -> list[_Segment]:
    """Where each field's text sits in the untemplated command (v1alpha1: the whole string)."""
    if request.raw is not None:
        return [_Segment("request", node, path, 0, request.raw)]
    fields: list[tuple[str, FieldPath, str]] = [("method", ("method",), request.method or "")]
    for i, (key, value) in enumerate(request.headers):
        fields += [(f"headers[{i}].key", ("headers", i, "key"), key),
                   (f"headers[{i}].value", ("headers", i, "value"), value)]
    fields += [("payload", ("payload",), request.payload), ("options", ("options",), request.options),
               ("url", ("url",), request.url or "")]
    segments, cursor = [], 0
    for name, sub, text in fields:
        field_node = _node_at(node, sub)
        if field_node is None or not text:
            continue
        start = command.find(text, cursor)
        if start >= 0:
            cursor = start + len(text)
        segments.append(_Segment(name, field_node, path + sub, start, text))
    return segments


def _node_at(node: Node | None, sub: FieldPath) -> Node | None:
    for part in sub:
        if isinstance(part, int):
            node = node.value[part] if isinstance(node, yaml.SequenceNode) and part < len(node.value) else None
        else:
            node = _get(node, str(part), fold=True)
    return node


def _split(command: str) -> list[str]:
    try:
        return ws.split_command(command)
    except ValueError:
        return command.split()


def _option_values(words: list[str], options: tuple[str, ...]) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in options]


def _expects_json(request: ws.Request, command: str) -> bool:
    """A JSON body is meant when PagerDuty receives it, a header says so, or the payload text is JSON-shaped."""
    words = _split(command)
    url = request.url if request.raw is None else _alpha_url(request.raw)
    headers = _option_values(words, ("-H", "--header"))
    data = _option_values(words, ("-d", "--data", "--data-raw", "--data-binary"))
    shaped = any(_ACTION.sub("", d).lstrip().startswith(("{", "[")) for d in data)
    return _pagerduty_url(url) or shaped or any(re.match(r"(?i)content-type:.*json", h) for h in headers)


def _alpha_url(raw: str) -> str | None:
    words = [w for w in _split(raw) if w.startswith(("http://", "https://"))]
    return words[-1] if words else None


def _pagerduty_url(url: str | None) -> bool:
    """PagerDuty's Events API v2 endpoints (alerts and changes), US or EU."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return False
    return parts.hostname in PAGERDUTY_HOSTS and parts.path in (pagerduty.ALERT_URL_PATH, pagerduty.CHANGE_URL_PATH)


def _static_offset(request: _Request, needle: str) -> int | None:
    """Offset in the command of `needle` in the template's own text, preferring text outside {{...}}."""
    inside_action = None
    for segment in request.segments:
        if segment.start < 0:
            continue
        actions = [m.span() for m in _ACTION.finditer(segment.text)]
        for match in re.finditer(re.escape(needle), segment.text):
            if not any(a <= match.start() < b for a, b in actions):
                return segment.start + match.start()
            inside_action = segment.start + match.start() if inside_action is None else inside_action
    return inside_action


def _reference_offset(command: str, go_path: str) -> int | None:
    """Where the template refers to a field: `.data.message`, or `"message"` as in `index .data "message"`."""
    plain = re.sub(r"\[\d+\]", "", go_path)
    last = plain.rsplit(".", 1)[-1]
    for needle in (plain, f'"{last}"', f".{last}"):
        if needle in command:
            return command.index(needle)
    return None


# --------------------------------------------------------------------------------------------------
# What a simulation shows, and why
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Symptom:
    """One thing wrong with one request for one sample; `key` recognises it in another simulation."""

    rule: str  # rejected, template, missingkey, invalid-json, pagerduty
    key: tuple[object, ...]
    reason: str
    go_offset: int | None = None  # template errors: the offset in the untemplated command
    json_path: str = ""  # pagerduty: the field of the body
    before_template: bool = False  # refused while creating the request (URL deny list, DNS), before templating


@dataclass(frozen=True)
class _Origin:
    """Where a symptom comes from: `fields` of the event (or an `empty` one), the template's `static` text or
    `url`, `no-value` (an absent key printed), or `unknown`."""

    kind: str
    fields: tuple[str, ...] = ()
    offset: int | None = None


def _symptoms(request: _Request, simulation: ws.Simulation) -> list[_Symptom]:
    """What is wrong with one request in one simulation (nothing if it did not run)."""
    if request.index >= len(simulation.results):
        return []
    result = simulation.results[request.index]
    if result.error:
        return [_classify(result.error)]
    if request.percent or request.quote:
        return []  # the template's own text breaks the command, and that is reported; the body proves nothing
    if request.json_expected and result.json_body is None:
        return [_Symptom("invalid-json", ("invalid-json",), "the body is not valid JSON")]
    if result.json_body is None or not _pagerduty_url(result.url):
        return []
    url_path = urlsplit(result.url or "").path
    return [_Symptom("pagerduty", ("pagerduty", v.path, re.sub(r"\d+", "N", v.message)), v.message, json_path=v.path)
            for v in pagerduty.validate_event(url_path, result.json_body)]


def _classify(error: str) -> _Symptom:
    """Keptn's error text -> a symptom: the command Keptn quotes is dropped, the reason kept."""
    if error.startswith("creating CURL request failed: "):
        reason = error.removeprefix("creating CURL request failed: ")
        return _Symptom("rejected", ("rejected", reason), reason, before_template=True)
    if error.startswith("could not parse request '") and "' : " in error:
        command, reason = error[len("could not parse request '"):].rsplit("' : ", 1)
        offset = _go_offset(command, reason)
        missing = _MISSING_KEY.search(reason)
        if missing:
            return _Symptom("missingkey", ("missingkey", missing.group(1), missing.group(2)), reason, offset)
        return _Symptom("template", ("template", _GO_POSITION.sub("", reason)), _GO_POSITION.sub("", reason), offset)
    reason = error.rsplit("': ", 1)[1] if "': " in error else error
    family = "denied character" if reason.startswith("curl command contains denied character") else reason
    return _Symptom("rejected", ("rejected", family), reason)


def _go_offset(command: str, reason: str) -> int | None:
    """Offset in the template of Go's `template: :LINE:COL:` (COL counts bytes; near enough for text)."""
    match = _GO_POSITION.match(reason)
    if not match:
        return None
    line, column = int(match.group(1)), int(match.group(2) or 0)
    starts = [0] + [m.end() for m in re.finditer("\n", command)]
    return min(starts[line - 1] + column, len(command)) if line <= len(starts) else None


def _denied_substring(reason: str) -> str | None:
    """The text Keptn objects to, when its message names it."""
    match = re.search(r"contains (?:denied (?:character|URL|IP address)|invalid option) '(.*)'$", reason)
    if match:
        return match.group(1)
    if reason == "could not parse curl command":
        return "'"
    return "@" if reason.startswith("file uploads using @") else None


def _string_leaves(value: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, dict):
        for key, child in value.items():
            if path + (key,) not in _UNTOUCHED:
                yield from _string_leaves(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _string_leaves(child, path + (index,))
    elif isinstance(value, str):
        yield path, value


def _set_leaf(value: Any, path: FieldPath, new: object) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _leaf(event: dict[str, Any], go_path: str) -> object:
    value: Any = event
    for part in re.findall(r"[^.\[\]]+", go_path):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _neutral(text: str) -> str:
    """The same text with nothing Keptn, JSON or PagerDuty could object to: plain characters, short."""
    return re.sub(r"[^A-Za-z0-9 ._:/-]", "", text)[:40]


def _go_path(path: FieldPath) -> str:
    """Readable: `.data.deployment.deploymentURIsPublic[0]`."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _wrap(expression: str) -> str:
    return f"({expression})" if " " in expression else expression


def _guard(go_path: str) -> str:
    """An expression that is empty, not an error, when the last key is absent: `index .data "message"`."""
    parent, _, key = go_path.rpartition(".")
    if not parent or "[" in key:
        return _go_expression(go_path)
    return f'index {_wrap(_go_expression(parent))} "{key}"'


def _go_expression(go_path: str) -> str:
    """The Go template expression for a readable path: list items go through `index`."""
    parts = re.findall(r"\.([^.\[]+)|\[(\d+)\]", go_path)
    expression = ""
    for key, number in parts:
        if number:
            expression = f"(index {expression} {number})"
        elif expression.startswith("("):
            expression = f'(index {expression} "{key}")'
        else:
            expression += f".{key}"
    return expression.removeprefix("(").removesuffix(")") if expression.startswith("(") else expression


def _is_plain_field(event_type: events.EventType, path: FieldPath) -> bool:
    """True when Keptn's contract keeps the field free of special characters (names, ids, times, enums)."""
    for f in event_type.fields:
        if f.path == path:
            return f.kind in SAFE_KINDS
        if f.kind == "list" and f.items in SAFE_KINDS and len(path) == len(f.path) + 1 and path[:-1] == f.path:
            return True
    return False


# --------------------------------------------------------------------------------------------------
# Messages and hints
# --------------------------------------------------------------------------------------------------


def _explain(symptom: _Symptom, origin: _Origin, event: dict[str, Any]) -> tuple[str, str]:
    """Message and hint for a symptom of a known origin."""
    source = _describe(symptom, origin, event)
    urlquery = _urlquery_hint(origin)
    if symptom.rule == "invalid-json":
        return f"{symptom.reason}{source}", urlquery or "print free text through urlquery"
    if symptom.rule == "pagerduty" and origin.kind == "empty":
        return (f"PagerDuty would refuse the body (HTTP 400): {symptom.reason}{source}",
                f"give {origin.fields[0]} a default: {{{{with {_guard(origin.fields[0])}}}}}...{{{{else}}}}"
                "default text{{end}} (an empty value takes the else branch)")
    if symptom.rule == "pagerduty":
        return (f"PagerDuty would refuse the body (HTTP 400): {symptom.reason}{source}",
                urlquery + "; cut long text with slice" if urlquery else "fix this field of the body")
    if symptom.rule == "template":
        return (f"Keptn cannot render this template: {symptom.reason}{source if origin.kind == 'fields' else ''}",
                "guard values that may be absent or empty with {{with ...}}...{{end}}")
    message = f"Keptn refuses the command: {symptom.reason}{source}"
    needle = _denied_substring(symptom.reason) or ""
    if origin.kind == "url":
        return message, ("the host must be written out: Keptn resolves it by DNS before templating and refuses "
                         "hosts on its deny list (kubernetes, localhost, cluster-internal names); template only "
                         "the path or query")
    if origin.kind == "static" and "denied URL" in symptom.reason:
        return message, ("v1alpha1 checks the deny list against the whole command, payload included: reword it "
                         "(e.g. k8s), or move to v1beta1, which checks only the URL")
    if "invalid option" in symptom.reason:
        return message, "remove the option: Keptn refuses -o/--output, -F/--form, -T/--upload-file, -K/--config"
    if origin.kind == "static" and needle and len(needle.strip()) <= 2:
        escape = "".join(f"\\u{ord(c):04x}" for c in needle.strip())
        return message, f"remove it from the template's text; inside a JSON string write it as {escape}"
    if origin.kind == "no-value":
        return message, 'an `index` of an absent key prints <no value>: write {{with index .data "key"}}{{.}}{{end}}'
    return message, urlquery


def _describe(symptom: _Symptom, origin: _Origin, event: dict[str, Any]) -> str:
    if origin.kind == "static":
        return " (in the template's own text)"
    if origin.kind == "url":
        return " (in the url, checked before templating)"
    if origin.kind == "empty":
        return f" (event field {origin.fields[0]} is empty in this event)"
    if origin.kind == "no-value":
        return " (from <no value>, printed for a key the event lacks)"
    if origin.kind == "fields" and origin.fields:
        return f" (from event field {', '.join(origin.fields)}{_cause(symptom, _leaf(event, origin.fields[0]))})"
    return " (from the event's data)" if origin.kind == "fields" else ""


def _cause(symptom: _Symptom, value: object) -> str:
    """What in a field's value does the damage, in the reader's terms (a denied character names itself)."""
    if not isinstance(value, str) or (symptom.rule == "rejected" and symptom.reason != "could not parse curl command"):
        return ""
    for char, why in (("'", "a ' ends Keptn's single quotes"), ('"', 'a " ends the JSON string'),
                      ("\n", "a newline is not allowed in a JSON string"), ("\\", "a \\ starts a JSON escape")):
        if char in value and symptom.rule != "pagerduty":
            return f": {why}"
    return f": {len(value)} characters" if len(value) > 1024 else ""


def _urlquery_hint(origin: _Origin) -> str:
    if origin.kind != "fields" or not origin.fields:
        return ""
    name = _wrap(_go_expression(origin.fields[0]))
    return (f"print {origin.fields[0]} only through urlquery ({{{{urlquery {name}}}}}: spaces become +), guarded with "
            "{{with index ...}} if it may be absent")


def _safe_rewrite(go_node: str, key: str, event_type: events.EventType) -> str:
    """`.data.message` lacking "message" -> `{{with index .data "message"}}{{urlquery .}}{{end}}`."""
    parts = go_node[1:].split(".") if go_node.startswith(".") else []
    if key not in parts:
        return ""
    at = parts.index(key)
    base = "." + ".".join(parts[:at]) if at else "."
    text = f'{{{{with index {base} "{key}"}}}}' + "".join(f'{{{{with index . "{p}"}}}}' for p in parts[at + 1:])
    plain = _is_plain_field(event_type, tuple(parts))
    text += "{{.}}" if plain else "{{urlquery .}}"
    return text + "{{end}}" * (len(parts) - at)


# --------------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------------


def _builtin_samples(event_type: events.EventType) -> list[Sample]:
    """Realistic samples and their hostile variants, then the first sample without each optional field."""
    samples: list[Sample] = []
    first: tuple[str, dict[str, Any]] | None = None
    for label, event in events.sample_events(event_type):
        event["type"] = event_type.type  # a task of the user's own shipyard borrows the generic samples
        first = first or (label, copy.deepcopy(event))
        samples.append(Sample(label, json.dumps(event)))
        samples += [Sample(f"{label}/{variant}", json.dumps(e)) for variant, e in events.hostile_variants(event)]
    if first is None:
        return samples
    label, event = first
    for f in event_type.fields:
        if f.optional and f.path[:2] != ("data", "temporaryData") and _has_path(event, f.path):
            absent = copy.deepcopy(event)
            parent = absent
            for key in f.path[:-1]:
                parent = parent[key]
            del parent[f.path[-1]]
            samples.append(Sample(f"{label}/without-{f.name}", json.dumps(absent)))
    return samples


def _has_path(value: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return True


# --------------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------------


@dataclass
class _Hook:
    index: int
    webhook: ws.Webhook
    node: Node
    path: FieldPath
    requests: list[_Request]
    event_type: events.EventType | None = None
    samples: list[Sample] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.webhook.type} (subscriptionID {self.webhook.subscription_id})"

    def sample_line(self, sample: Sample) -> str:
        return f"sample event: {self.webhook.type.removeprefix(events.PREFIX)} [{sample.label}]"


class _FileLinter:
    """Lints one file; findings are keyed (webhook, request, rule, subject) so each is reported once."""

    def __init__(self, name: str, text: str, user_events: Sequence[Sample] | None) -> None:
        self.name = name
        self.text = text
        self.lines = text.split("\n")
        self.user_events = user_events
        self.findings: dict[tuple[object, ...], Problem] = {}
        self.renders: list[Render] = []
        self.config: ws.WebhookConfig | None = None

    def run(self) -> LintReport:
        try:
            self.config = ws.decode(self.text)
        except ws.DecodeError as exc:
            return LintReport([self.name], _decode_problems(self.name, self.text, exc))
        nodes = _webhook_nodes(_compose(self.text))
        if len(nodes) != len(self.config.webhooks) or any(
                len(_request_nodes(n)) != len(w.requests) for (_, n), w in zip(nodes, self.config.webhooks)):
            return LintReport([self.name], [Problem(self.name, 1, 1, "", "cannot tell which lines hold which webhook "
                                                    "or request (YAML aliases?), so nothing was proven", "write "
                                                    "the webhooks out without anchors and aliases", WARNING)])
        owners: dict[str, int] = {}
        for (index, node), webhook in zip(nodes, self.config.webhooks):
            hook = self._hook(index, node, webhook)
            owner = owners.setdefault(webhook.subscription_id, index)
            if owner != index:
                self._add(hook, None, "duplicate-id", (), ERROR, _get(node, "subscriptionID"), ("subscriptionID",),
                          f"webhooks[{owner}] has the same subscriptionID: Keptn runs only the first webhook with "
                          "an id, never this one", "give each webhook the id of its own subscription")
                continue
            try:
                self._lint_webhook(hook)
            except UnsupportedTemplateError as exc:
                self._add(hook, None, "unsupported", (), WARNING, None, (),
                          f"this template cannot be simulated, so it is not proven: {exc}", "")
        problems = sorted(self.findings.values(), key=lambda p: (p.line, p.column, p.level, p.path, p.message))
        return LintReport([self.name], problems, self.renders)

    def _hook(self, index: int, node: Node, webhook: ws.Webhook) -> _Hook:
        assert self.config is not None
        path: FieldPath = ("spec", "webhooks", index)
        requests = []
        for r_index, (request, r_node) in enumerate(zip(webhook.requests, _request_nodes(node))):
            command = ws.build_command(self.config.api_version, request)
            r_path = path + ("requests", r_index)
            requests.append(_Request(r_index, request, r_node, r_path, command,
                                     _segments(request, r_node, r_path, command), _expects_json(request, command)))
        return _Hook(index, webhook, node, path, requests)

    def _add(self, hook: _Hook, request: _Request | None, rule: str, subject: tuple[object, ...], level: str,
             node: Node | None, subpath: FieldPath, message: str, hint: str = "", details: tuple[str, ...] = (),
             position: tuple[int, int] | None = None) -> None:
        """Record a finding unless one with the same key exists: the first sample to show it wins."""
        key = (hook.index, request.index if request else None, rule, subject)
        if key in self.findings:
            return
        base = request.path if request else hook.path
        line, column = position or _start(node if node is not None else request.node if request else hook.node)
        self.findings[key] = Problem(self.name, line, column, format_path(base + subpath), message, hint, level,
                                     (f"webhook: {hook.label}", *details))

    def _simulate(self, hook: _Hook, event: dict[str, Any]) -> ws.Simulation:
        assert self.config is not None
        secrets = {(env[1], env[2]): STAND_IN_SECRET for env in hook.webhook.env_from}
        return ws.simulate(self.config, hook.webhook, event, secrets)

    # -- one webhook ----------------------------------------------------------------------------------

    def _lint_webhook(self, hook: _Hook) -> None:
        hook.event_type = self._event_type(hook)
        if hook.event_type is None:
            return
        if self.user_events is None:
            hook.samples = _builtin_samples(hook.event_type)
        else:
            hook.samples = [s for s in self.user_events if s.event().get("type") == hook.webhook.type]
        for request in hook.requests:
            self._static_checks(hook, request)
        simulations = [(s, self._simulate(hook, s.event())) for s in hook.samples]
        for sample, simulation in simulations:
            self._record(hook, sample, simulation)
            for request in hook.requests:
                for symptom in _symptoms(request, simulation):
                    self._report(hook, request, sample, symptom, _task_consequence(hook, symptom, simulation))
        self._pagerduty_behaviour(hook, simulations)
        self._triggered(hook, simulations)
        self._free_text(hook)

    def _event_type(self, hook: _Hook) -> events.EventType | None:
        """The catalogue entry for the webhook's type; a task of the user's own shipyard gets the generic one."""
        catalogue = events.load_catalogue()
        try:
            return catalogue.lookup(hook.webhook.type)
        except events.UnknownEventType as exc:
            if events.is_subscribable(hook.webhook.type):
                generic = catalogue.lookup("webhook." + hook.webhook.type.rsplit(".", 1)[1])
                return replace(generic, type=hook.webhook.type)
            self._add(hook, None, "event-type", (), ERROR, _get(hook.node, "type"), ("type",),
                      f"the webhook-service never runs this webhook: {exc}",
                      "subscribe to a task event sh.keptn.event.<task>.triggered|started|finished")
            return None

    def _record(self, hook: _Hook, sample: Sample, simulation: ws.Simulation) -> None:
        shown = "<secret " + ", ".join(f"{e[1]}/{e[2]}" for e in hook.webhook.env_from) + ">"
        for request, result in zip(hook.requests, simulation.results):
            body = result.json_body if result.json_body is not None else result.body
            self.renders.append(Render(self.name, _start(request.node)[0], format_path(request.path),
                                       hook.webhook.type, hook.webhook.subscription_id, sample.label,
                                       _mask(result.command, shown), _mask(body, shown), _mask(result.error, shown),
                                       _mask(result.body, shown)))
        if not simulation.results:
            self.renders.append(Render(self.name, _start(hook.node)[0], format_path(hook.path), hook.webhook.type,
                                       hook.webhook.subscription_id, sample.label, None, None,
                                       simulation.ignored or simulation.error))

    # -- the untemplated text -------------------------------------------------------------------------

    def _static_checks(self, hook: _Hook, request: _Request) -> None:
        if request.request.raw is None:
            self._percent(hook, request)
            self._quote(hook, request)
        self._inline_secrets(hook, request)
        url = request.request.url if request.request.raw is None else _alpha_url(request.request.raw)
        if _pagerduty_url(url):
            self._pagerduty_request(hook, request)

    def _percent(self, hook: _Hook, request: _Request) -> None:
        """v1beta1 glues the command with fmt.Sprintf, the text so far being the format: a % is a verb."""
        for segment in request.segments:
            offset = segment.text.find("%")
            if segment.name in ("method", "url") or offset < 0:
                continue
            request.percent = True
            words = _split(request.command) or [""]
            verb = re.match(r"%[-+# 0]*(?:\[\d*\]?)?[\d*]*(?:\.[\d*]*)?.?", segment.text[offset:], re.S)
            self._add(hook, request, "percent", (segment.name,), ERROR, segment.node, segment.path[len(request.path):],
                      f"a literal % in {segment.name}: Keptn builds the command with fmt.Sprintf, which reads "
                      f"{verb.group(0) if verb else '%'!r} as a formatting verb; curl would get {words[-1]!r} "
                      "as the URL",
                      "in JSON text write % as \\u0025 (PagerDuty shows %); %% is no escape either",
                      position=_position_in(self.lines, segment.node, offset))

    def _quote(self, hook: _Hook, request: _Request) -> None:
        """Keptn puts the payload and each header in single quotes, with no escaping inside."""
        for segment in request.segments:
            offset = segment.text.find("'")
            if not (segment.name == "payload" or segment.name.startswith("headers")) or offset < 0:
                continue
            request.quote = True
            self._add(hook, request, "quote", (segment.name,), ERROR, segment.node, segment.path[len(request.path):],
                      f"a ' in {segment.name} ends the single quotes Keptn puts around it: the command falls "
                      "apart, or Keptn refuses it (could not parse curl command)",
                      "in JSON text write ' as \\u0027" if segment.name == "payload" else "remove the '",
                      position=_position_in(self.lines, segment.node, offset))

    def _inline_secrets(self, hook: _Hook, request: _Request) -> None:
        for segment in request.segments:
            found = self._secret_in(request, segment)
            if found is not None:
                what, offset = found
                self._add(hook, request, "inline-secret", (segment.name,), ERROR, segment.node,
                          segment.path[len(request.path):],
                          f"{what} is written inline in {segment.name}: whoever can read the repository has it",
                          "keep it in a Keptn secret (keptn create secret NAME --scope=keptn-webhook-service "
                          "--from-literal=KEY=...), reference it with envFrom (name: routingKey) and write "
                          "{{.env.routingKey}}",
                          position=_position_in(self.lines, segment.node, offset))

    @staticmethod
    def _secret_in(request: _Request, segment: _Segment) -> tuple[str, int] | None:
        """An inline credential in a field's untemplated text: (what it is, offset in the field)."""
        text = segment.text
        if match := INTEGRATION_KEY.search(text):
            return "a 32-character token shaped like a PagerDuty integration key", match.start()
        if match := SLACK_WEBHOOK.search(text):
            return "a Slack webhook URL (the URL is the credential)", match.start()
        if segment.name.endswith(".value") and "{{" not in text:
            header = request.request.headers[int(str(segment.path[-2]))][0]
            return (f"a literal {header} header", 0) if CREDENTIAL_HEADER.match(header) else None
        for match in ALPHA_HEADER.finditer(text if segment.name == "request" else ""):
            if CREDENTIAL_HEADER.match(match.group(1)) and "{{" not in match.group(2):
                return f"a literal {match.group(1)} header", match.start(2)
        return None

    def _pagerduty_request(self, hook: _Hook, request: _Request) -> None:
        words = _split(request.command)
        method = (_option_values(words, ("-X", "--request")) or ["POST"])[-1]
        if method != "POST":
            self._add(hook, request, "pagerduty-method", (), ERROR, _get(request.node, "method", True),
                      ("method",) if request.request.raw is None else (),
                      f"PagerDuty's Events API takes POST only; this request uses {method}", "use POST")
        headers = _option_values(words, ("-H", "--header"))
        if not any(re.match(r"(?i)content-type:\s*application/json", h) for h in headers):
            self._add(hook, request, "pagerduty-content-type", (), WARNING, None, (),
                      "no Content-Type: application/json header: PagerDuty's Events API expects JSON, and curl "
                      "labels the body as form data", "add the header Content-Type: application/json")

    # -- what the simulation shows --------------------------------------------------------------------

    def _report(self, hook: _Hook, request: _Request, sample: Sample, symptom: _Symptom,
                consequence: tuple[str, ...] = ()) -> None:
        assert hook.event_type is not None
        if symptom.rule == "missingkey":
            go_node, key = str(symptom.key[1]), str(symptom.key[2])
            rewrite = _safe_rewrite(go_node, key, hook.event_type)
            offset = symptom.go_offset
            if offset is not None and go_node in request.command[:offset + len(go_node)]:
                offset = request.command.rfind(go_node, 0, offset + len(go_node))
            node, position = self._at_offset(request, offset)
            self._add(hook, request, "missingkey", (go_node, key), ERROR, node, self._subpath(request, node),
                      f"{go_node} fails when the event has no {key!r}: Keptn renders with missingkey=error, so the "
                      "request is not sent", f"write {rewrite} (add {{{{else}}}}text for a default)" if rewrite
                      else 'guard the key with {{with index . "key"}}...{{end}}', (hook.sample_line(sample), *consequence),
                      position)
            return
        event = sample.event()
        origin = self._origin(hook, request, event, symptom)
        if origin.kind == "static" and symptom.reason == "could not parse curl command" and request.quote:
            return  # the literal ' is reported already, at its place
        if symptom.rule == "template" and origin.kind != "fields":
            origin = _Origin("static", offset=symptom.go_offset)
        message, hint = _explain(symptom, origin, event)
        details = (hook.sample_line(sample), *consequence)
        node, position = self._where(request, origin, symptom)
        # Causes in event fields are one finding per rule and field (a `$` and a backtick in one message
        # are one mistake); causes in the template are one per distinct Keptn reason.
        subject = (symptom.json_path, origin.fields) if origin.kind == "fields" else (*symptom.key, origin.kind)
        self._add(hook, request, symptom.rule, subject, ERROR, node, self._subpath(request, node), message, hint,
                  details, position)

    def _origin(self, hook: _Hook, request: _Request, event: dict[str, Any], symptom: _Symptom) -> _Origin:
        """Re-render with the event's text neutralised: if that cures it, restore one field at a time."""

        def shows(candidate: dict[str, Any]) -> bool:
            return any(s.key == symptom.key for s in _symptoms(request, self._simulate(hook, candidate)))

        if symptom.before_template and request.request.raw is None:
            return _Origin("url")  # v1beta1 checks only the untemplated url before templating

        neutral = copy.deepcopy(event)
        changed = [(path, value) for path, value in _string_leaves(event) if _neutral(value) != value]
        for path, value in changed:
            _set_leaf(neutral, path, _neutral(value))
        if changed and not shows(neutral):
            sources = []
            for path, value in changed:
                candidate = copy.deepcopy(neutral)
                _set_leaf(candidate, path, value)
                if shows(candidate):
                    sources.append(_go_path(path))
            return _Origin("fields", tuple(sources))
        empty = [path for path, value in _string_leaves(event) if value == ""]
        for path in empty:  # a blank field PagerDuty requires: filled, does it pass?
            candidate = copy.deepcopy(event)
            _set_leaf(candidate, path, "x")
            if not shows(candidate):
                return _Origin("empty", (_go_path(path),))
        needle = _denied_substring(symptom.reason)
        offset = _static_offset(request, needle) if needle else None
        if offset is not None:
            return _Origin("static", offset=offset)
        results = self._simulate(hook, event).results
        rendered = results[request.index].command if request.index < len(results) else None
        if needle == ">" and "<no value>" in (rendered or ""):
            return _Origin("no-value")
        return _Origin("unknown")

    def _where(self, request: _Request, origin: _Origin, symptom: _Symptom) -> tuple[Node, tuple[int, int] | None]:
        """The YAML node, and the position in it, that a symptom of this origin points at."""
        if origin.kind == "url":
            url = next((seg for seg in request.segments if seg.name == "url"), None)
            return (url.node, None) if url else (request.node, None)
        offset = None
        if origin.kind == "static":
            offset = origin.offset
        elif origin.kind in ("fields", "empty") and origin.fields:
            offset = _reference_offset(request.command, origin.fields[0])
        if offset is None and symptom.json_path:
            name = re.sub(r"\[\d+\]", "", symptom.json_path).rsplit(".", 1)[-1]
            offset = request.command.find(f'"{name}"') if f'"{name}"' in request.command else None
        return self._at_offset(request, offset)

    def _at_offset(self, request: _Request, offset: int | None) -> tuple[Node, tuple[int, int] | None]:
        if offset is not None:
            for segment in reversed(request.segments):
                if 0 <= segment.start <= offset <= segment.start + len(segment.text):
                    return segment.node, _position_in(self.lines, segment.node, offset - segment.start)
        return request.node, None

    @staticmethod
    def _subpath(request: _Request, node: Node) -> FieldPath:
        segment = next((s for s in request.segments if s.node is node), None)
        return segment.path[len(request.path):] if segment else ()

    # -- PagerDuty behaviour --------------------------------------------------------------------------

    def _pagerduty_behaviour(self, hook: _Hook, simulations: list[tuple[Sample, ws.Simulation]]) -> None:
        """Alerts nothing can resolve: the most frequent complaint about PagerDuty integrations."""
        for request in hook.requests:
            for sample, body in _alert_triggers(request, simulations):
                if not body.get("dedup_key"):
                    self._add(hook, request, "no-dedup-key", (), WARNING, None, (),
                              "the alert has no dedup_key: every event opens a new alert, and none can be resolved",
                              "add a stable dedup_key such as keptn/{{.data.project}}/{{.data.stage}}/"
                              "{{.data.service}}/<task>", (hook.sample_line(sample),))
                # Only a .finished event's result is the task's outcome; .triggered ones carry an earlier task's.
                passed = (sample.event().get("data") or {}).get("result") == "pass"
                if hook.webhook.type.endswith(".finished") and passed:
                    severity = (body.get("payload") or {}).get("severity")
                    self._add(hook, request, "pass-triggers", (), WARNING, None, (),
                              f"a passing event triggers a {severity} alert: the alert a failure opened is never "
                              "resolved, and a success pages someone",
                              'send "event_action": "{{if eq (or (index .data "result") "none") "pass"}}resolve'
                              '{{else}}trigger{{end}}" with the dedup_key of the trigger', (hook.sample_line(sample),))

    # -- .triggered subscriptions ---------------------------------------------------------------------

    def _triggered(self, hook: _Hook, simulations: list[tuple[Sample, ws.Simulation]]) -> None:
        """Only .triggered webhooks send events back to Keptn, and those decide the user's task."""
        webhook = hook.webhook
        if not webhook.type.endswith(".triggered"):
            return
        task = webhook.type.removeprefix(events.PREFIX).rsplit(".", 1)[0]
        notify = f"for a notification subscribe to {task}.finished or {task}.started instead"
        good = next((sim for _, sim in simulations if sim.ok), None)
        started = _get(hook.node, "sendStarted")
        if good is not None and good.leaves_task_open:
            self._add(hook, None, "triggered-hangs", (), ERROR, started, ("sendStarted",) if started else (),
                      f"the task {task} never finishes: while all goes well the webhook-service sends "
                      f"{', '.join(good.sent_back)} back, not as many .started as .finished, and Keptn ends "
                      "a task when the two counts meet (sendStarted defaults to true, sendFinished to false)",
                      f"{notify}; or set sendStarted: false and sendFinished: false (nothing goes back), or "
                      "sendStarted: true and sendFinished: true (one of each) if the task exists only for this "
                      "webhook")
        elif good is not None and any(e.endswith(".finished") for e in good.sent_back):
            self._add(hook, None, "triggered-finishes", (), WARNING, _get(hook.node, "sendFinished"),
                      ("sendFinished",), f"the webhook sends {task}.finished: it may end the task {task} before "
                      "the service that really runs it is done", f"{notify}; keep sendFinished: true for a task "
                      "that exists only for this webhook")
        self._add(hook, None, "triggered-fails", (), WARNING, _get(hook.node, "type"), ("type",),
                  f"any failed request (receiver unreachable, HTTP 429 or 5xx) sends {task}.finished with result "
                  f"fail: the task {task} fails with it", notify)

    # -- free text printed as is ----------------------------------------------------------------------

    def _free_text(self, hook: _Hook) -> None:
        """Free-text fields printed without urlquery: hazards even when every sample happens to pass."""
        assert hook.event_type is not None
        for sample in hook.samples:
            event = sample.event()
            probes = _probe(event, hook.event_type)
            results = self._simulate(hook, event).results
            if not probes or not any(r.command for r in results):
                continue
            for request, result in zip(hook.requests, results):
                for marker, path in probes.items():
                    if result.command is None or marker + " " not in result.command:
                        continue
                    go_path = _go_path(path)
                    if self._has_error_about(hook, request, go_path):
                        continue
                    node, position = self._at_offset(request, _reference_offset(request.command, go_path))
                    self._add(hook, request, "raw-free-text", (go_path,), WARNING, node, self._subpath(request, node),
                              f"{go_path} is free text printed without urlquery: a \", ', ;, $ or newline in it "
                              "would break the request (the samples happen to pass)",
                              f"print it as {{{{urlquery {_wrap(_go_expression(go_path))}}}}} (spaces become +), "
                              "guarded with {{with index ...}} if it may be absent", position=position)
            return

    def _has_error_about(self, hook: _Hook, request: _Request, go_path: str) -> bool:
        def mentions(subject: object) -> bool:
            return subject == go_path or (isinstance(subject, tuple) and any(mentions(s) for s in subject))
        return any(k[0] == hook.index and k[1] == request.index and mentions(k[3]) for k in self.findings)


def _task_consequence(hook: _Hook, symptom: _Symptom, simulation: ws.Simulation) -> tuple[str, ...]:
    """On a .triggered subscription a failure goes back to Keptn as the task's result: say so."""
    task = hook.webhook.type.removeprefix(events.PREFIX).rsplit(".", 1)[0]
    if simulation.fails_task:
        return (f"this also fails the task {task}: the webhook-service sends {task}.finished with result fail",)
    if symptom.rule == "pagerduty" and hook.webhook.type.endswith(".triggered"):
        return (f"PagerDuty's HTTP 400 also fails the task {task}: the webhook-service sends {task}.finished with "
                "result fail",)
    return ()


def _alert_triggers(request: _Request,
                    simulations: list[tuple[Sample, ws.Simulation]]) -> Iterator[tuple[Sample, dict[str, Any]]]:
    """(sample, body) of each sample whose body triggers an alert at PagerDuty."""
    for sample, simulation in simulations:
        if request.index >= len(simulation.results):
            continue
        result = simulation.results[request.index]
        body = result.json_body
        alerts = _pagerduty_url(result.url) and urlsplit(result.url or "").path == pagerduty.ALERT_URL_PATH
        if alerts and not result.error and isinstance(body, dict) and body.get("event_action") == "trigger":
            yield sample, body


def _probe(event: dict[str, Any], event_type: events.EventType) -> dict[str, FieldPath]:
    """Put a marker into every free-text field of `event` (in place); marker -> field path."""
    probes: dict[str, FieldPath] = {}
    for path, _ in list(_string_leaves(event)):
        if not _is_plain_field(event_type, path):
            marker = _PROBE.format(len(probes))
            probes[marker] = path
            _set_leaf(event, path, marker + _PROBE_TAIL)
    return probes


def _mask(value: Any, shown: str) -> Any:
    """The stand-in secret, shown as where the real one comes from."""
    if isinstance(value, str):
        return value.replace(STAND_IN_SECRET, shown)
    if isinstance(value, dict):
        return {k: _mask(v, shown) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, shown) for v in value]
    return value
