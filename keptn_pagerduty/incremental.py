"""Take over an earlier run's output: only the projects whose inputs changed are loaded, rendered and proven.

Generation is deterministic, and projects are independent once their profiles are known. So the manifest
records, per profile, its project and the files it extends, and per project, a fingerprint of all of them
and of the generator (`fingerprint`). A project is kept when its fingerprint is unchanged, no profile joined
or left it, and its files on disk still have their recorded digests; everything else is generated again.
Kept projects are never parsed: a one-profile change in a fleet of thousands costs one project's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import fingerprint, write


@dataclass
class Record:
    """What the manifest records about the inputs of each profile and project."""

    profiles: dict[str, dict] = field(default_factory=dict)  # profile name -> {"project", "extends"}
    projects: dict[str, str] = field(default_factory=dict)  # project -> fingerprint of its inputs

    def manifest(self, root: Path, base: str, digests: dict[str, str]) -> dict[str, object]:
        """The `inputs` entry of the manifest; names are relative to the output folder `root`."""
        shared = _extended(self.profiles)
        every = fingerprint.inputs(list(self.profiles), shared, base, root, digests)
        return {"fingerprint": every, "shared": shared, "projects": dict(sorted(self.projects.items())),
                "profiles": dict(sorted(self.profiles.items()))}


def record_of(project: str, sources: list[tuple[str, ...]], root: Path) -> dict[str, dict]:
    """The profile entries of a `Record` for one project: each profile's inputs (itself, then what it extends)."""
    return {fingerprint.relative(inputs[0], root): {
        "project": project, "extends": [fingerprint.relative(path, root) for path in inputs[1:]]}
        for inputs in sources}


def project_fingerprint(entries: dict[str, dict], base: str, root: Path, digests: dict[str, str]) -> str:
    """Everything one project's files depend on: its profiles (`entries` of a `Record`), what they extend, `base`."""
    return fingerprint.inputs(list(entries), _extended(entries), base, root, digests)


def _extended(entries: dict[str, dict]) -> list[str]:
    """The files that the profiles of `entries` extend, other than those profiles themselves."""
    return sorted({name for entry in entries.values() for name in entry["extends"]} - set(entries))


@dataclass
class Plan:
    """Which profiles to load, and what is kept as the last run left it."""

    load: list[Path]
    kept: Record = field(default_factory=Record)
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # kept project -> file name -> sha256

    def release(self, projects: set[str], found: list[Path], root: Path) -> list[Path]:
        """Stop keeping `projects` (a loaded profile joined them); the profiles of theirs to load as well."""
        names = {name for name, entry in self.kept.profiles.items() if entry["project"] in projects}
        for project in projects:
            self.kept.projects.pop(project, None)
            self.files.pop(project, None)
        for name in names:
            del self.kept.profiles[name]
        return [p for p in found if fingerprint.relative(p, root) in names]

    def kept_files(self) -> dict[str, str]:
        return {name: digest for files in self.files.values() for name, digest in files.items()}


def plan(found: list[Path], root: Path, base: str, digests: dict[str, str]) -> Plan:
    """Decide from the manifest in `root` which of the profiles `found` need loading."""
    manifest = write.read_manifest_data(root)
    inputs, files = manifest.get("inputs"), manifest.get("files")
    recorded = inputs.get("profiles") if isinstance(inputs, dict) else None
    fingerprints = inputs.get("projects") if isinstance(inputs, dict) else None
    if not (isinstance(recorded, dict) and isinstance(fingerprints, dict) and isinstance(files, dict)
            and all(_valid_entry(e) for e in recorded.values())):
        return Plan(load=list(found))
    names = {fingerprint.relative(p, root): p for p in found}
    by_project: dict[str, dict[str, dict]] = {}
    for name, entry in recorded.items():
        by_project.setdefault(entry["project"], {})[name] = entry
    orphans = write.not_generated(manifest)
    files_by_project: dict[str, dict[str, str]] = {}
    for name, digest in files.items():
        if name not in orphans:  # owned, but no longer generated: never kept as if it were
            files_by_project.setdefault(name.split("/", 1)[0], {})[name] = digest
    written = write.manifest_time(root)
    result = Plan(load=[])
    extended = {e for entry in recorded.values() for e in entry["extends"]}
    present = {e for e in extended if fingerprint.absolute(e, root).is_file()}
    for project, entries in sorted(by_project.items()):
        own = files_by_project.get(project, {})
        if (all(n in names for n in entries) and own
                and all(e in present for entry in entries.values() for e in entry["extends"])
                and fingerprints.get(project) == project_fingerprint(entries, base, root, digests)
                and _intact(root, own, written)):
            result.kept.profiles.update(entries)
            result.kept.projects[project] = fingerprints[project]
            result.files[project] = own
    result.load = [path for name, path in names.items() if name not in result.kept.profiles]
    return result


def _valid_entry(entry: object) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("project"), str)
            and isinstance(entry.get("extends"), list) and all(isinstance(e, str) for e in entry["extends"]))


def _intact(root: Path, files: dict[str, str], written: int | None) -> bool:
    """The files are as the last run wrote them: untouched since its manifest, or with the recorded digest."""
    try:
        return write.verify(root, files, older_than=written).current
    except ValueError:  # a hand-edited manifest naming a path outside the folder: never trusted
        return False
