"""A faithful simulation of Go's ``text/template`` as Keptn's webhook-service uses it.

Why: the generator must prove, before it writes webhook.yaml, what every curl template renders to
for real events, or which error Keptn will report. Keptn 1.4.x (built with Go 1.20) renders each
request with ``template.New("").Option("missingkey=error").Parse(s)`` and no extra functions, over
the CloudEvent decoded by ``json.Unmarshal`` into ``map[string]interface{}`` plus ``"env"`` (a
``map[string]string`` of secrets). Behaviour and error texts follow Go 1.20's ``text/template``,
``fmt`` and ``net/url`` sources; nothing Go accepts is silently approximated: what is not simulated
raises :class:`UnsupportedTemplateError`.

How Python values stand for Go values::

    dict       -> map[string]interface {}     StringMap -> map[string]string
    list       -> []interface {}              str       -> string
    float, int -> float64 (every JSON number) bool      -> bool
    None       -> JSON null: a nil interface{}
    GoInt      -> int (template constants such as ``0``, ``len`` results, range indexes)

``Template.execute`` treats a top-level ``"env"`` dict of strings as ``map[string]string``, as
Keptn's handler builds it (so ``index .env "x"`` of a missing key is ``""``, not ``<no value>``).

Layout: values and Go-style quoting; lexer; node classes; parser; executor; builtins; fmt
(Sprint/Sprintf); the escapers; the public functions.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = [
    "GoInt",
    "StringMap",
    "Template",
    "TemplateError",
    "UnsupportedTemplateError",
    "go_format",
    "parse",
    "render",
]


class TemplateError(Exception):
    """A parse or execution error, with Go's message text in str(exc)."""


class UnsupportedTemplateError(TemplateError):
    """A construct Go accepts but this simulator does not implement (never silently passes)."""


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


class GoInt(int):
    """A Go ``int``: distinct from JSON numbers (float64), so ``eq .score 100`` fails as in Go."""

    __slots__ = ()
    go_type = "int"

    def __repr__(self) -> str:
        return f"GoInt({int(self)})"


class _GoUint8(GoInt):
    """A byte, as ``index`` of a string returns."""

    __slots__ = ()
    go_type = "uint8"

    def __repr__(self) -> str:
        return f"_GoUint8({int(self)})"


class StringMap(dict):
    """A Go ``map[string]string`` (Keptn's ``.env``); a missing ``index`` key gives ``""``."""

    def __repr__(self) -> str:
        return f"StringMap({dict.__repr__(self)})"


class _Sentinel:
    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


# A JSON null read out of a map or list: a nil interface{} value, which Go reports differently
# ("nil pointer evaluating interface {}.x", "len of nil pointer") from no value at all (None).
_NIL = _Sentinel("<nil interface {}>")
# No value piped into a command (Go's missingVal).
_MISSING = _Sentinel("<missing>")


def _type_name(v: Any) -> str:
    """Go's reflect type string of a value's dynamic type."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, GoInt):
        return v.go_type
    if isinstance(v, (int, float)):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, StringMap):
        return "map[string]string"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list):
        return "[]interface {}"
    raise UnsupportedTemplateError(f"data of Python type {type(v).__name__} has no JSON equivalent")


def _unbox(v: Any) -> Any:
    """Go's indirectInterface: a nil interface{} becomes no value."""
    return None if v is _NIL else v


