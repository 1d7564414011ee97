"""Profile text with `{placeholders}` compiled into Go template text that Keptn cannot choke on.

Profile authors write `Quality gate {result} for {service}: {message|no message}`. Each piece becomes part of a
JSON string inside a single-quoted curl argument inside a Go template inside a printf format (see the
reference on Keptn's webhook-service). So:

* static text is JSON-escaped, and every character Keptn treats specially (`%`, `'`, `$`, `|`, `;`, `>`,
  `&`, backtick, braces, control characters) is written as a JSON `\\uXXXX` escape: PagerDuty decodes it, Keptn
  never sees it. A literal `{{` can therefore never reach Go's template parser.
* required names print plainly; optional fields are guarded with `with index`, so `missingkey=error` never
  fires and an absent value prints the placeholder's default (`{message|no message}`) or nothing;
* free text goes through `urlquery` only, cut to a length limit.

Syntax: `{field}`, `{field|default text}`, `{{` and `}}` for literal braces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from .events import EventType, Field
from .problems import closest
from .yamlsource import Loader

GO_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters written as \uXXXX in static JSON text: Keptn's printf step (%), quote parser ('), denied
# characters ($ | ; > & backtick), Go's template delimiters (braces), and what JSON forbids raw.
_ESCAPED = set("%'$|;>&`{}") | {chr(c) for c in range(0x20)} | {"\x7f", "\u2028", "\u2029"}
_KEY_FORBIDDEN = set("\"\\{}|%'`") | {chr(c) for c in range(0x20)}
V1ALPHA1_DENIED_WORDS = ("kubernetes", "localhost", "127.0.0.1", "cluster.local", "::1")
STATIC_FIELDS = ("task", "phase", "event")


class PlaceholderError(ValueError):
    """A placeholder the generator cannot compile; `offset` is the character position in the text."""

    def __init__(self, message: str, offset: int, hint: str = ""):
        super().__init__(message)
        self.offset = offset
        self.hint = hint


@dataclass(frozen=True)
class Context:
    """Where a text goes: it decides the free-text limit and whether lists may appear."""

    free_text_limit: int = 1000
    allow_lists: bool = True
    api_version: str = "v1beta1"


@dataclass(frozen=True)
class Compiled:
    template: str
    max_length: int | None  # None: no bound can be proven (a list)
    fields: tuple[str, ...] = field(default=())


@lru_cache(maxsize=1)
def kinds() -> dict[str, dict[str, object]]:
    text = resources.files("keptn_pagerduty").joinpath("data/kinds.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=Loader)  # read at every start-up


def json_static(text: str, api_version: str = "v1beta1") -> str:
    """Static text as the inside of a JSON string that survives Keptn's printf, quoting and checks.

    Non-ASCII characters are escaped too: Keptn splits the command byte by byte and would hand curl
    "PrÃ¼fung" for "Prüfung".
    """
    tokens = [_json_char(char, api_version) for char in text]
    _break_substring(tokens, "/var/run", strip_backslashes=False)
    if api_version == "v1alpha1":
        # v1alpha1 matches its URL deny list against the whole command, payload included, after
        # deleting every backslash.
        for word in V1ALPHA1_DENIED_WORDS:
            _break_substring(tokens, word, strip_backslashes=True)
    return "".join(tokens)


def _json_char(char: str, api_version: str) -> str:
    if char == '"':
        return '\\"'
    if char == "\\":
        # v1alpha1 deletes backslashes before its deny-list check: `kuber\\netes` must not become `kubernetes`.
        return "\\u005c" if api_version == "v1alpha1" else "\\\\"
    if char in _ESCAPED:
        return f"\\u{ord(char):04x}"
    if ord(char) > 0x7E:
        encoded = char.encode("utf-16-be")
        return "".join(f"\\u{int.from_bytes(encoded[i:i + 2], 'big'):04x}" for i in range(0, len(encoded), 2))
    return char


def _break_substring(tokens: list[str], word: str, strip_backslashes: bool) -> None:
    """Escape characters of `tokens` until `word` no longer appears in what Keptn checks."""
    while True:
        view = [t.replace("\\", "") if strip_backslashes else t for t in tokens]
        joined = "".join(view)
        found = joined.find(word)
        if found < 0:
            return
        position = 0
        for index, piece in enumerate(view):
            # The first plain character inside the match: escaping it puts `u` and hex digits there.
            if position + len(piece) > found and len(tokens[index]) == 1 and tokens[index] not in "u0123456789abcdef":
                tokens[index] = f"\\u{ord(tokens[index]):04x}"
                break
            if position >= found + len(word):
                raise AssertionError(f"cannot break {word!r}")  # every deny word has such a character
            position += len(piece)


@dataclass(frozen=True)
class _Part:
    offset: int
    static: str | None = None
    name: str | None = None
    default: str = ""


def parse(text: str) -> list[_Part]:
    parts: list[_Part] = []
    buffer: list[str] = []
    start = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            buffer.append(char)
            i += 2
            continue
        if char == "}":
            raise PlaceholderError("a lone `}`", i, "write `}}` for a literal `}`")
        if char == "{":
            end = text.find("}", i)
            inner = text[i + 1:end] if end >= 0 else ""
            if end < 0 or "{" in inner:
                raise PlaceholderError("a `{` that starts no placeholder", i,
                                       "close it as `{field}`, or write `{{` for a literal `{`")
            name, _, default = inner.partition("|")
            name = name.strip()
            if not name:
                raise PlaceholderError("an empty placeholder `{}`", i, "write a field name, e.g. `{service}`")
            if buffer:
                parts.append(_Part(start, static="".join(buffer)))
                buffer = []
            parts.append(_Part(i, name=name, default=default))
            i = end + 1
            start = i
            continue
        buffer.append(char)
        i += 1
    if buffer:
        parts.append(_Part(start, static="".join(buffer)))
    return parts


@lru_cache(maxsize=65536)
def compile_text(text: str, event: EventType, context: Context = Context()) -> Compiled:
    """Compile profile text for one event type; raises `PlaceholderError` naming the offending part."""
    pieces: list[str] = []
    length: int | None = 0
    names: list[str] = []
    for part in parse(text):
        if part.static is not None:
            pieces.append(json_static(part.static, context.api_version))
            length = _add(length, len(part.static))
            continue
        assert part.name is not None
        default = json_static(part.default, context.api_version)
        names.append(part.name)
        if part.name in STATIC_FIELDS:
            value = {"task": event.task, "phase": event.phase, "event": event.short}[part.name]
            pieces.append(json_static(value, context.api_version))
            length = _add(length, len(value))
            continue
        found = event.field(part.name)
        if found is None:
            available = sorted([f.name for f in event.fields] + list(STATIC_FIELDS))
            meant = closest(part.name, available)
            raise PlaceholderError(
                f"`{{{part.name}}}` is not a field of {event.short}", part.offset,
                (f"did you mean `{{{meant}}}`? " if meant else "") + f"{event.short} has: {', '.join(available)}",
            )
        template, longest = _field_template(found, default, context, part.offset)
        pieces.append(template)
        length = _add(length, None if longest is None else max(longest, len(part.default)))
    return Compiled("".join(pieces), length, tuple(names))


def _add(total: int | None, more: int | None) -> int | None:
    return None if total is None or more is None else total + more


def _field_template(found: Field, default: str, context: Context, offset: int) -> tuple[str, int | None]:
    kind = kinds().get(found.kind, {})
    if kind.get("printable") is False:
        hint = "pick one entry, e.g. `{labels.buildId}`" if found.kind == "map" else "pick one of its fields"
        raise PlaceholderError(f"`{{{found.name}}}` is a {found.kind} and prints as Go syntax", offset, hint)
    for key in found.path:
        bad = sorted(set(key) & _KEY_FORBIDDEN)
        if bad:
            raise PlaceholderError(f"the key {key!r} contains {bad[0]!r}, which cannot be used in a webhook",
                                   offset, "use a label key of letters, digits, spaces, `-`, `_` and `.`")
    otherwise = "{{else}}" + default + "{{end}}" if default else "{{end}}"
    if found.kind == "list":
        if not context.allow_lists:
            raise PlaceholderError(f"`{{{found.name}}}` is a list, which has no length limit", offset,
                                   "use lists in custom_details, not in summary, source or dedup_key")
        item = "{{urlquery $e}}" if kinds().get(found.items or "text", {}).get("free_text", True) else "{{$e}}"
        leaf = "{{with %s}}{{range $i, $e := .}}{{if $i}}, {{end}}" + item + "{{end}}" + otherwise
        return _guard(found, leaf, default), None
    if kind.get("free_text"):
        limit = str(context.free_text_limit)
        leaf = ("{{with %s}}{{$t := urlquery .}}{{if gt (len $t) " + limit + "}}{{slice $t 0 " + limit
                + "}}{{else}}{{$t}}{{end}}" + otherwise)
        return _guard(found, leaf, default), context.free_text_limit
    if found.kind == "enum":
        longest: int | None = max((len(v) for v in found.values), default=0)
    else:
        longest = kind.get("max_length")  # type: ignore[assignment]
    if not found.optional:
        return _guard(found, "{{%s}}", default), longest
    if found.kind in ("number", "bool"):
        # `with` would skip 0 and false; only an absent value prints the default.
        leaf = '{{$v := %s}}{{if eq (print $v) "<nil>"}}' + default + "{{else}}{{$v}}{{end}}"
    else:
        leaf = "{{with %s}}{{.}}" + otherwise
    return _guard(found, leaf, default), longest


def _guard(found: Field, leaf: str, default: str) -> str:
    """Wrap the leaf (a template with one %s for the value) in `with index` for each optional level."""
    path = list(found.path)
    if not found.optional:
        if all(GO_IDENTIFIER.match(k) for k in path):
            return leaf % ("." + ".".join(path))
        return leaf % ("index . " + " ".join(f'"{k}"' for k in path))
    container = "."
    if path[0] == "data" and len(path) > 1:
        container, path = ".data", path[1:]
    text = ""
    for key in path[:-1]:
        text += f'{{{{with index {container} "{key}"}}}}'
        container = "."
    text += leaf % f'index {container} "{path[-1]}"'
    closing = ("{{else}}" + default + "{{end}}") if default else "{{end}}"
    return text + closing * (len(path) - 1)
