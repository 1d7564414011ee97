"""Decode webhook.yaml files that differ only in names once per shape, rather than once per file.

The projects of a fleet render webhook.yaml files that differ in little more than their names: the project's
in comments, the subscription IDs in plain values. Decoding each file as Keptn does costs more than anything
else in proving a project. So a file is cut at its names, each replaced by a marker of its own (`KPDNAME0Z`,
...), and what is left, its *shape*, is decoded once; a later file of the same shape gets that decoding with
its own names put back in, where the shape shows that this is what yaml.v3 and Keptn would make of the file:

- names are neutral text, `[a-z0-9][a-z0-9-]*`, as the markers are `[A-Z0-9]`: no quote, escape, colon,
  hash, space or line break, nothing a YAML scanner reads as more than the letters of a scalar, and neither
  starts with what starts an indicator or a document marker;
- the shape decodes without an error (so no marker is in the API version or a v1beta1 method, which Keptn
  compares with fixed values; its other checks are for empty values, and a name is never empty);
- every marker of the shape is either inside the value of a scalar or on a line that is a comment and
  nothing else: the markers of the values and of the comment lines add up to the markers of the text, so
  none is in an anchor, an alias, a tag or a directive. No scalar that holds one is a mapping key (keys are
  checked for duplicates and matched by name) or in double quotes in a shape that holds a backslash (an
  escape could spell a marker);
- a plain scalar that holds a marker resolves to the same type with the names put in (`null` or `1e3`
  would not); quoted and block scalars are text, whatever they hold.

Anything else is decoded as it is, and so is a file whose shape came only once: a fleet of files that are
all unlike each other pays for cutting them and for nothing else.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
from collections.abc import Callable, Iterable

import yaml

from . import webhook_service as ws

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_MARKED = "KPDNAME"
_MARKER = re.compile(r"KPDNAME(\d+)Z")
_COMMENT_LINE = re.compile(r"[ \t]*#")
# Line breaks to YAML besides \n: with none of them, the scanner's line numbers are those of text.split("\n").
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")

_SEEN_ONCE = "seen once"
_UNUSABLE = "unusable"


def document(text: str) -> str:
    """The text from its first document marker on, when only comment lines come before it: what decides how
    the file decodes (a project's files for its stages differ in their header comment)."""
    head, marker, rest = text.partition("\n---\n")
    if marker and all(line.startswith("#") for line in head.split("\n")):
        return marker + rest
    return text


class _Shape:
    """A decoded shape: its config with markers, and the values of its plain scalars that hold markers."""

    def __init__(self, config: ws.WebhookConfig, plain: list[str]) -> None:
        self.config = config
        self.plain = plain
        self.marked: dict[int, list[int]] = {}  # the parts of `config` that hold markers (see _mark)
        _mark(config, self.marked)

    def fill(self, names: tuple[str, ...]) -> ws.WebhookConfig | None:
        """The config of the file these names make of the shape; None when a name changes what a plain
        scalar resolves to, so that the file must be decoded as it is."""

        def put(text: str) -> str:
            return _MARKER.sub(lambda m: names[int(m.group(1))], text) if _MARKED in text else text

        for value in self.plain:
            if ws.implicit_tag(put(value)) != ws.implicit_tag(value):
                return None
        return _filled(self.config, put, self.marked)


class DecodeCache:
    """`webhook_service.decode` for files that share a shape with other files but for the `names` given."""

    def __init__(self, limit: int = 512) -> None:
        self._shapes: dict[str, _Shape | str] = {}
        self._limit = limit  # shapes remembered: each holds a file's text and its decoding
        self.reused = 0  # files decoded by filling in a shape

    def decode(self, text: str, names: Iterable[str], body: str | None = None) -> ws.WebhookConfig:
        """Raise `webhook_service.DecodeError` as `decode` does (then always from decoding the file itself).
        `body` is `document(text)`, when the caller has it already."""
        cut = _cut(document(text) if body is None else body, names)
        if cut is None:
            return ws.decode(text)
        shape, found = cut
        entry = self._shapes.get(shape)
        if entry is None:
            if len(self._shapes) < self._limit:
                self._shapes[shape] = _SEEN_ONCE
            return ws.decode(text)
        if entry is _SEEN_ONCE:
            entry = self._shapes[shape] = _analyse(shape)
        config = entry.fill(found) if isinstance(entry, _Shape) else None
        if config is None:
            return ws.decode(text)
        self.reused += 1
        return config


def _cut(text: str, names: Iterable[str]) -> tuple[str, tuple[str, ...]] | None:
    """The shape of `text` and the names in it, by marker number (numbered in order of first appearance,
    so that alike files give one shape); None when there is nothing to cut."""
    if _MARKED in text:
        return None
    first: dict[str, int] = {}
    for name in dict.fromkeys(names):
        if _NAME.match(name) and (at := text.find(name)) >= 0:
            first[name] = at
    if not first:
        return None
    found = sorted(first, key=first.__getitem__)
    shape = text
    for number, name in sorted(enumerate(found), key=lambda pair: -len(pair[1])):  # a name within a longer one
        shape = shape.replace(name, f"{_MARKED}{number}Z")
    return shape, tuple(found)


def _analyse(shape: str) -> _Shape | str:
    """The decoded shape, when its markers can be filled in with any names (see the module's docstring)."""
    if _OTHER_BREAKS.search(shape):
        return _UNUSABLE
    try:
        node = ws.compose(shape)
        config = ws.config_of(node)
    except ws.DecodeError:
        return _UNUSABLE
    scalars: dict[int, tuple[yaml.ScalarNode, bool]] = {}  # by id: an aliased node counts once
    _collect(node, False, scalars)
    in_values, plain, covered = 0, [], set()
    for scalar, key in scalars.values():
        if scalar.end_mark.line > scalar.start_mark.line:  # lines within a scalar are no comments, whatever they hold
            last = scalar.end_mark.line if scalar.end_mark.column else scalar.end_mark.line - 1
            covered.update(range(scalar.start_mark.line + 1, last + 1))
        count = scalar.value.count(_MARKED)
        if not count:
            continue
        if key or (scalar.style == '"' and "\\" in shape):
            return _UNUSABLE
        if not scalar.style:
            plain.append(scalar.value)
        in_values += count
    in_comments = sum(line.count(_MARKED) for number, line in enumerate(shape.split("\n"))
                      if _MARKED in line and number not in covered and _COMMENT_LINE.match(line))
    if in_values + in_comments != shape.count(_MARKED):
        return _UNUSABLE
    return _Shape(config, plain)


def _collect(node: yaml.Node, key: bool, scalars: dict[int, tuple[yaml.ScalarNode, bool]]) -> None:
    if isinstance(node, yaml.ScalarNode):
        if scalars.setdefault(id(node), (node, key))[1] != key:  # an aliased node used as a key too
            scalars[id(node)] = (node, True)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _collect(item, key, scalars)
    elif isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            _collect(name, True, scalars)
            _collect(value, key, scalars)


@functools.lru_cache(maxsize=None)
def _getter(kind: type) -> Callable[[object], tuple]:
    return operator.attrgetter(*(f.name for f in dataclasses.fields(kind)))


def _parts(value: object) -> tuple:
    """The parts of a tuple, or the fields of a record (each record here has several), in order."""
    if type(value) is tuple:
        return value
    return _getter(type(value))(value) if dataclasses.is_dataclass(value) else ()


def _mark(value: object, marked: dict[int, list[int]]) -> bool:
    """Whether `value` holds a marker; for the tuples and records that do, `marked` gets which of their
    parts do, by the id of each."""
    if type(value) is str:
        return _MARKED in value
    where = [number for number, part in enumerate(_parts(value)) if _mark(part, marked)]
    if where:
        marked[id(value)] = where
    return bool(where)


def _filled(value, put: Callable[[str], str], marked: dict[int, list[int]]):
    """`value` (the config, or any part of it) with `put` applied to every text in it; parts without a
    marker are shared as they are (they are immutable)."""
    if type(value) is str:
        return put(value)
    where = marked.get(id(value))
    if where is None:
        return value
    parts = list(_parts(value))
    for number in where:
        parts[number] = _filled(parts[number], put, marked)
    return tuple(parts) if type(value) is tuple else type(value)(*parts)