def _is_print(c: str) -> bool:
    """Go's unicode.IsPrint (letters, marks, numbers, punctuation, symbols, ASCII space)."""
    return c.isprintable()


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(s: str, quote: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote / QuoteToASCII (and, with quote="'", QuoteRune)."""
    out = [quote]
    for c in s:
        o = ord(c)
        if c == quote or c == "\\":
            out.append("\\" + c)
        elif _is_print(c) and (o < 0x80 or not ascii_only):
            out.append(c)
        elif c in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[c])
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append("\\u%04x" % o)
        else:
            out.append("\\U%08x" % o)
    out.append(quote)
    return "".join(out)


def _sharp_u(c: str) -> str:
    """fmt's %#U of a rune, used in lexer errors."""
    if _is_print(c):
        return "U+%04X '%s'" % (ord(c), c)
    return "U+%04X" % ord(c)


_SURROGATES = re.compile("[\ud800-\udfff]")


def _utf8(s: str) -> bytes:
    """The bytes of a Go string (lone surrogates cannot come out of Go's JSON decoder: U+FFFD)."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", s).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Lexer (text/template/parse/lex.go semantics; Go 1.20, no goroutine)
# --------------------------------------------------------------------------------------------

T_ERROR, T_BOOL, T_CHAR, T_CHAR_CONSTANT, T_COMPLEX, T_ASSIGN, T_DECLARE, T_EOF = range(8)
T_FIELD, T_IDENTIFIER, T_LEFT_DELIM, T_LEFT_PAREN, T_NUMBER, T_PIPE, T_RAW_STRING = range(8, 15)
T_RIGHT_DELIM, T_RIGHT_PAREN, T_SPACE, T_STRING, T_TEXT, T_VARIABLE = range(15, 21)
# Keywords (shown as <word> in parse errors).
T_BLOCK, T_BREAK, T_CONTINUE, T_DOT, T_DEFINE, T_ELSE, T_END, T_IF = range(21, 29)
T_NIL, T_RANGE, T_TEMPLATE, T_WITH = range(29, 33)
_FIRST_KEYWORD = T_BLOCK

_KEYWORDS = {
    "block": T_BLOCK,
    "break": T_BREAK,
    "continue": T_CONTINUE,
    "define": T_DEFINE,
    "else": T_ELSE,
    "end": T_END,
    "if": T_IF,
    "nil": T_NIL,
    "range": T_RANGE,
    "template": T_TEMPLATE,
    "with": T_WITH,
}

_SPACE_CHARS = " \t\r\n"


class _Item:
    """A token: type, character offset, text, line of its start."""

    __slots__ = ("typ", "pos", "val", "line")

    def __init__(self, typ: int, pos: int, val: str, line: int) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val
        self.line = line

    def __str__(self) -> str:
        if self.typ == T_EOF:
            return "EOF"
        if self.typ == T_ERROR:
            return self.val
        if self.typ >= _FIRST_KEYWORD:
            return f"<{self.val}>"
        if len(_utf8(self.val)) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _has_left_trim(text: str, i: int) -> bool:
    return i + 1 < len(text) and text[i] == "-" and text[i + 1] in _SPACE_CHARS


def _has_right_trim(text: str, i: int) -> bool:
    return i + 1 < len(text) and text[i] in _SPACE_CHARS and text[i + 1] == "-"


# The usual tokens inside an action, each ending where the general path below would end it: a run of
# spaces that no trim marker follows, a field, variable or word that ends at a terminator, a quoted string,
# a pipe, a parenthesis. They are lexed a run at a time; anything else (non-ASCII text, numbers, a trim
# marker, an unterminated string, the end of the text) goes through the general path, one item at a time.
_TERMINATOR = r"(?=[ \t\r\n.,|:)(}])"
_QUICK = re.compile(
    r"(?>(?P<space>[ \t\r\n]+))(?!-}})"
    r"|(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)" + _TERMINATOR +
    r"|(?P<variable>\$[A-Za-z0-9_]*)" + _TERMINATOR +
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)" + _TERMINATOR +
    r'|(?P<string>"(?:[^"\\\n]|\\[^\n])*")'
    r"|(?P<pipe>\|)|(?P<open>\()|(?P<close>\))")
_QUICK_TYPES = {"space": T_SPACE, "field": T_FIELD, "variable": T_VARIABLE, "string": T_STRING, "pipe": T_PIPE,
                "open": T_LEFT_PAREN, "close": T_RIGHT_PAREN}


class _Lexer:
    """Turns template text into items, stopping after EOF or the first error item."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[_Item] = []
        self._line_pos = 0
        self._line = 1

    def run(self) -> list[_Item]:
        state: Callable[[], Any] | None = self._lex_text
        while state is not None:
            state = state()
        return self.items

    # -- helpers ------------------------------------------------------------------------------

    def _line_at(self, pos: int) -> int:
        # Item starts only move forward, so count newlines incrementally.
        if pos >= self._line_pos:
            self._line += self.text.count("\n", self._line_pos, pos)
        else:
            self._line -= self.text.count("\n", pos, self._line_pos)
        self._line_pos = pos
        return self._line

    def _emit(self, typ: int) -> None:
        self.items.append(_Item(typ, self.start, self.text[self.start : self.pos], self._line_at(self.start)))
        self.start = self.pos

    def _ignore(self) -> None:
        self.start = self.pos

    def _error(self, msg: str) -> None:
        self.items.append(_Item(T_ERROR, self.start, msg, self._line_at(self.start)))
        return None

    def _accept(self, valid: str) -> bool:
        if self.pos < self.n and self.text[self.pos] in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self.pos < self.n and self.text[self.pos] in valid:
            self.pos += 1

    def _at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.text, self.pos) and self.text.startswith("}}", self.pos + 2):
            return True, True
        if self.text.startswith("}}", self.pos):
            return True, False
        return False, False

    def _at_terminator(self) -> bool:
        if self.pos >= self.n:
            return True
        r = self.text[self.pos]
        return r in _SPACE_CHARS or r in ".,|:)(" or r == "}"

    def _left_trim_length(self, pos: int) -> int:
        rest = self.text[pos:]
        return len(rest) - len(rest.lstrip(_SPACE_CHARS))

    # -- states -------------------------------------------------------------------------------

    def _lex_text(self):
        x = self.text.find("{{", self.pos)
        if x < 0:
            self.pos = self.n
            if self.pos > self.start:
                self._emit(T_TEXT)
            self._emit(T_EOF)
            return None
        end = x
        if _has_left_trim(self.text, x + 2):
            end = self.start + len(self.text[self.start : x].rstrip(_SPACE_CHARS))
        self.pos = end
        if end > self.start:
            self._emit(T_TEXT)
        self.pos = x
        self._ignore()
        return self._lex_left_delim

    def _lex_left_delim(self):
        self.pos += 2
        after_marker = 2 if _has_left_trim(self.text, self.pos) else 0
        if self.text.startswith("/*", self.pos + after_marker):
            self.pos += after_marker
            self._ignore()
            return self._lex_comment
        self._emit(T_LEFT_DELIM)
        self.pos += after_marker
        self._ignore()
        self.paren_depth = 0
        return self._lex_inside_action

    def _lex_comment(self):
        self.pos += 2
        i = self.text.find("*/", self.pos)
        if i < 0:
            return self._error("unclosed comment")
        self.pos = i + 2
        delim, trim = self._at_right_delim()
        if not delim:
            return self._error("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += 2
        if trim:
            self.pos += self._left_trim_length(self.pos)
        self._ignore()
        return self._lex_text

    def _lex_right_delim(self):
        trim = _has_right_trim(self.text, self.pos)
        if trim:
            self.pos += 2
            self._ignore()
        self.pos += 2
        self._emit(T_RIGHT_DELIM)
        if trim:
            self.pos += self._left_trim_length(self.pos)
            self._ignore()
        return self._lex_text

    def _lex_inside_action(self):
        text = self.text
        while not text.startswith("}}", self.pos) and (quick := _QUICK.match(text, self.pos)) is not None:
            kind = quick.lastgroup
            if kind == "close":
                if self.paren_depth == 0:
                    break  # an error, worded below
                self.paren_depth -= 1
            elif kind == "open":
                self.paren_depth += 1
            self.pos = quick.end()
            if kind == "word":
                word = quick.group()
                self._emit(_KEYWORDS.get(word, T_BOOL if word in ("true", "false") else T_IDENTIFIER))
            else:
                self._emit(_QUICK_TYPES[kind])
        delim, _ = self._at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self._lex_right_delim
            return self._error("unclosed left paren")
        if self.pos >= self.n:
            return self._error("unclosed action")
        r = self.text[self.pos]
        self.pos += 1
        if r in _SPACE_CHARS:
            self.pos -= 1
            return self._lex_space
        if r == "=":
            self._emit(T_ASSIGN)
        elif r == ":":
            if self.pos < self.n and self.text[self.pos] == "=":
                self.pos += 1
                self._emit(T_DECLARE)
            else:
                return self._error("expected :=")
        elif r == "|":
            self._emit(T_PIPE)
        elif r == '"':
            return self._lex_quote
        elif r == "`":
            return self._lex_raw_quote
        elif r == "$":
            return self._lex_variable
        elif r == "'":
            return self._lex_char
        elif r == "." and self.pos < self.n and not ("0" <= self.text[self.pos] <= "9"):
            return self._lex_field
        elif r in "+-." or "0" <= r <= "9":
            self.pos -= 1
            return self._lex_number
        elif _is_alnum(r):
            self.pos -= 1
            return self._lex_identifier
        elif r == "(":
            self._emit(T_LEFT_PAREN)
            self.paren_depth += 1
        elif r == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self._error("unexpected right paren " + _sharp_u(r))
            self._emit(T_RIGHT_PAREN)
        elif r <= "\x7f" and _is_print(r):
            self._emit(T_CHAR)
        else:
            return self._error("unrecognized character in action: " + _sharp_u(r))
        return self._lex_inside_action

    def _lex_space(self):
        num_spaces = 0
        while self.pos < self.n and self.text[self.pos] in _SPACE_CHARS:
            self.pos += 1
            num_spaces += 1
        # A space may start a trim-marked right delimiter " -}}".
        if _has_right_trim(self.text, self.pos - 1) and self.text.startswith("}}", self.pos + 1):
            self.pos -= 1
            if num_spaces == 1:
                return self._lex_right_delim
        self._emit(T_SPACE)
        return self._lex_inside_action

    def _lex_identifier(self):
        while self.pos < self.n and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self._at_terminator():
            return self._error("bad character " + _sharp_u(self.text[self.pos]))
        word = self.text[self.start : self.pos]
        if word in _KEYWORDS:
            self._emit(_KEYWORDS[word])
        elif word in ("true", "false"):
            self._emit(T_BOOL)
        else:
            self._emit(T_IDENTIFIER)
        return self._lex_inside_action

    def _lex_field(self):
        return self._lex_field_or_variable(T_FIELD)

    def _lex_variable(self):
        if self._at_terminator():
            self._emit(T_VARIABLE)
            return self._lex_inside_action
        return self._lex_field_or_variable(T_VARIABLE)

    def _lex_field_or_variable(self, typ: int):
        if self._at_terminator():
            self._emit(T_VARIABLE if typ == T_VARIABLE else T_DOT)
            return self._lex_inside_action
        while self.pos < self.n and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self._at_terminator():
            return self._error("bad character " + _sharp_u(self.text[self.pos]))
        self._emit(typ)
        return self._lex_inside_action

    def _lex_quoted(self, quote: str, typ: int, message: str):
        while True:
            if self.pos >= self.n:
                return self._error(message)
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\":
                if self.pos >= self.n or self.text[self.pos] == "\n":
                    return self._error(message)
                self.pos += 1
            elif c == "\n":
                return self._error(message)
            elif c == quote:
                break
        self._emit(typ)
        return self._lex_inside_action

    def _lex_char(self):
        return self._lex_quoted("'", T_CHAR_CONSTANT, "unterminated character constant")

    def _lex_quote(self):
        return self._lex_quoted('"', T_STRING, "unterminated quoted string")

    def _lex_raw_quote(self):
        i = self.text.find("`", self.pos)
        if i < 0:
            self.pos = self.n
            return self._error("unterminated raw quoted string")
        self.pos = i + 1
        self._emit(T_RAW_STRING)
        return self._lex_inside_action

    def _lex_number(self):
        if not self._scan_number():
            return self._error("bad number syntax: " + _go_quote(self.text[self.start : self.pos]))
        if self.pos < self.n and self.text[self.pos] in "+-":
            # Complex: 1+2i.
            if not self._scan_number() or self.text[self.pos - 1] != "i":
                return self._error("bad number syntax: " + _go_quote(self.text[self.start : self.pos]))
            self._emit(T_COMPLEX)
        else:
            self._emit(T_NUMBER)
        return self._lex_inside_action

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if self.pos < self.n and _is_alnum(self.text[self.pos]):
            self.pos += 1
            return False
        return True


# --------------------------------------------------------------------------------------------
# Go literal parsing (strconv semantics)
# --------------------------------------------------------------------------------------------


class _SyntaxError(Exception):
    """strconv.ErrSyntax."""


def _underscore_ok(s: str) -> bool:
    """strconv's rule: underscores only between digits (a base prefix counts as a digit)."""
    saw = "^"
    i = 0
    if s[:1] in ("+", "-") and s:
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint(s: str) -> int | None:
    """strconv.ParseUint(s, 0, 64), or None on error."""
    if not s:
        return None
    body, base = s, 10
    if s[0] == "0":
        if len(s) >= 3 and s[1].lower() == "b":
            body, base = s[2:], 2
        elif len(s) >= 3 and s[1].lower() == "o":
            body, base = s[2:], 8
        elif len(s) >= 3 and s[1].lower() == "x":
            body, base = s[2:], 16
        else:
            body, base = s[1:], 8
    n = 0
    underscores = False
    for c in body:
        if c == "_":
            underscores = True
            continue
        d = int(c, 16) if c in "0123456789abcdefABCDEF" else 99
        if d >= base:
            return None
        n = n * base + d
    if underscores and not _underscore_ok(s):
        return None
    if n >= 1 << 64:
        return None
    return n


def _parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64), or None on error."""
    if not s:
        return None
    neg = s[0] == "-"
    body = s[1:] if s[0] in "+-" else s
    u = _parse_uint(body)
    if u is None:
        return None
    v = -u if neg else u
    if not -(1 << 63) <= v < (1 << 63):
        return None
    return v


_DECIMAL_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


def _parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64), or None on error (including overflow)."""
    t = s
    if "_" in s:
        if not _underscore_ok(s):
            return None
        t = s.replace("_", "")
    body = t.lstrip("+-")
    try:
        if body[:2].lower() == "0x":
            if "p" not in body.lower():
                return None
            f = float.fromhex(t)
        elif _DECIMAL_FLOAT.match(t):
            f = float(t)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(f) else f


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote_char(s: str, quote: str) -> tuple[int, bool, str]:
    """strconv.UnquoteChar: (value, value is a raw byte, tail)."""
    c = s[0]
    if c == quote and quote in "'\"":
        raise _SyntaxError
    if c != "\\":
        return ord(c), False, s[1:]
    if len(s) <= 1:
        raise _SyntaxError
    c, s = s[1], s[2:]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], False, s
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[:n]
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise _SyntaxError
        v = int(digits, 16)
        if c == "x":
            return v, True, s[n:]
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise _SyntaxError
        return v, False, s[n:]
    if "0" <= c <= "7":
        digits = c + s[:2]
        if len(digits) < 3 or any(d not in "01234567" for d in digits):
            raise _SyntaxError
        v = int(digits, 8)
        if v > 255:
            raise _SyntaxError
        return v, True, s[2:]
    if c in "'\"":
        if c != quote:
            raise _SyntaxError
        return ord(c), False, s
    raise _SyntaxError


