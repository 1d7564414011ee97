"""Write generated files safely, and compare a folder with what would be generated.

Everything is rendered and proven in memory first. Then each file is written atomically (temporary file in
the same folder, then rename), files whose bytes are unchanged are left alone, and a manifest records what
the generator owns, so that it never overwrites or deletes a file it did not write. A lock file keeps two
runs from interleaving.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .fingerprint import sha256
from .problems import Problem, UserError

MANIFEST = ".keptn-pagerduty-manifest.json"
LOCK = ".keptn-pagerduty.lock"


@dataclass
class Outcome:
    """What happened (or would happen) to each file, by path relative to the output folder."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # check: differs from what would be generated
    missing: list[str] = field(default_factory=list)  # check: would be created
    extra: list[str] = field(default_factory=list)  # check: owned but no longer generated

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    @property
    def current(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def safe_relative(path: str) -> PurePosixPath:
    """Refuse any generated path that could leave the output folder."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in path or "\0" in path:
        raise ValueError(f"unsafe output path: {path!r}")
    return pure


def _unsafe(name: str) -> bool:
    """Could `name` be unsafe? A quick test that passes every plain name; `safe_relative` has the last word."""
    return not name or name.startswith((".", "/")) or "/." in name or "\\" in name or "\0" in name


def read_manifest_data(root: Path) -> dict:
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_manifest(root: Path) -> set[str]:
    """The files the generator owns in `root`."""
    files = read_manifest_data(root).get("files", {})
    return {name for name in files if isinstance(name, str)} if isinstance(files, (dict, list)) else set()


def verify(root: Path, digests: dict[str, str], older_than: int | None = None) -> Outcome:
    """Compare `root` with the digests a manifest recorded; writes nothing.

    Every file is read and hashed, except, with `older_than` (a time in ns), regular files last modified
    before it: `incremental` passes the manifest's own time, as a file not touched since the manifest was
    written still holds what the manifest recorded (make and git trust the same). Plain `os` calls on
    strings: this runs over every file of a fleet.
    """
    outcome = Outcome()
    base = os.fspath(root)
    for name in sorted(digests):
        if _unsafe(name):
            safe_relative(name)  # raises
        path = os.path.join(base, name)
        if older_than is not None:
            try:
                info = os.lstat(path)
            except OSError:
                outcome.missing.append(name)
                continue
            if stat.S_ISREG(info.st_mode) and info.st_mtime_ns < older_than:
                outcome.unchanged.append(name)
                continue
        try:
            handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # missing, a symlink, or unreadable
            outcome.missing.append(name)
            continue
        with os.fdopen(handle, "rb") as stream:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                outcome.missing.append(name)
            elif sha256(stream.read()) != digests[name]:
                outcome.stale.append(name)
            else:
                outcome.unchanged.append(name)
    return outcome


def manifest_time(root: Path) -> int | None:
    """When the manifest was last written (ns), or None without one."""
    try:
        return os.stat(root / MANIFEST).st_mtime_ns
    except OSError:
        return None


def check(root: Path, files: dict[str, bytes], inputs: dict | None = None) -> Outcome:
    """Compare `root` with the files that would be generated; writes nothing."""
    outcome = Outcome()
    for name in sorted(files):
        target = root / safe_relative(name)
        if not target.is_file():
            outcome.missing.append(name)
        elif target.read_bytes() != files[name]:
            outcome.stale.append(name)
    extra = sorted(name for name in read_manifest(root) - set(files) if (root / name).exists())
    manifest_bytes = _manifest_bytes({name: sha256(data) for name, data in files.items()}, inputs)
    if not (root / MANIFEST).is_file():
        outcome.missing.append(MANIFEST)
    elif (root / MANIFEST).read_bytes() != manifest_bytes:
        outcome.stale.append(MANIFEST)
    outcome.extra = extra
    return outcome


def write(root: Path, files: dict[str, bytes], prune: bool = False, inputs: dict | None = None,
          kept: dict[str, str] | None = None) -> Outcome:
    """Write `files` under `root` atomically; with `prune`, remove owned files that are no longer generated.

    `kept` names files of the last run that stay as they are (see `incremental`), with their digests. `inputs`
    (see `fingerprint`) is recorded in the manifest, so a later run can trust unchanged inputs.
    """
    kept = kept or {}
    root.mkdir(parents=True, exist_ok=True)
    with _Lock(root):
        owned = read_manifest(root)
        problems = _conflicts(root, files, owned)
        if problems:
            raise UserError(problems)
        outcome = Outcome(unchanged=sorted(kept))
        folders: set[Path] = set()
        for name in sorted(files):
            target = root / safe_relative(name)
            try:
                size = target.stat().st_size
            except FileNotFoundError:
                size = -1
            if size == len(files[name]) and target.read_bytes() == files[name]:
                outcome.unchanged.append(name)
                continue
            (outcome.updated if size >= 0 else outcome.created).append(name)
            _atomic_write(target, files[name], folders)
        outcome.unchanged.sort()
        leftovers = sorted(owned - set(files) - set(kept))
        recorded = {name: sha256(data) for name, data in files.items()} | kept
        if prune:
            for name in leftovers:
                target = root / safe_relative(name)
                if target.is_file() and not target.is_symlink():
                    target.unlink()
                    outcome.removed.append(name)
                    _remove_empty_parents(target.parent, root)
        else:
            outcome.extra = [name for name in leftovers if (root / name).exists()]
            recorded.update((name, sha256((root / name).read_bytes())) for name in outcome.extra)
        manifest = _manifest_bytes(recorded, inputs, outcome.extra)
        if not (root / MANIFEST).is_file() or (root / MANIFEST).read_bytes() != manifest:
            _atomic_write(root / MANIFEST, manifest)
        return outcome


def _manifest_bytes(digests: dict[str, str], inputs: dict | None, orphans: list[str] = ()) -> bytes:
    data: dict[str, object] = {
        "generator": "keptn-pagerduty",
        "about": "Files this folder's generator owns (it never overwrites or deletes any other file), "
                 "with their SHA-256, and a fingerprint of the inputs they were generated from.",
    }
    if inputs is not None:
        data["inputs"] = inputs
    data["files"] = {name: digests[name] for name in sorted(digests)}
    if orphans:
        data["not_generated"] = sorted(orphans)  # owned, but no profile makes them any more
    return (json.dumps(data, indent=2) + "\n").encode()


def _conflicts(root: Path, files: dict[str, bytes], owned: set[str]) -> list[Problem]:
    problems = []
    checked: set[Path] = set()
    for name in sorted(files):
        target = root / safe_relative(name)
        parent = root
        for part in safe_relative(name).parts[:-1]:
            parent = parent / part
            if parent in checked:
                continue
            checked.add(parent)
            if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                problems.append(Problem(str(parent), message="is a symlink or a file where the generator needs a folder",
                                        hint="remove it, or generate into another folder"))
                break
        if target.is_symlink():
            problems.append(Problem(str(target), message="is a symlink; the generator does not write through links",
                                    hint="remove the link, or generate into another folder"))
        elif name not in owned and target.exists() and target.read_bytes() != files[name]:
            problems.append(Problem(str(target), message="exists and was not written by this generator",
                                    hint="move it away, or generate into another folder"))
    return problems


def _atomic_write(target: Path, data: bytes, folders: set[Path] | None = None) -> None:
    """Write a temporary file beside `target`, then rename it over `target`."""
    if folders is None or target.parent not in folders:
        target.parent.mkdir(parents=True, exist_ok=True)
        if folders is not None:
            folders.add(target.parent)
    mode = 0o755 if target.suffix == ".sh" else 0o644
    temp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    # No fsync: the rename keeps readers from ever seeing half a file, which is the promise here;
    # surviving a power cut is the file system's job and would cost a disk flush per file.
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, mode)  # the umask may have narrowed the mode given to open
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


class _Lock:
    """An exclusive lock file; a second run fails at once with a clear message instead of waiting."""

    def __init__(self, root: Path):
        self.path = root / LOCK

    def __enter__(self) -> "_Lock":
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise UserError([Problem(str(self.path), message="another run is writing this folder",
                                     hint="wait for it to finish; if none is running, delete this lock file")]) from None
        with os.fdopen(fd, "w") as stream:
            stream.write(f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def digest(files: dict[str, bytes]) -> str:
    """One hash of a whole file set: the same input must give the same bytes."""
    sha = hashlib.sha256()
    for name in sorted(files):
        sha.update(name.encode() + b"\0" + files[name] + b"\0")
    return sha.hexdigest()
