"""Load profiles: read YAML with positions, follow `extends`, layer over the built-in defaults, validate.

Every problem found on the way is collected with its file, line, column and path, so one run reports all
of them. The result is plain data plus a map from each value's path to where it came from.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from . import schemacheck, yamlsource
from .problems import Problem, UserError, closest
from .yamlsource import PathKey, Source, format_path

BUILTIN = "built-in defaults"
Origin = tuple[str, int, int]  # file, line, column


@dataclass
class Profile:
    """A profile with its layers merged in: data, and the origin of every value by path."""

    file: str
    data: dict
    origins: dict[PathKey, Origin] = field(default_factory=dict)
    inputs: tuple[Path, ...] = ()  # every file read for it: the profile and the files it extends
    digests: tuple[str, ...] = ()  # the SHA-256 of each of `inputs` as it was read
    may_hold_key: bool = True  # False: no text of its files is shaped like an integration key (see keyshape)

    def origin(self, path: PathKey) -> Origin:
        path = tuple(path)
        while path:
            if path in self.origins:
                return self.origins[path]
            path = path[:-1]
        return (self.file, 1, 1)

    def problem(self, path: PathKey, message: str, hint: str = "", details: tuple[str, ...] = ()) -> Problem:
        file, line, column = self.origin(path)
        return Problem(file, line, column, format_path(tuple(path)), message, hint, details=details)


@lru_cache(maxsize=1)
def profile_schema() -> dict:
    return json.loads(resources.files("keptn_pagerduty").joinpath("data/profile.schema.json").read_text("utf-8"))


def _schema(partial: bool) -> dict:
    """A file that others extend may leave out what the merged profile must have."""
    schema = dict(profile_schema())
    if partial:
        schema.pop("required", None)
    return schema


@lru_cache(maxsize=2)
def _check(partial: bool) -> schemacheck.Check:
    return schemacheck.compile_schema(_schema(partial))


@lru_cache(maxsize=2)
def _validator(partial: bool):  # -> jsonschema.protocols.Validator
    import jsonschema  # noqa: PLC0415  (only to explain a failure: see schemacheck)

    schema = _schema(partial)
    return jsonschema.validators.validator_for(schema)(schema)


@lru_cache(maxsize=1)
def builtin_defaults() -> Source:
    text = resources.files("keptn_pagerduty").joinpath("data/defaults.yaml").read_bytes()
    return yamlsource.loads(text, BUILTIN)


def discover(folder: Path) -> list[Path]:
    """Profiles are the *.yaml/*.yml files of a folder; names starting with `_` are shared files to extend."""
    return [folder / name for name in _profile_names(folder)]


def discover_resolved(folder: Path) -> list[Path]:
    """`discover` in the resolved folder. A profile that is a link stays the link: what it extends is found
    beside it, where it stands in the profiles folder."""
    base = folder.resolve()
    return [base / name for name in _profile_names(folder)]


def _profile_names(folder: Path) -> list[str]:
    """The profiles' names, sorted; names, not a Path for every entry, as a fleet's folder holds thousands."""
    return sorted(name for name in os.listdir(folder)
                  if not name.startswith("_") and _suffix(name) in (".yaml", ".yml"))


def _suffix(name: str) -> str:
    """`PurePath(name).suffix`: from the last dot, unless the name starts or ends with it."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


# A top-level `project:` or `extends:` line with a plain or quoted value, read without parsing YAML.
_TOP_LEVEL = re.compile(r"""^(project|extends):[ \t]*(["']?)([^"'#\n]+?)\2[ \t]*(?:#.*)?$""", re.MULTILINE)


def peek_project(path: Path) -> str | None:
    """The project a profile names, read quickly and only to group profiles; None when not plain to see.

    Loading has the last word: a grouping that proves wrong is detected and undone (`generator._parallel`).
    """
    seen: set[Path] = set()
    while path not in seen and len(seen) < 10:
        seen.add(path)
        try:
            text = yamlsource.read_bounded(path).decode("utf-8").removeprefix("\ufeff")
        except (OSError, ValueError):  # unreadable, not a regular file, not UTF-8: loading reports it
            return None
        projects, extends = _top_level(text, "project"), _top_level(text, "extends")
        if len(projects) == 1:
            return projects[0]
        if projects or len(extends) != 1:
            return None
        path = _resolve(path.parent / extends[0])
    return None


def _top_level(text: str, key: str) -> list[str]:
    """The values of `key` on top-level lines, as `_TOP_LEVEL` reads them; the regex is tried only where a line
    starts with the key (C-speed `str.find`), not at every line of every profile of a fleet."""
    values = []
    start = text.find(key + ":")
    while start >= 0:
        if (start == 0 or text[start - 1] == "\n") and (match := _TOP_LEVEL.match(text, start)):
            values.append(match.group(3))
        start = text.find(key + ":", start + 1)
    return values


def printable(name: str) -> str:
    """A file name as text that every generated file can hold: bytes that are not UTF-8 and characters that
    do not print (a line break in a comment would end it) are written as escapes."""
    if name.isprintable():
        return name
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _resolve(path: Path) -> Path:
    """`path.resolve()`, or the path as it is when links loop (reading it then fails with a located error)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, up to Python 3.12
        return Path(os.path.abspath(path))


def group_by_project(paths: list[Path]) -> dict[str, list[Path]]:
    """Profiles by the project they name (see `peek_project`); a profile not plain to read stands alone."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(paths):
        project = peek_project(path)
        groups.setdefault(project if project is not None else f"\0{path}", []).append(path)
    return groups


@dataclass
class LoadCache:
    """What loading a fleet group by group keeps between calls of `load_profiles`, so that the files all
    profiles extend are read, resolved and merged once."""

    sources: dict[Path, Source] = field(default_factory=dict)  # extended files that loaded cleanly
    real: dict[Path, Path] = field(default_factory=dict)  # path -> path.resolve()
    merged: dict[tuple[int, ...], tuple[dict, dict]] = field(default_factory=dict)  # layers under a profile
    _kept: set[int] = field(default_factory=set)

    def keep(self, path: Path, source: Source) -> None:
        self.sources[path] = source
        self._kept.add(id(source))

    def stable(self, source: Source) -> bool:
        """Kept here (so alive, so its id stays its own) for as long as this cache is."""
        return id(source) in self._kept


def load_profiles(folder: Path, display_root: Path | None = None, only: list[Path] | None = None,
                  shared: LoadCache | None = None) -> list[Profile]:
    """Load every profile of `folder` (or `only` these of them); raise one `UserError` holding every problem found.

    `shared` keeps what loaded cleanly across calls (see `LoadCache`).
    """
    if not folder.is_dir():
        raise UserError([Problem(str(folder), message="profiles folder not found",
                                 hint="pass the folder that holds your profiles, e.g. --profiles profiles")])
    loader = _Loader(display_root or folder.parent, shared)
    profiles = []
    found = discover(folder) if only is None else only
    for path in found:
        profile = loader.profile(path)
        if profile is not None:
            profiles.append(profile)
    if only is None and not found and not loader.problems:
        loader.problems.append(Problem(str(folder), message="no profiles (*.yaml) in this folder",
                                       hint="add a profile; see profiles/ in the project for examples"))
    if loader.problems:
        raise UserError(loader.problems)
    return profiles


class _Loader:
    def __init__(self, display_root: Path, cache: LoadCache | None = None):
        self.display_root = display_root
        self.problems: list[Problem] = []
        self.sources: dict[Path, Source | None] = {}
        self.cache = LoadCache() if cache is None else cache

    def real(self, path: Path) -> Path:
        """`path.resolve()`, once per path: it costs a system call per part of the path."""
        found = self.cache.real.get(path)
        if found is None:
            parent = path.parent
            # A plain name in a resolved folder resolves to itself unless it is a link: one system call
            # instead of one per part of the path (the profiles of a fleet share their folder).
            if (parent != path and path.name not in ("", ".", "..") and self.real(parent) == parent
                    and not path.is_symlink()):
                found = path
            else:
                found = _resolve(path)
            self.cache.real[path] = found
        return found

    def display(self, path: Path) -> str:
        """The file as the user knows it: a link by its own name, relative to the folder above the profiles."""
        root = self.real(self.display_root)
        for candidate in (Path(os.path.abspath(path)), self.real(path)):
            try:
                return printable(candidate.relative_to(root).as_posix())
            except ValueError:
                continue
        return printable(path.as_posix())

    def source(self, path: Path, extended: bool = False) -> Source | None:
        key = self.real(path)
        if key in self.cache.sources:
            self.sources[key] = self.cache.sources[key]
        if key not in self.sources:
            before = len(self.problems)
            try:
                source = yamlsource.load(path, self.display(path))
            except UserError as exc:
                self.problems.extend(exc.problems)
                source = None
            else:
                if not isinstance(source.data, dict):
                    self.problems.append(source.problem((), "a profile must be a mapping of keys to values",
                                                        "start with `project: <name>`"))
                    source = None
                else:
                    self.problems.extend(validate(source, partial=True))
            self.sources[key] = source
            if source is not None and extended and len(self.problems) == before:
                self.cache.keep(key, source)
        return self.sources[key]

    def layers(self, path: Path, chain: tuple[Path, ...], extended: bool = False) -> list[Source] | None:
        """The files a profile is built from, most general first, following `extends`."""
        source = self.source(path, extended)
        if source is None:
            return None
        parent = source.data.get("extends")
        if not isinstance(parent, str):
            return [source]
        target = (path.parent / parent)
        if self.real(target) in chain:
            cycle = " -> ".join(self.display(p) for p in chain + (self.real(target),))
            self.problems.append(source.problem(("extends",), f"`extends` makes a cycle: {cycle}",
                                                "let the shared file stand alone; remove one `extends`"))
            return None
        if not target.is_file():
            self.problems.append(source.problem(("extends",), f"`extends` names a file that does not exist: {parent}",
                                                "give the path relative to this profile, e.g. _defaults.yaml"))
            return None
        below = self.layers(target, chain + (self.real(target),), extended=True)
        return None if below is None else below + [source]

    def profile(self, path: Path) -> Profile | None:
        layers = self.layers(path, (self.real(path),))
        if layers is None:
            return None
        data, origins = self._below([builtin_defaults()] + layers[:-1])
        data = merge(data, layers[-1].data, origins, layers[-1])
        data.pop("extends", None)
        # The profile as it stands in the folder, then each file it extends, found as `layers` finds them: by
        # the path as written, so that a link to a shared file that is pointed elsewhere counts as changed.
        inputs, current = [Path(os.path.abspath(path))], path
        while isinstance((parent := self.sources[self.real(current)].data.get("extends")), str):
            current = current.parent / parent
            inputs.append(Path(os.path.abspath(current)))
        digests = tuple(self.sources[self.real(path)].digest for path in inputs)
        profile = Profile(layers[-1].file, data, origins, tuple(inputs), digests,
                          any(layer.may_hold_key for layer in [builtin_defaults(), *layers]))
        problems = validate_merged(profile)
        self.problems.extend(problems)
        return None if problems else profile


    def _below(self, sources: list[Source]) -> tuple[dict, dict[PathKey, Origin]]:
        """The layers under a profile, merged once for all the profiles that extend the same files (they
        share the merged values, which nothing changes in place)."""
        key = tuple(id(source) for source in sources)
        stable = all(self.cache.stable(source) for source in sources[1:])  # [0]: the built-in defaults
        if stable and key in self.cache.merged:
            data, origins = self.cache.merged[key]
            return data, dict(origins)
        data, origins = {}, {}
        for source in sources:
            data = merge(data, source.data, origins, source)
        if stable:
            self.cache.merged[key] = (data, dict(origins))
        return data, origins


def merge(base: object, overlay: object, origins: dict[PathKey, Origin], source: Source,
          path: PathKey = ()) -> object:
    """Maps merge key by key and the overlay wins; null removes a key; anything else is replaced."""
    line, column = source.position(path)
    origins[path] = (source.file, line, column)
    if isinstance(base, dict) and isinstance(overlay, dict):
        result = dict(base)
        for key, value in overlay.items():
            if value is None and key in result and path and path[0] != "routes":
                del result[key]
                continue
            result[key] = merge(result.get(key), value, origins, source, path + (key,))
        return result
    if isinstance(overlay, dict):
        return {k: merge(None, v, origins, source, path + (k,)) for k, v in overlay.items()}
    if isinstance(overlay, list):
        return [merge(None, v, origins, source, path + (i,)) for i, v in enumerate(overlay)]
    return overlay


def validate(source: Source, partial: bool) -> list[Problem]:
    if _check(partial)(source.data):
        return []
    return [_schema_problem(error, source.problem) for error in _validator(partial).iter_errors(source.data)]


def validate_merged(profile: Profile) -> list[Problem]:
    problems = []
    if "project" not in profile.data:
        problems.append(profile.problem((), "missing required key `project`",
                                        "add `project: <Keptn project name>` at the top of the profile"))
    secret = profile.data.get("pagerduty", {}).get("routing_key_secret")
    if not secret:
        # Nothing to point at but the profile itself (the built-in defaults have no secret on purpose).
        problems.append(Problem(
            profile.file, 1, 1, "pagerduty.routing_key_secret", "missing: which Keptn secret holds the integration key",
            "add  pagerduty: {routing_key_secret: {name: pagerduty, key: routing-key}}  here or in the file it extends",
        ))
    return problems


def _schema_problem(error, locate) -> Problem:  # error: jsonschema.ValidationError
    path = tuple(error.absolute_path)
    validator = error.validator
    hint = ""
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = extra[0] if extra else "?"
        close = closest(str(key), allowed)
        message = f"unknown key `{key}`"
        hint = f"did you mean `{close}`?" if close else f"allowed keys: {', '.join(allowed)}"
        return locate(path + (key,), message, hint)
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return locate(path, f"missing required key `{missing}`", f"add `{missing}:` here")
    if validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        close = closest(str(error.instance), [str(v) for v in error.validator_value])
        hint = f"did you mean `{close}`?" if close else f"use one of: {allowed}"
        return locate(path, f"{error.instance!r} is not one of: {allowed}", hint)
    if validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        return locate(path, f"expected {_type_name(expected)}, got {_type_name(type(error.instance).__name__)}",
                      "check the value's type against the profile reference")
    if validator == "pattern" and shown_pattern(error.validator_value) == "^[a-z][a-z0-9-]*$":
        return locate(path, f"{error.instance!r} is not a valid Keptn name",
                      "use lower-case letters, digits and `-`, starting with a letter")
    if validator == "pattern":
        pattern = shown_pattern(error.validator_value)
        return locate(path, f"{error.instance!r} is not allowed here",
                      f"{error.schema.get('description', '')} It must match {pattern}".strip())
    if validator == "maxLength":
        return locate(path, f"too long ({len(error.instance)} characters, at most {error.validator_value})", "shorten it")
    if validator in ("minLength", "minItems", "minProperties"):
        return locate(path, "must not be empty", "give a value, or remove the key")
    if validator == "uniqueItems":
        return locate(path, "lists a value twice", "remove the duplicate")
    description = error.schema.get("description", "")
    return locate(path, error.message, description)


def shown_pattern(pattern: str) -> str:
    """A schema pattern as readers know it: the schema ends patterns with `$(?!\\n)`, the end of the text for
    Python too, whose `$` also matches before a last line break (`name: |` gives "name\\n")."""
    return pattern.removesuffix("(?!\\n)")


def _type_name(name: str) -> str:
    return {"str": "text", "string": "text", "dict": "a mapping", "object": "a mapping", "list": "a list",
            "array": "a list", "int": "a number", "integer": "a whole number", "float": "a number",
            "bool": "true or false", "boolean": "true or false", "NoneType": "nothing (null)",
            "null": "null"}.get(name, name)