def _unquote(token: str) -> str:
    """strconv.Unquote of a string token (with its quotes)."""
    if token[0] == "`":
        return token[1:-1].replace("\r", "")
    body = token[1:-1]
    if "\\" not in body and '"' not in body:
        return body
    buf = bytearray()
    while body:
        v, is_byte, body = _unquote_char(body, '"')
        if is_byte:
            buf.append(v)
        else:
            buf += chr(v).encode("utf-8", "surrogatepass")
    try:
        return buf.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedTemplateError(f"string constant {token} is not valid UTF-8") from None


# --------------------------------------------------------------------------------------------
# Parse tree nodes (str() of a node is Go's Node.String(), shown in execution errors)
# --------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("pos",)
    pos: int  # character offset in the template text


class _TextNode(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text

    def __str__(self) -> str:
        return self.text


class _PipeNode(_Node):
    __slots__ = ("line", "is_assign", "decl", "cmds")

    def __init__(self, pos: int, line: int) -> None:
        self.pos = pos
        self.line = line
        self.is_assign = False
        self.decl: list[_VariableNode] = []
        self.cmds: list[_CommandNode] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class _ActionNode(_Node):
    __slots__ = ("line", "pipe")

    def __init__(self, pos: int, line: int, pipe: _PipeNode) -> None:
        self.pos = pos
        self.line = line
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _CommandNode(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.args: list[_Node] = []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _PipeNode) else str(a) for a in self.args)


