"""A fast yes/no check against our JSON Schemas; jsonschema stays the one that explains a failure.

A generate checks every sample body of every distinct request against PagerDuty's schema and every profile
against the profile schema: thousands of checks. jsonschema walks the schema afresh for each (about 0.3 ms
a PagerDuty body); `compile_schema` turns a schema into nested closures once (a few hundredths of that).
It knows exactly the keywords our schemas use, with the meaning Draft 2020-12 gives them, and refuses any
other when it compiles, so a rule added to a schema can never be skipped in silence. Tests hold its verdict
to jsonschema's on real, generated and hostile data. When it says no, the caller asks jsonschema why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urldefrag, urljoin

Check = Callable[[object], bool]

# Keywords that do not constrain the data.
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"})


def compile_schema(schema: dict | bool, others: tuple[dict, ...] = ()) -> Check:
    """A check for `schema`; `others` are schemas its `$ref`s may name by `$id`."""
    documents = {s["$id"]: s for s in (schema, *others) if isinstance(s, dict) and "$id" in s}
    base = schema.get("$id", "") if isinstance(schema, dict) else ""
    return _Compiler(documents).compile(schema, base)


class _Compiler:
    def __init__(self, documents: dict[str, dict]):
        self.documents = documents
        self.refs: dict[str, list[Check]] = {}  # compiled $ref targets, by absolute URI

    def compile(self, schema: dict | bool, base: str) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise ValueError(f"not a schema: {schema!r}")
        base = urljoin(base, schema["$id"]) if "$id" in schema else base
        checks = [self._keyword(key, value, schema, base) for key, value in schema.items()
                  if key not in ANNOTATIONS and key not in ("then", "else")]
        return _every([c for c in checks if c is not None])

    def _keyword(self, key: str, value, schema: dict, base: str) -> Check | None:
        if key == "type":
            names = (value,) if isinstance(value, str) else tuple(value)
            tests = tuple(_TYPES[n] for n in names)
            return tests[0] if len(tests) == 1 else lambda x: any(test(x) for test in tests)
        if key == "enum":
            if all(isinstance(option, str) for option in value):  # JSON equality is plain equality here
                options = frozenset(value)
                return lambda x: isinstance(x, str) and x in options
            return lambda x: any(_equal(x, option) for option in value)
        if key == "const":
            return lambda x: _equal(x, value)
        if key == "pattern":
            search = re.compile(value).search
            return lambda x: not isinstance(x, str) or search(x) is not None
        if key == "minLength":
            return lambda x: not isinstance(x, str) or len(x) >= value
        if key == "maxLength":
            return lambda x: not isinstance(x, str) or len(x) <= value
        if key == "minimum":
            return lambda x: not _TYPES["number"](x) or x >= value
        if key == "maximum":
            return lambda x: not _TYPES["number"](x) or x <= value
        if key == "required":
            return lambda x: not isinstance(x, dict) or all(name in x for name in value)
        if key == "minProperties":
            return lambda x: not isinstance(x, dict) or len(x) >= value
        if key == "properties":
            props = tuple((name, self.compile(sub, base)) for name, sub in value.items())

            def properties(x: object) -> bool:
                if isinstance(x, dict):
                    for name, check in props:
                        if name in x and not check(x[name]):
                            return False
                return True
            return properties
        if key == "additionalProperties":
            known = frozenset(schema.get("properties", {}))
            if "patternProperties" in schema:
                raise ValueError("additionalProperties beside patternProperties is not supported")
            extra = self.compile(value, base)
            return lambda x: not isinstance(x, dict) or all(extra(v) for k, v in x.items() if k not in known)
        if key == "propertyNames":
            names = self.compile(value, base)
            return lambda x: not isinstance(x, dict) or all(names(k) for k in x)
        if key == "items":
            item = self.compile(value, base)
            return lambda x: not isinstance(x, list) or all(item(v) for v in x)
        if key == "minItems":
            return lambda x: not isinstance(x, list) or len(x) >= value
        if key == "uniqueItems":
            return (lambda x: not isinstance(x, list) or _unique(x)) if value else None
        if key == "allOf":
            return _every([self.compile(sub, base) for sub in value])
        if key == "not":
            inner = self.compile(value, base)
            return lambda x: not inner(x)
        if key == "if":
            test = self.compile(value, base)
            then = self.compile(schema.get("then", True), base)
            otherwise = self.compile(schema.get("else", True), base)
            return lambda x: then(x) if test(x) else otherwise(x)
        if key == "$ref":
            return self._ref(urljoin(base, value))
        raise ValueError(f"schemacheck does not support the keyword {key!r}; add it here and to its tests")

    def _ref(self, uri: str) -> Check:
        """Compiled once per target; the cell lets a schema refer to itself."""
        if uri not in self.refs:
            cell: list[Check] = []
            self.refs[uri] = cell
            document_uri, pointer = urldefrag(uri)
            target: object = self.documents[document_uri]
            for part in filter(None, pointer.split("/")):
                target = target[part.replace("~1", "/").replace("~0", "~")]  # type: ignore[index]
            cell.append(self.compile(target, document_uri))  # type: ignore[arg-type]
        cell = self.refs[uri]
        return lambda x: cell[0](x)


def _every(checks: list[Check]) -> Check:
    """All of `checks`, in order, stopping at the first that fails (a loop: cheaper than all() over a
    generator, and this runs for every value of every checked document)."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def every(x: object) -> bool:
        for check in frozen:
            if not check(x):
                return False
        return True
    return every


def _always(x: object) -> bool:
    return True


def _never(x: object) -> bool:
    return False


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": lambda x: _is_number(x) and (isinstance(x, int) or x.is_integer()),  # type: ignore[union-attr]
}


def _equal(one: object, two: object) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, containers compare element by element."""
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, (list, dict)) or isinstance(two, (list, dict)):
        return False
    return one == two


def _unique(items: list) -> bool:
    return not any(_equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))
