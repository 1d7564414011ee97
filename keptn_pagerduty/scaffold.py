"""`init`: a new, commented profile from a few answers, proven before it is written.

The answers are checked against the same JSON Schema that checks profiles, so a bad project name is
refused while the user is still answering. The profile text is then run through the whole generator
(load, render, simulate, PagerDuty rules), alone and together with the profiles already in the folder,
and only then written, to a file that must not exist yet.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from .problems import Problem, UserError
from .profiles import profile_schema


@dataclass(frozen=True)
class Question:
    name: str  # the answer's attribute and, with dashes, the flag
    prompt: str
    default: str | None  # None: required, no default
    schema: tuple[str, ...]  # where the answer's rule is in profile.schema.json

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


QUESTIONS = (
    Question("project", "Keptn project", None, ("properties", "project")),
    Question("secret_name", "Keptn secret that holds the PagerDuty integration key", "pagerduty",
             ("properties", "pagerduty", "properties", "routing_key_secret", "properties", "name")),
    Question("secret_key", "Key inside that secret", "routing-key",
             ("properties", "pagerduty", "properties", "routing_key_secret", "properties", "key")),
    Question("region", "PagerDuty service region (us or eu)", "us",
             ("properties", "pagerduty", "properties", "region")),
    Question("stages", "Stages to watch, comma-separated (empty: every stage)", "",
             ("$defs", "route", "properties", "stages")),
    Question("bridge_url", "Keptn Bridge URL, for links on alerts (empty: none)", "",
             ("properties", "keptn", "properties", "bridge_url")),
)
QUESTION = {q.name: q for q in QUESTIONS}


@dataclass(frozen=True)
class Answers:
    project: str
    secret_name: str = "pagerduty"
    secret_key: str = "routing-key"
    region: str = "us"
    stages: tuple[str, ...] = ()
    bridge_url: str = ""


@dataclass
class Scaffold:
    """A proven profile, ready to write; `notes` are things the user should know (never errors)."""

    path: Path
    text: str
    notes: list[str] = field(default_factory=list)


def _rule(question: Question) -> dict:
    schema = profile_schema()
    node: dict = schema
    for key in question.schema:
        node = node[key]
    node = dict(node)
    node["$defs"] = schema["$defs"]  # keep local $refs working
    return node


def parse(name: str, text: str) -> object:
    """An answer as the profile holds it: stages become a list, the rest stays text."""
    text = text.strip()
    if name == "stages":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def check(name: str, text: str) -> str | None:
    """Why an answer is not allowed (in words), or None. Empty optional answers are allowed."""
    value = parse(name, text)
    if name in ("stages", "bridge_url") and not value:
        return None
    if name == "project" and not value:
        return "a project name is required"
    rule = _rule(QUESTION[name])
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(rule).iter_errors(value))
    if error is None:
        return None
    if error.validator == "pattern":
        return f"{error.instance!r} is not allowed here: {_pattern_words(name)}"
    if error.validator == "uniqueItems":
        return "a stage is listed twice"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    return error.message


def _pattern_words(name: str) -> str:
    if name in ("project", "stages"):
        return "Keptn names are lower-case letters, digits and '-', starting with a letter"
    if name == "secret_name":
        return "a Kubernetes name: lower-case letters, digits and '-', starting and ending with a letter or digit"
    if name == "secret_key":
        return "letters, digits, '-', '_' and '.'"
    if name == "bridge_url":
        return "an http(s) URL without spaces, braces or a trailing '/'"
    return "see docs/profile-reference.md"


def _quote(value: str) -> str:
    """Plain when YAML reads it back as the same text, JSON-quoted otherwise ("true", "1.0", "a: b")."""
    try:
        plain = yaml.safe_load(value) == value and "#" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def render(answers: Answers) -> str:
    """The profile text, with comments that explain each choice and what to do next."""
    secret = (f'keptn create secret {answers.secret_name} --scope=keptn-webhook-service '
              f'--from-literal="{answers.secret_key}=<integration key>"')
    lines = [
        f"# PagerDuty notifications for the Keptn project `{answers.project}` (made by `keptn-pagerduty init`).",
        "#",
        "# `keptn-pagerduty validate` checks this profile, `keptn-pagerduty generate` writes the webhook.yaml",
        "# files and scripts. Every key is described in docs/profile-reference.md; `keptn-pagerduty events",
        "# evaluation.finished` lists the fields a summary can use, e.g. {service} or {evaluation.score|n/a}.",
        "---",
        f"project: {_quote(answers.project)}",
        "",
        "pagerduty:",
        "  # us: events.pagerduty.com; eu: events.eu.pagerduty.com (where your PagerDuty account lives).",
        f"  region: {answers.region}",
        "  # The Keptn secret that holds the Events API v2 integration key; the key itself never goes in a",
        "  # profile. Create the secret once per Keptn installation:",
        f"  #   {secret}",
        "  routing_key_secret:",
        f"    name: {_quote(answers.secret_name)}",
        f"    key: {_quote(answers.secret_key)}",
        "",
        "keptn:",
        "  # Alerts link to the Keptn sequence in the Bridge.",
    ]
    if answers.bridge_url:
        lines.append(f"  bridge_url: {_quote(answers.bridge_url)}")
    else:
        lines.append("  # bridge_url: https://keptn.example.com/bridge")
    lines += [
        "  # The Git branch of the Keptn project that holds project-level files.",
        "  default_branch: main",
        "",
        "routes:",
    ]
    indent = "    "
    if answers.stages:
        stages = ", ".join(answers.stages)
        lines += [
            f"  # One webhook.yaml per stage ({stages}), on that stage's branch.",
            f"  - stages: [{stages}]",
            f"{indent}events:",
        ]
    else:
        lines += [
            "  # No `stages`: one webhook.yaml at project level (default branch) for every stage and service.",
            "  # Add `stages: [staging, production]` (and `services: [...]`) to narrow it.",
            "  - events:",
        ]
    lines += [
        f"{indent}  # A failed quality gate triggers a critical alert, a warning a warning alert; the next passing",
        f"{indent}  # evaluation of the same service resolves it (same dedup key: project/stage/service/task).",
        f"{indent}  evaluation.finished:",
        f"{indent}    results:",
        f"{indent}      fail: critical",
        f"{indent}      warning: warning",
        f"{indent}      pass: resolve",
        f"{indent}    summary: \"Quality gate {{result}} for {{service}} in {{stage}}: "
        "score {evaluation.score|n/a}\"",
        f"{indent}  # Deployments become PagerDuty change events: they never page, they show beside incidents.",
        f"{indent}  deployment.finished: {{}}",
        f"{indent}  # More events: `keptn-pagerduty events` lists them. For example, a warning while a manual",
        f"{indent}  # approval waits, resolved once someone decides:",
        f"{indent}  # approval.started: {{}}",
        f"{indent}  # approval.finished: {{}}",
    ]
    return "\n".join(lines) + "\n"


def scaffold(answers: Answers, target: Path, templates: Path | None = None) -> Scaffold:
    """Render and prove the profile for `target`; raise a `UserError` when it cannot be written safely."""
    from .generator import generate

    if target.exists() or target.is_symlink():
        raise UserError([Problem(str(target), message="already exists; init never overwrites a file",
                                 hint="choose another file with --output, or edit the existing profile")])
    if target.suffix not in (".yaml", ".yml") or target.name.startswith("_"):
        raise UserError([Problem(str(target), message="a profile's file name must end in .yaml and not start with _",
                                 hint=f"for example --output {target.with_name(answers.project + '.yaml')}")])
    text = render(answers)
    result = Scaffold(target, text)
    folder_name = target.parent.name or "profiles"
    with tempfile.TemporaryDirectory(prefix="keptn-pagerduty-init-") as temp:
        alone = Path(temp) / "alone" / folder_name
        alone.mkdir(parents=True)
        (alone / target.name).write_text(text, encoding="utf-8")
        try:
            generate(alone, templates)
        except UserError as exc:  # a bug here, or user templates that cannot serve a plain profile
            raise UserError([_relocate(p, alone, target.parent) for p in exc.problems]) from None
        siblings = _profile_files(target.parent)
        if siblings:
            together = Path(temp) / "together" / folder_name
            together.mkdir(parents=True)
            for path in siblings:
                shutil.copy2(path, together / path.name)
            (together / target.name).write_text(text, encoding="utf-8")
            try:
                generate(together, templates)
            except UserError as exc:
                without = Path(temp) / "without" / folder_name
                shutil.copytree(together, without)
                (without / target.name).unlink()
                try:
                    generate(without, templates)
                except UserError:
                    result.notes.append(f"other profiles in {target.parent} have problems already; "
                                        "`keptn-pagerduty validate` shows them")
                else:  # the new profile clashes with the ones already there
                    raise UserError([_relocate(p, together, target.parent) for p in exc.problems]) from None
    return result


def write_new(scaffold_: Scaffold) -> None:
    """Create the file; never replace one (O_EXCL), even if it appeared since `scaffold` looked."""
    path = scaffold_.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        problem = (Problem(str(path), message="already exists; init never overwrites a file",
                           hint="choose another file with --output") if os.path.lexists(path) else
                   Problem(str(path.parent), message="is a file, not a folder for the profile",
                           hint="choose another file with --output"))
        raise UserError([problem]) from None
    except OSError as exc:  # a file where a folder should be, no permission, a full disk
        raise UserError([Problem(str(path), message=f"cannot write: {exc.strerror}",
                                 hint="choose another file with --output")]) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(scaffold_.text)
    except OSError as exc:
        path.unlink(missing_ok=True)  # no half profile left behind
        raise UserError([Problem(str(path), message=f"cannot write: {exc.strerror}",
                                 hint="free some space, or choose another file with --output")]) from None


def _profile_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _relocate(problem: Problem, temp_folder: Path, real_folder: Path) -> Problem:
    """Problems name files in the temporary copy as `<folder>/<file>`; name the real folder instead."""
    prefix = temp_folder.name + "/"
    if problem.file.startswith(prefix):
        name = problem.file[len(prefix):]
        return Problem(str(real_folder / name), problem.line, problem.column, problem.path, problem.message,
                       problem.hint, problem.level, problem.details)
    return problem