class _FieldNode(_Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        self.pos = pos
        self.ident = ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class _VariableNode(_Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        self.pos = pos
        self.ident = ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class _ChainNode(_Node):
    __slots__ = ("node", "field")

    def __init__(self, pos: int, node: _Node) -> None:
        self.pos = pos
        self.node = node
        self.field: list[str] = []

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, _PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.field)


class _IdentifierNode(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        self.pos = pos
        self.name = name

    def __str__(self) -> str:
        return self.name


class _DotNode(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "."


class _NilNode(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "nil"


class _BoolNode(_Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: bool) -> None:
        self.pos = pos
        self.value = value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class _NumberNode(_Node):
    """A number; ``value`` is its ideal-constant value (GoInt or float), or ``error`` at run."""

    __slots__ = ("text", "value", "error")

    def __init__(self, pos: int, text: str, value: Any, error: str | None) -> None:
        self.pos = pos
        self.text = text
        self.value = value
        self.error = error

    def __str__(self) -> str:
        return self.text


class _StringNode(_Node):
    __slots__ = ("quoted", "text")

    def __init__(self, pos: int, quoted: str, text: str) -> None:
        self.pos = pos
        self.quoted = quoted
        self.text = text

    def __str__(self) -> str:
        return self.quoted


class _ListNode(_Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.nodes: list[_Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class _BranchNode(_Node):
    __slots__ = ("line", "pipe", "list", "else_list")
    keyword = ""

    def __init__(self, pos: int, line: int, pipe: _PipeNode, lst: _ListNode, else_list: _ListNode | None) -> None:
        self.pos = pos
        self.line = line
        self.pipe = pipe
        self.list = lst
        self.else_list = else_list

    def __str__(self) -> str:
        s = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            s += "{{else}}" + str(self.else_list)
        return s + "{{end}}"


class _IfNode(_BranchNode):
    __slots__ = ()
    keyword = "if"


class _RangeNode(_BranchNode):
    __slots__ = ()
    keyword = "range"


class _WithNode(_BranchNode):
    __slots__ = ()
    keyword = "with"


class _BreakNode(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{break}}"


class _ContinueNode(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{continue}}"


class _EndNode(_Node):
    """{{end}}: returned by the parser, never in the tree."""

    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{end}}"


class _ElseNode(_Node):
    """{{else}}: returned by the parser, never in the tree."""

    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{else}}"


# --------------------------------------------------------------------------------------------
# Parser (text/template/parse/parse.go, Go 1.20)
# --------------------------------------------------------------------------------------------

_BUILTIN_NAMES = frozenset(
    {"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println"}
    | {"urlquery", "eq", "ge", "gt", "le", "lt", "ne"}
)
_OPERAND_START = frozenset(
    {T_BOOL, T_CHAR_CONSTANT, T_COMPLEX, T_DOT, T_FIELD, T_IDENTIFIER, T_NUMBER, T_NIL, T_RAW_STRING}
    | {T_STRING, T_VARIABLE, T_LEFT_PAREN}
)
_NON_EXECUTABLE = (_BoolNode, _DotNode, _NilNode, _NumberNode, _StringNode)


class _Parser:
    """Builds the node tree with Go's three-token lookahead, so error lines match Go's."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.items = _Lexer(text).run()
        self.ix = 0
        self.token: list[_Item] = [self.items[0]] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0

    # -- token stream -------------------------------------------------------------------------

    def _lex_next(self) -> _Item:
        item = self.items[self.ix]
        if self.ix < len(self.items) - 1:
            self.ix += 1
        return item

    def next(self) -> _Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self._lex_next()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: _Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: _Item, t1: _Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> _Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self._lex_next()
        return self.token[0]

    def next_non_space(self) -> _Item:
        while True:
            token = self.next()
            if token.typ != T_SPACE:
                return token

    def peek_non_space(self) -> _Item:
        token = self.next_non_space()
        self.backup()
        return token

    # -- errors -------------------------------------------------------------------------------

    def errorf(self, msg: str) -> NoReturn:
        raise TemplateError(f"template: {self.name}:{self.token[0].line}: {msg}")

    def expect(self, expected: int, context: str) -> _Item:
        token = self.next_non_space()
        if token.typ != expected:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: _Item, context: str) -> NoReturn:
        if token.typ == T_ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf(f"{token}{extra}")
        self.errorf(f"unexpected {token} in {context}")

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> _ListNode:
        root = _ListNode(self.peek().pos)
        while self.peek().typ != T_EOF:
            if self.peek().typ == T_LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == T_DEFINE:
                    raise UnsupportedTemplateError("{{define}} is not simulated")
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (_EndNode, _ElseNode)):
                self.errorf(f"unexpected {n}")
            root.nodes.append(n)
        return root

    def item_list(self) -> tuple[_ListNode, _Node]:
        lst = _ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T_EOF:
            n = self.text_or_action()
            if isinstance(n, (_EndNode, _ElseNode)):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")

    def text_or_action(self) -> _Node:
        token = self.next_non_space()
        if token.typ == T_TEXT:
            return _TextNode(token.pos, token.val)
        if token.typ == T_LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(token, "input")

    def action(self) -> _Node:
        token = self.next_non_space()
        typ = token.typ
        if typ == T_BLOCK:
            raise UnsupportedTemplateError("{{block}} is not simulated")
        if typ == T_TEMPLATE:
            raise UnsupportedTemplateError("{{template}} is not simulated")
        if typ in (T_BREAK, T_CONTINUE):
            return self.break_or_continue(token)
        if typ == T_ELSE:
            return self.else_control()
        if typ == T_END:
            return _EndNode(self.expect(T_RIGHT_DELIM, "end").pos)
        if typ == T_IF:
            return _IfNode(*self.parse_control("if"))
        if typ == T_RANGE:
            return _RangeNode(*self.parse_control("range"))
        if typ == T_WITH:
            return _WithNode(*self.parse_control("with"))
        self.backup()
        token = self.peek()
        return _ActionNode(token.pos, token.line, self.pipeline("command", T_RIGHT_DELIM))

    def break_or_continue(self, keyword: _Item) -> _Node:
        word = keyword.val
        token = self.next_non_space()
        if token.typ != T_RIGHT_DELIM:
            self.unexpected(token, "{{" + word + "}}")
        if self.range_depth == 0:
            self.errorf("{{%s}} outside {{range}}" % word)
        return _BreakNode(keyword.pos) if word == "break" else _ContinueNode(keyword.pos)

    def else_control(self) -> _Node:
        # "{{else if ...": the if is left pending, parsed as a nested if in the else list.
        peek = self.peek_non_space()
        if peek.typ == T_IF:
            return _ElseNode(peek.pos)
        token = self.expect(T_RIGHT_DELIM, "else")
        return _ElseNode(token.pos)

    def parse_control(self, context: str):
        mark = len(self.vars)
        pipe = self.pipeline(context, T_RIGHT_DELIM)
        if context == "range" and pipe.is_assign:
            raise UnsupportedTemplateError("{{range}} assigning with = is not simulated")
        if context == "range":
            self.range_depth += 1
        lst, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_list = None
        if isinstance(nxt, _ElseNode):
            if context == "if" and self.peek().typ == T_IF:
                self.next()
                else_list = _ListNode(nxt.pos)
                else_list.nodes.append(_IfNode(*self.parse_control("if")))
            else:
                else_list, nxt = self.item_list()
                if not isinstance(nxt, _EndNode):
                    self.errorf(f"expected end; found {nxt}")
        del self.vars[mark:]
        return pipe.pos, pipe.line, pipe, lst, else_list

    def pipeline(self, context: str, end: int) -> _PipeNode:
        token = self.peek_non_space()
        pipe = _PipeNode(token.pos, token.line)
        while True:  # declarations: "$x :=", "$x =", "$i, $e :="
            v = self.peek_non_space()
            if v.typ != T_VARIABLE:
                break
            self.next()
            token_after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (T_ASSIGN, T_DECLARE):
                pipe.is_assign = nxt.typ == T_ASSIGN
                self.next_non_space()
                pipe.decl.append(_VariableNode(v.pos, v.val))
                self.vars.append(v.val)
            elif nxt.typ == T_CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(_VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T_VARIABLE, T_RIGHT_DELIM, T_RIGHT_PAREN):
                        continue  # second variable of a range
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            elif token_after_variable.typ == T_SPACE:
                self.backup3(v, token_after_variable)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def check_pipeline(self, pipe: _PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], _NON_EXECUTABLE):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> _CommandNode:
        cmd = _CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == T_SPACE:
                continue
            if token.typ in (T_RIGHT_DELIM, T_RIGHT_PAREN):
                self.backup()
            elif token.typ != T_PIPE:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == T_FIELD:
            chain = _ChainNode(self.peek().pos, node)
            while self.peek().typ == T_FIELD:
                chain.field.append(self.next().val[1:])
            # Fields after a field or variable fold into it; literals cannot have fields.
            if isinstance(node, _FieldNode):
                return _FieldNode(chain.pos, str(chain))
            if isinstance(node, _VariableNode):
                return _VariableNode(chain.pos, str(chain))
            if isinstance(node, _NON_EXECUTABLE):
                self.errorf("unexpected . after term " + _go_quote(str(node)))
            return chain
        return node

    def term(self) -> _Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == T_IDENTIFIER:
            if token.val not in _BUILTIN_NAMES:
                self.errorf(f"function {_go_quote(token.val)} not defined")
            return _IdentifierNode(token.pos, token.val)
        if typ == T_DOT:
            return _DotNode(token.pos)
        if typ == T_NIL:
            return _NilNode(token.pos)
        if typ == T_VARIABLE:
            v = _VariableNode(token.pos, token.val)
            if v.ident[0] not in self.vars:
                self.errorf(f"undefined variable {_go_quote(v.ident[0])}")
            return v
        if typ == T_FIELD:
            return _FieldNode(token.pos, token.val)
        if typ == T_BOOL:
            return _BoolNode(token.pos, token.val == "true")
        if typ in (T_CHAR_CONSTANT, T_COMPLEX, T_NUMBER):
            return self.number(token)
        if typ == T_LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T_RIGHT_PAREN)
        if typ in (T_STRING, T_RAW_STRING):
            try:
                return _StringNode(token.pos, token.val, _unquote(token.val))
            except _SyntaxError:
                self.errorf("invalid syntax")
        self.backup()
        return None

    def number(self, token: _Item) -> _NumberNode:
        """parse.newNumber plus exec's idealConstant, computed once."""
        text = token.val
        if token.typ == T_COMPLEX:
            raise UnsupportedTemplateError(f"complex constant {text} is not simulated")
        if token.typ == T_CHAR_CONSTANT:
            try:
                value, _, tail = _unquote_char(text[1:], "'")
            except _SyntaxError:
                self.errorf("invalid syntax")
            if tail != "'":
                self.errorf(f"malformed character constant: {text}")
            return _NumberNode(token.pos, text, GoInt(value), None)
        if text.endswith("i") and _parse_float(text[:-1]) is not None:
            raise UnsupportedTemplateError(f"imaginary constant {text} is not simulated")
        u = _parse_uint(text)
        i = _parse_int(text)
        is_uint = u is not None or i == 0
        f: float | None
        if i is not None:
            f = float(i)
        elif u is not None:
            f = float(u)
        else:
            f = _parse_float(text)
            if f is not None:
                if not any(c in text for c in ".eEpP"):
                    self.errorf("integer overflow: " + _go_quote(text))
                if f == int(f) and -(2**63) <= f < 2**63:
                    i = int(f)
                if f == int(f) and 0 <= f < 2**64:
                    is_uint = True
        if f is None:
            self.errorf("illegal number syntax: " + _go_quote(text))
        # exec's idealConstant: floats by their syntax, then int, and a uint beyond int fails.
        hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
        if not hex_int and any(c in text for c in ".eEpP"):
            return _NumberNode(token.pos, text, f, None)
        if i is not None:
            return _NumberNode(token.pos, text, GoInt(i), None)
        assert is_uint
        return _NumberNode(token.pos, text, None, f"{text} overflows int")


# --------------------------------------------------------------------------------------------
# Executor (text/template/exec.go)
# --------------------------------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _CallError(Exception):
    """An error returned by a builtin: reported as "error calling NAME: MSG"."""


def _truth(v: Any) -> bool:
    """Go's truth: false, 0, nil, and empty strings, maps and lists are false."""
    if v is None or v is _NIL:
        return False
    if isinstance(v, (bool, int, float, str, dict, list)):
        return bool(v)
    raise UnsupportedTemplateError(f"data of Python type {type(v).__name__} has no JSON equivalent")


def _location(text: str, pos: int) -> str:
    before = text[:pos]
    line = before.count("\n") + 1
    col = len(_utf8(before[before.rfind("\n") + 1 :]))
    return f"{line}:{col}"


# Parameter kinds of builtins: reflect.Value (keeps a nil interface{} apart from no value),
# any (fmt's ...any), or string (printf's format).
_VALUE, _ANY, _STRING = "value", "any", "string"


class _State:
    """One execution: output, the variable stack, and the node errors are reported at."""

    __slots__ = ("tmpl", "node", "vars", "out")

    def __init__(self, tmpl: Template, data: Any) -> None:
        self.tmpl = tmpl
        self.node: _Node | None = None
        self.vars: list[list[Any]] = [["$", data, False]]  # name, value, value is in an interface{}
        self.out: list[str] = []

    def errorf(self, msg: str) -> NoReturn:
        name = self.tmpl.name
        if self.node is None:
            raise TemplateError(f"template: {name}: {msg}")
        location = _location(self.tmpl.text, self.node.pos)
        raise TemplateError(f"template: {name}:{location}: executing {_go_quote(name)} at <{self.node}>: {msg}")

    # -- variables ----------------------------------------------------------------------------

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                entry[2] = False
                return
        self.errorf(f"undefined variable: {name}")

    def var_value(self, name: str) -> tuple[Any, bool]:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1], entry[2]
        self.errorf(f"undefined variable: {name}")

    # -- walking ------------------------------------------------------------------------------

    def walk(self, dot: Any, boxed: bool, node: _Node) -> None:
        self.node = node
        if isinstance(node, _TextNode):
            self.out.append(node.text)
        elif isinstance(node, _ActionNode):
            val = self.eval_pipeline(dot, boxed, node.pipe)
            if not node.pipe.decl:  # an action that declares variables prints nothing
                self.node = node
                self.out.append("<no value>" if val is None else go_format(val))
        elif isinstance(node, _ListNode):
            for n in node.nodes:
                self.walk(dot, boxed, n)
        elif isinstance(node, (_IfNode, _WithNode)):
            self.walk_if_or_with(isinstance(node, _WithNode), dot, boxed, node)
        elif isinstance(node, _RangeNode):
            self.walk_range(dot, boxed, node)
        elif isinstance(node, _BreakNode):
            raise _Break
        elif isinstance(node, _ContinueNode):
            raise _Continue
        else:  # pragma: no cover - the parser makes no other nodes
            self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: Any, boxed: bool, node: _BranchNode) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, boxed, node.pipe)
            if _truth(val):
                if is_with:
                    self.walk(val, False, node.list)
                else:
                    self.walk(dot, boxed, node.list)
            elif node.else_list is not None:
                self.walk(dot, boxed, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, boxed: bool, r: _RangeNode) -> None:
        self.node = r
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, boxed, r.pipe)
            inner = len(self.vars)
            ndecl = len(r.pipe.decl)
            if isinstance(val, list):
                if val:
                    for i, elem in enumerate(val):
                        self._iteration(r, inner, ndecl, GoInt(i), _NIL if elem is None else elem, True)
                    return
            elif isinstance(val, dict):
                if val:
                    if type(val) is StringMap:
                        for key in sorted(val):
                            self._iteration(r, inner, ndecl, key, val[key], False)
                    else:
                        for key in sorted(val):
                            elem = val[key]
                            self._iteration(r, inner, ndecl, key, _NIL if elem is None else elem, True)
                    return
            elif val is not None:  # nil acts like an empty map
                self.errorf(f"range can't iterate over {go_format(val)}")
            if r.else_list is not None:
                self.walk(dot, boxed, r.else_list)
        except _Break:
            pass
        finally:
            del self.vars[mark:]

    def _iteration(self, r: _RangeNode, inner: int, ndecl: int, index: Any, elem: Any, boxed: bool) -> None:
        # The range's own variables sit just below `inner`: the element on top, the index below.
        if ndecl > 0:
            self.vars[inner - 1][1:] = [elem, boxed]
        if ndecl > 1:
            self.vars[inner - 2][1:] = [index, False]
        try:
            self.walk(elem, boxed, r.list)
        except _Continue:
            pass
        finally:
            del self.vars[inner:]

    # -- evaluation ---------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, boxed: bool, pipe: _PipeNode | None) -> Any:
        """The pipeline's value, out of its interface{}: a nil interface{} becomes None."""
        if pipe is None:
            return None
        self.node = pipe
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, boxed, cmd, value)
            if value is _NIL:
                value = None
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append([var.ident[0], value, False])
        return value

    def not_a_function(self, args: list[_Node] | None, final: Any) -> None:
        if args and (len(args) > 1 or final is not _MISSING):
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, boxed: bool, cmd: _CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _FieldNode):
            self.node = first
            return self.eval_field_chain(dot, dot, boxed, first, first.ident, cmd.args, final)
        if isinstance(first, _ChainNode):
            return self.eval_chain_node(dot, boxed, first, cmd.args, final)
        if isinstance(first, _IdentifierNode):
            return self.eval_function(dot, boxed, first, cmd, cmd.args, final)
        if isinstance(first, _PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, boxed, first)
        if isinstance(first, _VariableNode):
            return self.eval_variable_node(dot, boxed, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, _BoolNode):
            return first.value
        if isinstance(first, _DotNode):
            return dot
        if isinstance(first, _NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, _NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, _StringNode):
            return first.text
        self.errorf(f"can't evaluate command {_go_quote(str(first))}")  # pragma: no cover

    def ideal_constant(self, node: _NumberNode) -> Any:
        self.node = node
        if node.error is not None:
            self.errorf(node.error)
        return node.value

    def eval_chain_node(self, dot: Any, boxed: bool, chain: _ChainNode, args: list[_Node] | None, final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, _NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, boxed, None, chain.node)
        return self.eval_field_chain(dot, receiver, False, chain, chain.field, args, final)

    def eval_variable_node(
        self, dot: Any, boxed: bool, var: _VariableNode, args: list[_Node] | None, final: Any
    ) -> Any:
        self.node = var
        value, vboxed = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, vboxed, var, var.ident[1:], args, final)

    def eval_field_chain(
        self, dot: Any, receiver: Any, boxed: bool, node: _Node, ident: list[str], args: list[_Node] | None, final: Any
    ) -> Any:
        for name in ident[:-1]:
            receiver, boxed = self.eval_field(name, None, _MISSING, receiver, boxed)
        return self.eval_field(ident[-1], args, final, receiver, boxed)[0]

    def eval_field(
        self, name: str, args: list[_Node] | None, final: Any, receiver: Any, boxed: bool
    ) -> tuple[Any, bool]:
        """A map entry by field name, with missingkey=error; returns (value, in an interface{})."""
        if receiver is None:
            self.errorf(f"nil data; no entry for key {_go_quote(name)}")
        if receiver is _NIL:
            self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, dict):
            if (args is not None and len(args) > 1) or final is not _MISSING:
                self.errorf(f"{name} is not a method but has arguments")
            try:
                value = receiver[name]
            except KeyError:
                self.errorf(f"map has no entry for key {_go_quote(name)}")
            if type(receiver) is StringMap:
                return value, False
            return (_NIL if value is None else value), True
        typ = "interface {}" if boxed else _type_name(receiver)
        self.errorf(f"can't evaluate field {name} in type {typ}")

    def eval_function(
        self, dot: Any, boxed: bool, ident: _IdentifierNode, cmd: _Node, args: list[_Node] | None, final: Any
    ) -> Any:
        self.node = ident
        name = ident.name
        builtin = _BUILTINS[name]
        args = args[1:] if args is not None else []
        num_in = len(args) + (final is not _MISSING)
        if builtin.variadic:
            if num_in < builtin.fixed:
                self.errorf(f"wrong number of args for {name}: want at least {builtin.fixed} got {len(args)}")
        elif num_in != builtin.fixed:
            self.errorf(f"wrong number of args for {name}: want {builtin.fixed} got {num_in}")
        if name in ("and", "or"):  # short-circuit: return the deciding value
            want = name == "or"
            v = None
            for arg in args:
                v = self.eval_arg(dot, boxed, _VALUE, arg)
                if _truth(v) == want:
                    return v
            if final is not _MISSING:
                v = final
            return v
        argv = [self.eval_arg(dot, boxed, builtin.kind(i), arg) for i, arg in enumerate(args)]
        if final is not _MISSING:
            argv.append(self.validate_type(final, builtin.kind(num_in - 1)))
        try:
            return builtin.fn(argv)
        except _CallError as e:
            self.node = cmd
            self.errorf(f"error calling {name}: {e}")

    def validate_type(self, value: Any, kind: str | None) -> Any:
        if kind is None or kind == _VALUE:
            return value
        if kind == _ANY:
            return _unbox(value)
        # A string parameter (printf's format).
        if isinstance(value, str):
            return value
        if value is None:
            self.errorf("invalid value; expected string")
        got = "interface {}" if value is _NIL else _type_name(value)
        self.errorf(f"wrong type for value; expected string; got {got}")

    def eval_arg(self, dot: Any, boxed: bool, kind: str | None, n: _Node) -> Any:
        self.node = n
        if isinstance(n, _DotNode):
            return self.validate_type(dot, kind)
        if isinstance(n, _NilNode):
            if kind == _STRING:
                self.errorf("cannot assign nil to string")
            return None
        if isinstance(n, _FieldNode):
            return self.validate_type(self.eval_field_chain(dot, dot, boxed, n, n.ident, [n], _MISSING), kind)
        if isinstance(n, _VariableNode):
            return self.validate_type(self.eval_variable_node(dot, boxed, n, None, _MISSING), kind)
        if isinstance(n, _PipeNode):
            return self.validate_type(self.eval_pipeline(dot, boxed, n), kind)
        if isinstance(n, _IdentifierNode):
            return self.validate_type(self.eval_function(dot, boxed, n, n, None, _MISSING), kind)
        if isinstance(n, _ChainNode):
            return self.validate_type(self.eval_chain_node(dot, boxed, n, None, _MISSING), kind)
        if kind == _STRING:
            if isinstance(n, _StringNode):
                return n.text
            self.errorf(f"expected string; found {n}")
        if isinstance(n, _BoolNode):
            return n.value
        if isinstance(n, _NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, _StringNode):
            return n.text
        self.errorf(f"can't handle assignment of {n} to empty interface argument")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Builtin functions (text/template/funcs.go, Go 1.20)
