"""Read YAML while remembering where every value came from.

Errors must point at file:line:column, so profiles are composed into nodes and built by hand, recording the
position of each value under its path. The same pass bounds the work an alias bomb could cause and refuses
duplicate keys, which PyYAML would otherwise resolve silently.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .fingerprint import sha256
from .keyshape import yaml_may_hold_key
from .problems import Problem, UserError

# libyaml's safe loader where PyYAML was built with it; profiles, the data files and lint read YAML with it.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 64  # deeper documents are refused before Python's recursion limit is reached

PathKey = tuple[object, ...]

_TAG_PREFIX = "tag:yaml.org,2002:"
_STR = _TAG_PREFIX + "str"


def format_path(path: PathKey) -> str:
    """`routes[0].events["evaluation.finished"].summary`: readable and unambiguous."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").replace("-", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


@dataclass
class Source:
    """A loaded YAML file: its data and the position of each value, by path."""

    file: str
    data: object
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    digest: str = ""  # SHA-256 of the bytes read (`load`): what the manifest records for this input
    may_hold_key: bool = True  # False: no text read from it is shaped like an integration key (see keyshape)

    def position(self, path: PathKey) -> tuple[int, int]:
        """Position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: PathKey, message: str, hint: str = "", level: str = "error") -> Problem:
        line, column = self.position(path)
        return Problem(self.file, line, column, format_path(tuple(path)), message, hint, level)


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.positions: dict[PathKey, tuple[int, int]] = {}
        self.count = 0
        self.scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: PathKey) -> object:
        self.count += 1
        if len(path) > MAX_DEPTH:
            raise self._error(node, path[:8], f"values are nested more than {MAX_DEPTH} levels deep",
                              "write the profile out plainly; profiles are small")
        if self.count > MAX_NODES:
            raise UserError([Problem(
                self.file, node.start_mark.line + 1, node.start_mark.column + 1, format_path(path),
                f"the document expands to more than {MAX_NODES} values (aliases that repeat aliases?)",
                "write the profile out plainly; profiles are small",
            )])
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            result: dict[object, object] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self._error(key_node, path, "merge keys (<<) are not supported",
                                      "use `extends:` to share settings between profiles")
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self._error(key_node, path, "a key must be plain text", "")
                key = key_node.value  # keys are names: `1:` and `"1":` are the same one, as text
                if key in result:
                    raise self._error(key_node, path + (key,), f"duplicate key {key!r}",
                                      "remove one of the two entries")
                self.positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: PathKey) -> object:
        if node.tag == _STR:  # most scalars: what the constructor would return, without its bookkeeping
            return node.value
        try:
            return self.scalars.construct_object(node)
        except yaml.YAMLError as exc:  # a tag PyYAML's safe loader does not know (`!foo`, `!!python/...`)
            reason = getattr(exc, "problem", None) or str(exc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # `!!int abc`, a 5,000-digit number
            reason = (str(exc) or type(exc).__name__).split(";")[0]  # not Python's advice on its own limits
        tag = node.tag.replace(_TAG_PREFIX, "!!")
        raise self._error(node, path, f"cannot read this value ({tag}): {reason}",
                          "quote the value, or remove its `!` tag")

    def _error(self, node: yaml.Node, path: PathKey, message: str, hint: str) -> UserError:
        mark = node.start_mark
        return UserError([Problem(self.file, mark.line + 1, mark.column + 1, format_path(path), message, hint)])


def load(path: Path, display: str | None = None) -> Source:
    """Load one YAML document with positions; every failure is a located `UserError`."""
    name = display or str(path)
    try:
        raw = read_bounded(path)
    except OSError as exc:
        raise UserError([Problem(name, message=f"cannot read file: {exc.strerror}")]) from None
    except ValueError:
        raise UserError([Problem(name, message="not a regular file",
                                 hint="a profile is a text file; remove or rename this entry")]) from None
    if len(raw) > MAX_FILE_BYTES:
        size = max(len(raw), os.stat(path).st_size)
        raise UserError([Problem(name, 1, 1, "", f"file is {size} bytes, more than the {MAX_FILE_BYTES} allowed",
                                 "split it into several profiles")])
    source = loads(raw, name)
    source.digest = sha256(raw)
    return source


def read_bounded(path: Path) -> bytes:
    """A regular file's bytes, at most MAX_FILE_BYTES + 1 of them; ValueError for anything else (a pipe would
    wait forever, a device never end). Reads what the file holds, not a buffer of the largest size."""
    # O_NONBLOCK: opening a pipe would wait for a writer; on a regular file it changes nothing. Plain os calls:
    # this runs for every profile of a fleet, twice, and a file object costs more than the read.
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError("not a regular file")
        chunks, left = [], MAX_FILE_BYTES + 1
        size = min(status.st_size + 1, left)  # one more: a file that grew since is read on
        while left > 0 and (chunk := os.read(handle, size)):
            chunks.append(chunk)
            left -= len(chunk)
            size = min(left, 65536)
    finally:
        os.close(handle)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _char_at(text: str, line: int, column: int) -> str:
    """The character at a 0-based line and column (libyaml's index counts bytes, its column characters)."""
    lines = text.split("\n", line + 1)
    return lines[line][column:column + 1] if line < len(lines) else ""


def loads(raw: bytes | str, name: str) -> Source:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        may_hold_key = yaml_may_hold_key(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
    except UnicodeDecodeError as exc:
        raise UserError([Problem(name, 1, 1, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                 "save the file as UTF-8")]) from None
    try:
        nodes = list(yaml.compose_all(text, Loader=Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.context and exc.problem:
            message += f" ({exc.context})"
        hint = "check indentation, colons and quotes around this position"
        if mark and _char_at(text, mark.line, mark.column) == "\t":
            hint = "YAML indents with spaces, never tabs: replace the tab at this position with spaces"
        raise UserError([Problem(name, line, column, "", message, hint)]) from None
    except yaml.YAMLError as exc:
        raise UserError([Problem(name, 1, 1, "", f"YAML error: {exc}", "")]) from None
    if len(nodes) > 1:
        mark = nodes[1].start_mark
        raise UserError([Problem(name, mark.line + 1, mark.column + 1, "", "more than one YAML document in the file",
                                 "keep one profile per file (remove the `---` separator)")])
    if not nodes:
        return Source(name, None, {(): (1, 1)}, may_hold_key=may_hold_key)
    builder = _Builder(name)
    data = builder.build(nodes[0], ())
    return Source(name, data, builder.positions, may_hold_key=may_hold_key)
