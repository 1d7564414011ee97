"""Is an output folder current? Answered from the manifest and the files, without generating anything.

Generation is deterministic, so when the inputs' fingerprint equals the one the manifest recorded, the
files only need to match their recorded digests. This module imports none of the rendering and proving
machinery: `check` in a pre-commit hook starts and finishes fast.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import fingerprint, profiles, write
from .keyshape import ALNUM_MAP, ALNUM_RUN
from .problems import Problem
from .render import default_templates


def unchanged(profiles_dir: Path, output_dir: Path, templates: Path | None = None) -> write.Outcome | None:
    """Decide from the manifest alone whether `output_dir` is current: None when the inputs changed.

    Same inputs give the same bytes, so with an unchanged fingerprint only the files' digests need
    checking; that is what makes `check` fast in a pre-commit hook.
    """
    manifest = write.read_manifest_data(output_dir)
    record, digests = manifest.get("inputs"), manifest.get("files")
    if not isinstance(record, dict) or not isinstance(digests, dict) or not profiles_dir.is_dir():
        return None
    shared = [output_dir / p for p in record.get("shared", []) if isinstance(p, str)]
    if not all(p.is_file() for p in shared):
        return None
    found = profiles.discover_resolved(profiles_dir)
    current = fingerprint.inputs(found, [p.resolve() for p in shared],
                                 fingerprint.base(templates, default_templates()), output_dir)
    if current != record.get("fingerprint"):
        return None
    try:
        outcome = write.verify(output_dir, digests)
    except ValueError:  # a hand-edited manifest naming a path outside the folder: generate and compare instead
        return None
    left = write.not_generated(manifest)
    if left:  # files an earlier run made that no profile makes now (kept without --prune): not current
        outcome.extra = sorted(left.intersection(outcome.unchanged + outcome.stale))
        outcome.unchanged = [name for name in outcome.unchanged if name not in left]
        outcome.stale = [name for name in outcome.stale if name not in left]
        outcome.missing = [name for name in outcome.missing if name not in left]
    return outcome


def scan_output(root: Path, verified: set[str] = frozenset()) -> list[Problem]:
    """Key-shaped tokens in any file under `root`, read one file at a time.

    `verified` names files whose digest matched the manifest: the bytes generation scanned, skipped here.
    """
    problems: list[Problem] = []
    top = os.fspath(root)
    for folder, _, names in os.walk(top):
        prefix = folder[len(top):].strip(os.sep).replace(os.sep, "/")
        for base in names:
            name = f"{prefix}/{base}" if prefix else base
            if name in verified:
                continue
            path = os.path.join(folder, base)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as stream:
                    problems.extend(find_integration_keys({name: stream.read()}))
    return sorted(problems)


def find_integration_keys(files: dict[str, bytes]) -> list[Problem]:
    """A 32-character alphanumeric token in a generated file is most likely a leaked integration key."""
    problems = []
    for name, data in sorted(files.items()):
        mapped = data.translate(ALNUM_MAP)
        start = mapped.find(ALNUM_RUN)
        while start >= 0:
            end = start + 32
            if (start == 0 or mapped[start - 1] != 0x61) and (end == len(mapped) or mapped[end] != 0x61):
                line_start = data.rfind(b"\n", 0, start) + 1
                column = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
                problems.append(Problem(name, data.count(b"\n", 0, start) + 1, column, "",
                                        "contains a 32-character token shaped like a PagerDuty integration key",
                                        "keys belong in a Keptn secret or PAGERDUTY_ROUTING_KEY, never in a file"))
            while end < len(mapped) and mapped[end] == 0x61:
                end += 1
            start = mapped.find(ALNUM_RUN, end)
    return problems