# --------------------------------------------------------------------------------------------


class _Builtin:
    __slots__ = ("fn", "fixed", "variadic", "kinds")

    def __init__(self, fn: Callable[[list], Any], fixed: int, variadic: bool, kinds: tuple[str, ...]) -> None:
        self.fn = fn
        self.fixed = fixed
        self.variadic = variadic
        self.kinds = kinds  # kind of each fixed parameter; the last one repeats if variadic

    def kind(self, i: int) -> str:
        return self.kinds[min(i, len(self.kinds) - 1)]


def _index_arg(index: Any, cap: int) -> int:
    if isinstance(index, GoInt):
        x = int(index)
    elif index is None:
        raise _CallError("cannot index slice/array with nil")
    else:
        raise _CallError(f"cannot index slice/array with type {_type_name(index)}")
    if x < 0 or x > cap:
        raise _CallError(f"index out of range: {x}")
    return x


def _fn_index(argv: list) -> Any:
    item = _unbox(argv[0])
    if item is None:
        raise _CallError("index of untyped nil")
    for index in argv[1:]:
        index = _unbox(index)
        if item is _NIL:
            raise _CallError("index of nil pointer")
        if isinstance(item, (list, str)):
            data = item if isinstance(item, list) else _utf8(item)
            x = _index_arg(index, len(data))
            if x == len(data):  # reflect.Value.Index panics; text/template reports the panic
                kind = "slice" if isinstance(item, list) else "string"
                raise _CallError(f"reflect: {kind} index out of range")
            if isinstance(item, list):
                elem = item[x]
                item = _NIL if elem is None else elem
            else:
                item = _GoUint8(data[x])
        elif isinstance(item, dict):
            if index is None:
                raise _CallError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise _CallError(f"value has type {_type_name(index)}; should be string")
            if type(item) is StringMap:
                item = item.get(index, "")
            else:
                elem = item.get(index)  # a missing key gives the zero value: a nil interface{}
                item = _NIL if elem is None else elem
        else:
            raise _CallError(f"can't index item of type {_type_name(item)}")
    return item


def _fn_slice(argv: list) -> Any:
    item = _unbox(argv[0])
    indexes = argv[1:]
    if item is None:
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _CallError("cannot 3-index slice a string")
        data: Any = _utf8(item)
    elif isinstance(item, list):
        data = item
    else:
        raise _CallError(f"can't slice item of type {_type_name(item)}")
    idx = [0, len(data), 0]
    for i, index in enumerate(indexes):
        x = _index_arg(_unbox(index), len(data) if isinstance(item, str) else 1 << 62)
        if isinstance(item, list) and x > len(data):
            raise UnsupportedTemplateError("slice beyond a list's length depends on Go's slice capacity")
        idx[i] = x
    if idx[0] > idx[1]:
        raise _CallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise _CallError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = data[idx[0] : idx[1]]
    if isinstance(item, list):
        return part
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedTemplateError("slicing a string inside a UTF-8 sequence is not simulated") from None


def _fn_len(argv: list) -> Any:
    item = argv[0]
    if item is _NIL:
        raise _CallError("len of nil pointer")
    if item is None:
        raise _CallError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return GoInt(len(_utf8(item)))
    if isinstance(item, (dict, list)):
        return GoInt(len(item))
    raise _CallError(f"len of type {_type_name(item)}")


def _basic_kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, GoInt):
        return "uint" if isinstance(v, _GoUint8) else "int"
    if isinstance(v, (int, float)):
        return "float"
    if isinstance(v, str):
        return "string"
    return None


_INTEGER_KINDS = ("int", "uint")


def _fn_eq(argv: list) -> bool:
    arg1 = _unbox(argv[0])
    if len(argv) == 1:
        raise _CallError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in argv[1:]:
        arg = _unbox(arg)
        k2 = _basic_kind(arg)
        if k1 != k2:
            if k1 in _INTEGER_KINDS and k2 in _INTEGER_KINDS:
                truth = int(arg1) == int(arg)
            elif arg1 is not None and arg is not None:
                raise _CallError("incompatible types for comparison")
            else:
                truth = False
        elif k1 == "float":
            truth = float(arg1) == float(arg)
        elif k1 is not None:
            truth = arg1 == arg
        else:  # neither is a basic kind: nil, maps, lists
            same_kind = type(arg1) is type(arg) or (isinstance(arg1, dict) and isinstance(arg, dict))
            if not (same_kind or arg1 is None or arg is None):
                raise _CallError(
                    _sprintf("non-comparable types %s: %v, %s: %v", [arg1, _type_name(arg1), _type_name(arg), arg])
                )
            if arg1 is None or arg is None:
                truth = arg1 is None and arg is None
            else:
                raise _CallError(_sprintf("non-comparable type %s: %v", [arg, _type_name(arg)]))
        if truth:
            return True
    return False


def _fn_ne(argv: list) -> bool:
    return not _fn_eq(argv)


def _lt(a: Any, b: Any) -> bool:
    a, b = _unbox(a), _unbox(b)
    k1, k2 = _basic_kind(a), _basic_kind(b)
    if k1 is None or k2 is None:
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        if k1 in _INTEGER_KINDS and k2 in _INTEGER_KINDS:
            return int(a) < int(b)
        raise _CallError("incompatible types for comparison")
    if k1 == "bool":
        raise _CallError("invalid type for comparison")
    if k1 == "float":
        return float(a) < float(b)
    return a < b


def _fn_lt(argv: list) -> bool:
    return _lt(argv[0], argv[1])


def _fn_le(argv: list) -> bool:
    return _lt(argv[0], argv[1]) or _fn_eq(argv)


def _fn_gt(argv: list) -> bool:
    return not _fn_le(argv)


def _fn_ge(argv: list) -> bool:
    return not _lt(argv[0], argv[1])


def _fn_not(argv: list) -> bool:
    return not _truth(argv[0])


def _fn_call(argv: list) -> Any:
    raise UnsupportedTemplateError("the call builtin is not simulated (decoded JSON holds no functions)")


def _eval_args(args: list) -> str:
    """html/js/urlquery's argument text: fmt.Sprint, but a nil argument reads <no value>."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _sprint(["<no value>" if a is None else a for a in args])


def _fn_print(argv: list) -> str:
    return _sprint(argv)


def _fn_printf(argv: list) -> str:
    return _sprintf(argv[0], argv[1:])


def _fn_println(argv: list) -> str:
    return _sprint(argv, newline=True)


def _fn_html(argv: list) -> str:
    return _html_escape(_eval_args(argv))


def _fn_js(argv: list) -> str:
    return _js_escape(_eval_args(argv))


def _fn_urlquery(argv: list) -> str:
    return _query_escape(_eval_args(argv))


_BUILTINS: dict[str, _Builtin] = {
    "and": _Builtin(lambda argv: None, 1, True, (_VALUE,)),
    "or": _Builtin(lambda argv: None, 1, True, (_VALUE,)),
    "not": _Builtin(_fn_not, 1, False, (_VALUE,)),
    "len": _Builtin(_fn_len, 1, False, (_VALUE,)),
    "index": _Builtin(_fn_index, 1, True, (_VALUE,)),
    "slice": _Builtin(_fn_slice, 1, True, (_VALUE,)),
    "call": _Builtin(_fn_call, 1, True, (_VALUE,)),
    "eq": _Builtin(_fn_eq, 1, True, (_VALUE,)),
    "ne": _Builtin(_fn_ne, 2, False, (_VALUE,)),
    "lt": _Builtin(_fn_lt, 2, False, (_VALUE,)),
    "le": _Builtin(_fn_le, 2, False, (_VALUE,)),
    "gt": _Builtin(_fn_gt, 2, False, (_VALUE,)),
    "ge": _Builtin(_fn_ge, 2, False, (_VALUE,)),
    "print": _Builtin(_fn_print, 0, True, (_ANY,)),
    "printf": _Builtin(_fn_printf, 1, True, (_STRING, _ANY)),
    "println": _Builtin(_fn_println, 0, True, (_ANY,)),
    "html": _Builtin(_fn_html, 0, True, (_ANY,)),
    "js": _Builtin(_fn_js, 0, True, (_ANY,)),
    "urlquery": _Builtin(_fn_urlquery, 0, True, (_ANY,)),
}
assert set(_BUILTINS) == _BUILTIN_NAMES


# --------------------------------------------------------------------------------------------
# fmt: Sprint, Sprintln, Sprintf (fmt/print.go and fmt/format.go)
# --------------------------------------------------------------------------------------------


class _Flags:
    __slots__ = ("wid", "prec", "minus", "plus", "sharp", "space", "zero", "plus_v", "sharp_v")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.wid: int | None = None
        self.prec: int | None = None
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False


_NO_FLAGS = _Flags()


def _pad(s: str, f: _Flags, zero_ok: bool = True) -> str:
    """Pads to the width in runes: left unless '-', with zeros if '0' and not '-'."""
    if not f.wid:
        return s
    width = f.wid - len(s)
    if width <= 0:
        return s
    if f.minus:
        return s + " " * width
    return ("0" if f.zero and zero_ok else " ") * width + s


def _print_arg(arg: Any, verb: str, f: _Flags) -> str:
    """fmt's printArg: one operand at the top level."""
    if arg is None or arg is _NIL:
        if verb in "Tv":
            return _pad("<nil>", f)
        return _bad_verb(verb, None, f)
    if verb == "T":
        return _fmt_s(_type_name(arg), f)
    if verb == "p":
        raise UnsupportedTemplateError("printf %p (addresses) is not simulated")
    if verb == "w":
        return _bad_verb(verb, arg, f)
    return _print_value(arg, verb, f)


def _print_value(v: Any, verb: str, f: _Flags) -> str:
    if v is None or v is _NIL:  # a nil interface{} inside a map or list
        return "<nil>"
    if isinstance(v, bool):
        if verb in "tv":
            return _pad("true" if v else "false", f)
        return _bad_verb(verb, v, f)
    if isinstance(v, GoInt):
        return _fmt_integer(v, verb, f)
    if isinstance(v, (int, float)):
        return _fmt_float(float(v), verb, f)
    if isinstance(v, str):
        return _fmt_string(v, verb, f)
    if f.sharp_v:
        raise UnsupportedTemplateError("printf %#v is not simulated")
    if isinstance(v, dict):
        items = (_print_value(k, verb, f) + ":" + _print_value(v[k], verb, f) for k in sorted(v))
        return "map[" + " ".join(items) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_print_value(e, verb, f) for e in v) + "]"
    raise UnsupportedTemplateError(f"data of Python type {type(v).__name__} has no JSON equivalent")


def _bad_verb(verb: str, arg: Any, f: _Flags) -> str:
    if arg is None or arg is _NIL:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_type_name(arg)}={_print_arg(arg, 'v', f)})"


def _fmt_s(s: str, f: _Flags) -> str:
    if f.prec is not None:
        s = s[: f.prec]
    return _pad(s, f)


def _can_backquote(s: str) -> bool:
    return all(c == "\t" or not (c < " " or c in "`\x7f\ufeff") for c in s)


def _fmt_string(s: str, verb: str, f: _Flags) -> str:
    if verb == "v":
        if f.sharp_v:
            raise UnsupportedTemplateError("printf %#v is not simulated")
        return _fmt_s(s, f)
    if verb == "s":
        return _fmt_s(s, f)
    if verb in ("x", "X"):
        return _fmt_sx(_utf8(s), f, verb == "X")
    if verb == "q":
        if f.prec is not None:
            s = s[: f.prec]
        if f.sharp and _can_backquote(s):
            return _pad("`" + s + "`", f)
        return _pad(_go_quote(s, ascii_only=f.plus), f)
    return _bad_verb(verb, s, f)


def _fmt_sx(b: bytes, f: _Flags, upper: bool) -> str:
    """%x / %X of a string: hex of its bytes ("% x" separates them, "#" adds 0x)."""
    length = len(b) if f.prec is None else min(len(b), f.prec)
    width = 2 * length
    if width == 0:
        return _pad("", f)
    if f.space:
        if f.sharp:
            width *= 2
        width += length - 1
    elif f.sharp:
        width += 2
    prefix = "0X" if upper else "0x"
    parts = []
    for i in range(length):
        if f.space and i > 0:
            parts.append(" ")
        if f.sharp and (f.space or i == 0):
            parts.append(prefix)
        parts.append(("%02X" if upper else "%02x") % b[i])
    s = "".join(parts)
    if f.wid and f.wid > width:
        if f.minus:
            return s + " " * (f.wid - width)
        return ("0" if f.zero else " ") * (f.wid - width) + s
    return s


def _valid_rune(v: int) -> int:
    return v if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else 0xFFFD


def _fmt_integer(v: int, verb: str, f: _Flags) -> str:
    if verb in "vd":
        if verb == "v" and f.sharp_v:
            raise UnsupportedTemplateError("printf %#v is not simulated")
        return _fmt_int_base(v, 10, False, verb, f)
    if verb == "b":
        return _fmt_int_base(v, 2, False, verb, f)
    if verb in "oO":
        return _fmt_int_base(v, 8, False, verb, f)
    if verb in "xX":
        return _fmt_int_base(v, 16, verb == "X", verb, f)
    if verb == "c":
        return _pad(chr(_valid_rune(v)), f)
    if verb == "q":
        return _pad(_go_quote(chr(_valid_rune(v)), quote="'", ascii_only=f.plus), f)
    if verb == "U":
        prec = f.prec if f.prec is not None and f.prec > 4 else 4
        s = "U+" + ("%X" % v).rjust(prec, "0")
        if f.sharp and 0 <= v <= 0x10FFFF and _is_print(chr(_valid_rune(v))):
            s += " '" + chr(v) + "'"
        return _pad(s, f, zero_ok=False)
    return _bad_verb(verb, v, f)


def _fmt_int_base(v: int, base: int, upper: bool, verb: str, f: _Flags) -> str:
    negative = v < 0
    u = -v if negative else int(v)
    prec = 0
    if f.prec is not None:
        prec = f.prec
        if prec == 0 and u == 0:  # precision 0 and value 0 print nothing but padding
            return " " * f.wid if f.wid else ""
    elif f.zero and not f.minus and f.wid is not None:
        prec = f.wid
        if negative or f.plus or f.space:
            prec -= 1
    digits = {2: "b", 8: "o", 10: "d", 16: "X" if upper else "x"}[base]
    s = format(u, digits).rjust(prec, "0")
    if f.sharp:
        if base == 2:
            s = "0b" + s
        elif base == 8 and s[0] != "0":
            s = "0" + s
        elif base == 16:
            s = ("0X" if upper else "0x") + s
    if verb == "O":
        s = "0o" + s
    if negative:
        s = "-" + s
    elif f.plus:
        s = "+" + s
    elif f.space:
        s = " " + s
    return _pad(s, f, zero_ok=False)


def _fmt_float(v: float, verb: str, f: _Flags) -> str:
    if verb == "v":
        fmt_char, prec = "g", -1
    elif verb in "gGxX":
        fmt_char, prec = verb, -1
    elif verb in "feE":
        fmt_char, prec = verb, 6
    elif verb == "F":
        fmt_char, prec = "f", 6
    elif verb == "b":
        raise UnsupportedTemplateError("printf %b of a float is not simulated")
    else:
        return _bad_verb(verb, v, f)
    if verb == "v" and f.sharp_v:
        raise UnsupportedTemplateError("printf %#v is not simulated")
    if f.sharp:
        raise UnsupportedTemplateError("printf's # flag with a float verb is not simulated")
    if f.prec is not None:
        prec = f.prec
    num = _format_float(v, fmt_char, prec)
    if num[0] in "+-":
        sign, body = num[0], num[1:]
    else:
        sign, body = "+", num
    if f.space and sign == "+" and not f.plus:
        sign = " "
    if body[0] in "IN":  # infinities and NaN are never zero padded
        s = body if body[0] == "N" and not f.space and not f.plus else sign + body
        return _pad(s, f, zero_ok=False)
    if f.plus or sign != "+":
        s = sign + body
        if f.zero and not f.minus and f.wid is not None and f.wid > len(s):
            return sign + "0" * (f.wid - len(s)) + body
        return _pad(s, f)
    return _pad(body, f)


def _shortest_digits(a: float) -> tuple[str, int]:
    """The shortest decimal digits that round-trip a >= 0, and the decimal point position."""
    r = repr(a)
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    dp = len(ip) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "", 0
    return digits, dp


def _fmt_e(neg: bool, digits: str, dp: int, prec: int, ch: str) -> str:
    nd = len(digits)
    s = ["-" if neg else "", digits[0] if nd else "0"]
    if prec > 0:
        m = min(nd, prec + 1)
        s.append("." + digits[1:m] + "0" * (prec + 1 - max(m, 1)))
    exp = dp - 1 if nd else 0
    s.append(ch + ("-" if exp < 0 else "+") + ("%02d" % abs(exp)))
    return "".join(s)


def _fmt_f(neg: bool, digits: str, dp: int, prec: int) -> str:
    nd = len(digits)
    s = "-" if neg else ""
    if dp > 0:
        m = min(nd, dp)
        s += digits[:m] + "0" * (dp - m)
    else:
        s += "0"
    if prec > 0:
        s += "." + "".join(digits[dp + i] if 0 <= dp + i < nd else "0" for i in range(prec))
    return s


def _format_float(v: float, fmt_char: str, prec: int) -> str:
    """strconv.FormatFloat(v, fmt_char, prec, 64) for e, E, f, g, G, x, X."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg = math.copysign(1.0, v) < 0
    a = abs(v)
    if fmt_char in "xX":
        if prec >= 0:
            raise UnsupportedTemplateError("printf %x of a float with a precision is not simulated")
        return _format_hex_float(neg, a, fmt_char == "X")
    upper = fmt_char in "EG"
    if prec >= 0 and fmt_char in "eE":
        return ("-" if neg else "") + format(a, f".{prec}{fmt_char}")
    if prec >= 0 and fmt_char == "f":
        return ("-" if neg else "") + format(a, f".{prec}f")
    shortest = prec < 0
    if shortest:
        digits, dp = _shortest_digits(a)
        nd = len(digits)
        if fmt_char in "eE":
            return _fmt_e(neg, digits, dp, nd - 1, fmt_char)
        if fmt_char == "f":
            return _fmt_f(neg, digits, dp, max(nd - dp, 0))
        prec = nd
    else:  # %g with a precision: round to prec significant digits
        if prec == 0:
            prec = 1
        if a == 0:
            digits, dp = "", 0
        else:
            mant, _, exponent = format(a, f".{prec - 1}e").partition("e")
            digits = mant.replace(".", "").rstrip("0")
            dp = int(exponent) + 1
        nd = len(digits)
    eprec = prec
    if eprec > nd and nd >= dp:
        eprec = nd
    if shortest:  # %v and %g use %e when the exponent is < -4 or >= 6 (not 21)
        eprec = 6
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        return _fmt_e(neg, digits, dp, min(prec, nd) - 1, "E" if upper else "e")
    if prec > dp:
        prec = nd
    return _fmt_f(neg, digits, dp, max(prec - dp, 0))


def _format_hex_float(neg: bool, a: float, upper: bool) -> str:
    if a == 0:
        s = "0x0p+00"
    else:
        m, e = math.frexp(a)  # a = m * 2**e, 0.5 <= m < 1
        frac = int(m * (1 << 53)) - (1 << 52)
        exp = e - 1
        hexd = format(frac, "013x").rstrip("0")
        s = "0x1" + ("." + hexd if hexd else "") + "p" + ("-" if exp < 0 else "+") + "%02d" % abs(exp)
    s = ("-" if neg else "") + s
    return s.upper() if upper else s


def go_format(value: object) -> str:
    """How Go's fmt.Sprint prints one decoded-JSON value (%v): maps sorted, floats as %g."""
    return _print_arg(value, "v", _NO_FLAGS)


def _sprint(args: list, newline: bool = False) -> str:
    """fmt.Sprint (spaces only between two non-strings) or fmt.Sprintln (spaces, newline)."""
    out = []
    prev_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and (newline or (not is_string and not prev_string)):
            out.append(" ")
        out.append(_print_arg(arg, "v", _NO_FLAGS))
        prev_string = is_string
    if newline:
        out.append("\n")
    return "".join(out)


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


def _sprintf(fmt: str, args: list) -> str:
    """fmt.Sprintf, following doPrintf's parsing of flags, width, precision and [n] indexes."""
    out: list[str] = []
    end = len(fmt)
    f = _Flags()
    argnum = 0
    after_index = False
    reordered = False
    good_argnum = True

    def arg_number(argnum: int, i: int) -> tuple[int, int, bool]:
        nonlocal reordered, good_argnum
        if i >= end or fmt[i] != "[":
            return argnum, i, False
        reordered = True
        # parseArgNumber: "[n]" with n one-indexed.
        close = fmt.find("]", i + 1)
        if end - i < 3 or close < 0:
            good_argnum = False
            return argnum, i + 1, False
        width, ok, newi = _parsenum(fmt, i + 1, close)
        if not ok or newi != close:
            good_argnum = False
            return argnum, close + 1, False
        index = width - 1
        if 0 <= index < len(args):
            return index, close + 1, True
        good_argnum = False
        return argnum, close + 1, True

    def int_from_arg(argnum: int) -> tuple[int, bool, int]:
        if argnum >= len(args):
            return 0, False, argnum
        a = args[argnum]
        if isinstance(a, GoInt) and abs(a) <= 1_000_000:
            return int(a), True, argnum + 1
        return 0, False, argnum + 1

    i = 0
    while i < end:
        good_argnum = True
        j = fmt.find("%", i)
        if j < 0:
            j = end
        if j > i:
            out.append(fmt[i:j])
        i = j
        if i >= end:
            break
        i += 1
        f.clear()
        simple = False
        while i < end:
            c = fmt[i]
            if c == "#":
                f.sharp = True
            elif c == "0":
                f.zero = True
            elif c == "+":
                f.plus = True
            elif c == "-":
                f.minus = True
            elif c == " ":
                f.space = True
            else:
                # Fast path: a lower-case verb right after the flags.
                if "a" <= c <= "z" and argnum < len(args):
                    if c == "v":
                        f.sharp_v, f.sharp = f.sharp, False
                        f.plus_v, f.plus = f.plus, False
                    out.append(_print_arg(args[argnum], c, f))
                    argnum += 1
                    i += 1
                    simple = True
                break
            i += 1
        if simple:
            continue

        argnum, i, after_index = arg_number(argnum, i)
        if i < end and fmt[i] == "*":  # width from an argument
            i += 1
            f.wid, present, argnum = int_from_arg(argnum)
            if not present:
                f.wid = None
                out.append("%!(BADWIDTH)")
            elif f.wid < 0:
                f.wid = -f.wid
                f.minus = True
                f.zero = False
            after_index = False
        else:
            wid, present, i = _parsenum(fmt, i, end)
            f.wid = wid if present else None
            if after_index and present:  # "%[3]2d"
                good_argnum = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:  # "%[3].2d"
                good_argnum = False
            argnum, i, after_index = arg_number(argnum, i)
            if i < end and fmt[i] == "*":
                i += 1
                prec, present, argnum = int_from_arg(argnum)
                if prec < 0:
                    prec, present = 0, False
                f.prec = prec if present else None
                if not present:
                    out.append("%!(BADPREC)")
                after_index = False
            else:
                prec, present, i = _parsenum(fmt, i, end)
                f.prec = prec if present else 0
        if not after_index:
            argnum, i, after_index = arg_number(argnum, i)
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":  # does not use an operand
            out.append("%")
        elif not good_argnum:
            out.append(f"%!{verb}(BADINDEX)")
        elif argnum >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                f.sharp_v, f.sharp = f.sharp, False
                f.plus_v, f.plus = f.plus, False
            out.append(_print_arg(args[argnum], verb, f))
            argnum += 1

    if not reordered and argnum < len(args):
        extra = []
        for a in args[argnum:]:
            extra.append("<nil>" if a is None else f"{_type_name(a)}={_print_arg(a, 'v', _NO_FLAGS)}")
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Escapers (text/template's html, js; net/url's QueryEscape)
# --------------------------------------------------------------------------------------------

_URL_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_URL_TABLE = tuple(chr(b) if b in _URL_UNRESERVED else "+" if b == 0x20 else "%%%02X" % b for b in range(256))


def _query_escape(s: str) -> str:
    """url.QueryEscape: keep A-Za-z0-9-_.~, space to +, every other UTF-8 byte as %XX."""
    return "".join([_URL_TABLE[b] for b in _utf8(s)])


_JS_SPECIAL = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}
# And any character beyond ASCII, tested apart: a class up to U+10FFFF takes milliseconds to compile.
_JS_NEEDS_WORK = re.compile("[\\\\'\"<>&=\x00-\x1f]")


def _js_escape(s: str) -> str:
    """template.JSEscapeString."""
    if s.isascii() and not _JS_NEEDS_WORK.search(s):
        return s
    out = []
    for c in s:
        o = ord(c)
        if c in _JS_SPECIAL:
            out.append(_JS_SPECIAL[c])
        elif o < 0x20:
            out.append("\\u00%02X" % o)
        elif o < 0x80 or _is_print(c):
            out.append(c)
        else:
            out.append("\\u%04X" % o)
    return "".join(out)


_HTML_TABLE = str.maketrans({"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _html_escape(s: str) -> str:
    """template.HTMLEscapeString."""
    return s.translate(_HTML_TABLE)


# --------------------------------------------------------------------------------------------
# Public interface
# --------------------------------------------------------------------------------------------


def _keptn_data(data: Any) -> Any:
    """Keptn adds "env" as a map[string]string: mark a top-level env dict of strings so."""
    if type(data) is dict:
        env = data.get("env")
        if type(env) is dict and all(isinstance(v, str) for v in env.values()):
            data = dict(data)
            data["env"] = StringMap(env)
    return data


class Template:
    """A parsed template; immutable, so one parse serves any number of executions.

    A template `shared` with another (see `_parse_shared`) has that one's nodes, its own texts: its output is
    its own, but the places its errors name are the other's.
    """

    __slots__ = ("name", "text", "root", "_memo_keys", "shared")

    def __init__(self, name: str, text: str, root: _ListNode, shared: bool = False) -> None:
        self.name = name
        self.text = text
        self.root = root
        self._memo_keys: list[str | None] | None = None
        self.shared = shared

    def execute(self, data: object, memo: Memo | None = None, data_key: object = None) -> str:
        """Render with data as Go would; raises TemplateError with Go's message on failure.

        `data_key` names the data for the memo (equal keys: equal data) in place of its repr.
        """
        state = _State(self, _keptn_data(data))
        if memo is None:
            state.walk(state.vars[0][1], False, self.root)
        else:
            if self._memo_keys is None:
                self._memo_keys = [_memo_key(node) for node in self.root.nodes]
            memo.run(state, self.root.nodes, self._memo_keys, data_key)
        return "".join(state.out)

    def __repr__(self) -> str:
        return f"Template(name={self.name!r}, text={self.text!r})"


def _memo_key(node: _Node) -> str | None:
    """What decides a top-level node's output besides the data and the variables: its text (Go's String(),
    which gives the tree back). None for text, and for nodes that declare or assign a variable that outlives
    them: an action's declarations, even in parentheses, stay for the nodes after it (a control structure
    drops its own), and an assignment changes a variable declared before. The tests also match inside a
    string constant: that node is then just not kept."""
    if isinstance(node, _TextNode):
        return None
    key = str(node)
    if " = " in key or (isinstance(node, _ActionNode) and ":=" in key):
        return None
    return key


class Memo:
    """The outputs of top-level actions, by action, data and variables, shared by the executions of many
    templates.

    A proof runs many request templates that differ in their text but share their actions, over the same
    sample events, and an action's output depends on nothing but the action, the data and the variables
    in scope. Only outputs are kept, never errors (their text names the template and position). Data and
    variables are told apart by `repr`, which differs for every value a JSON event and the template
    functions make (StringMap and GoInt print their types); data also by a key its caller gives instead
    (the repr of a large event costs more than most of its actions).
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._data: dict[str, int] = {}
        self._outputs: dict[tuple[int, tuple], dict[str, str]] = {}  # (data, variables) -> action -> output
        self._size = 0

    def __len__(self) -> int:
        """Outputs kept."""
        return self._size

    def run(self, state: _State, nodes: list[_Node], keys: list[str | None], data_key: object = None) -> None:
        if self._size >= self.limit:
            self._data.clear()
            self._outputs.clear()
            self._size = 0
        data = state.vars[0][1]
        data_id = self._data.setdefault(repr(data) if data_key is None else data_key, len(self._data))
        outputs = self._outputs.setdefault((data_id, ()), {})
        out = state.out
        for node, key in zip(nodes, keys):
            if key is None:
                if type(node) is _TextNode:
                    out.append(node.text)
                    continue
                state.walk(data, False, node)
                variables = tuple((name, repr(value), boxed) for name, value, boxed in state.vars[1:])
                outputs = self._outputs.setdefault((data_id, variables), {})
                continue
            found = outputs.get(key)
            if found is None:
                mark = len(out)
                state.walk(data, False, node)
                found = outputs[key] = "".join(out[mark:])
                self._size += 1
                del out[mark:]
            out.append(found)


def parse(text: str, name: str = "") -> Template:
    """Parse like template.New(name).Option("missingkey=error").Parse(text); pure, so cacheable."""
    return Template(name, text, _Parser(text, name).parse())


_parse_cached = functools.lru_cache(maxsize=4096)(parse)


def render(text: str, data: object, name: str = "", memo: Memo | None = None, data_key: object = None) -> str:
    """Parse (cached) and execute: what Keptn's ParseTemplate returns, or its error."""
    template = _parse_text(text, name)
    try:
        return template.execute(data, memo, data_key)
    except TemplateError:
        if not template.shared:
            raise
    return _parse_cached(text, name).execute(data, memo, data_key)  # raises again, naming its own places


# Templates that differ only in their text outside actions (requests that differ in a literal, say) parse into
# one tree but for their text nodes: a tree is parsed once per sequence of actions, and each template of the
# sequence gets a copy with its own texts (`_parse_shared`). By the sequence: the parsed template, and its
# text nodes in the order of the text.
_SHARED: dict[tuple, tuple[Template, list[_TextNode]]] = {}
_SHARED_LIMIT = 4096


def _parse_shared(text: str, name: str) -> Template:
    """`parse`, or a template shared with one parsed before (see Template): the lexer reads text up to each
    `{{` and nothing else in it, so with the same actions in the same order (their text taken to the first
    `}}`), and texts that are empty after trimming in the same places, the parse gives the same nodes but
    for the texts. That the actions end where taken is checked when the tree is first parsed: its text nodes
    must be the texts between them, trimmed as the lexer trims them."""
    cut = _actions_and_texts(text)
    if cut is None:
        return _parse_cached(text, name)
    actions, texts = cut
    key = (name, actions, tuple(bool(t) for t in texts))
    entry = _SHARED.get(key)
    if entry is None:
        template = _parse_cached(text, name)
        nodes = sorted(_text_nodes(template.root), key=lambda node: node.pos)
        if [node.text for node in nodes] == [t for t in texts if t] and len(_SHARED) < _SHARED_LIMIT:
            _SHARED[key] = (template, nodes)
        return template
    template, nodes = entry
    if template.text == text:
        return template
    own = dict(zip(map(id, nodes), (t for t in texts if t)))
    return Template(name, text, _with_texts(template.root, own), shared=True)


_parse_text = functools.lru_cache(maxsize=4096)(_parse_shared)  # a text is cut at its actions once


def _actions_and_texts(text: str) -> tuple[tuple[str, ...], list[str]] | None:
    """The actions of `text`, each from `{{` to the first `}}`, and the texts around them as the lexer
    trims them (`{{- ` and ` -}}`); None for a text without actions or with an action left open."""
    actions: list[str] = []
    texts: list[str] = []
    start = 0
    while (opening := text.find("{{", start)) >= 0:
        closing = text.find("}}", opening + 2)
        if closing < 0:
            return None
        texts.append(text[start:opening])
        actions.append(text[opening:closing + 2])
        start = closing + 2
    if not actions:
        return None
    texts.append(text[start:])
    for number, action in enumerate(actions):
        if _has_left_trim(action, 2):
            texts[number] = texts[number].rstrip(_SPACE_CHARS)
        if len(action) >= 4 and _has_right_trim(action, len(action) - 4):
            texts[number + 1] = texts[number + 1].lstrip(_SPACE_CHARS)
    return tuple(actions), texts


def _text_nodes(node: _Node) -> list[_TextNode]:
    if type(node) is _TextNode:
        return [node]
    if type(node) is _ListNode:
        return [found for child in node.nodes for found in _text_nodes(child)]
    if isinstance(node, _BranchNode):
        return _text_nodes(node.list) + (_text_nodes(node.else_list) if node.else_list is not None else [])
    return []


def _with_texts(node: _Node, own: dict[int, str]) -> _Node:
    """The tree with the texts of `own` (by the id of each text node) in its text nodes; the rest is shared."""
    if type(node) is _TextNode:
        return _TextNode(node.pos, own[id(node)])
    if type(node) is _ListNode:
        copy = _ListNode(node.pos)
        copy.nodes = [_with_texts(child, own) for child in node.nodes]
        return copy
    if isinstance(node, _BranchNode):
        else_list = node.else_list
        return type(node)(node.pos, node.line, node.pipe, _with_texts(node.list, own),
                          None if else_list is None else _with_texts(else_list, own))
    return node
