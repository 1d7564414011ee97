"""Write generated files safely, and compare a folder with what would be generated.

Files are staged in a hidden folder inside the output folder while they are rendered and proven, and moved
into place by rename only when every proof has passed (`Staging`): a reader never sees half a file, and a
failed run changes nothing. Files whose bytes are unchanged are left alone, and a manifest records what the
generator owns, so that it never overwrites or deletes a file it did not write. A lock file keeps two runs
from interleaving.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_text
from pathlib import Path, PurePosixPath
from typing import Iterator

from .fingerprint import sha256
from .problems import PartlyWritten, Problem, UserError

MANIFEST = ".keptn-pagerduty-manifest.json"
LOCK = ".keptn-pagerduty.lock"
STAGING = ".keptn-pagerduty-staging"


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


def not_generated(manifest: dict) -> set[str]:
    """The files a manifest (`read_manifest_data`) names as owned but made by no profile any more."""
    names = manifest.get("not_generated")
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


def read_manifest(root: Path) -> set[str]:
    """The files the generator owns in `root` (a name that would leave the folder owns nothing)."""
    files = read_manifest_data(root).get("files", {})
    if not isinstance(files, (dict, list)):
        return set()
    return {name for name in files if isinstance(name, str) and _safe(name)}


def _safe(name: str) -> bool:
    if not _unsafe(name):
        return True
    try:
        safe_relative(name)
    except ValueError:
        return False
    return True


def verify(root: Path, digests: dict[str, str], older_than: int | None = None) -> Outcome:
    """Compare `root` with the digests a manifest recorded; writes nothing.

    Every file is read and hashed, except, with `older_than` (a time in ns), regular files last modified
    before it: `incremental` passes the manifest's own time, as a file not touched since the manifest was
    written still holds what the manifest recorded (make and git trust the same). Plain `os` calls on
    strings: this runs over every file of a fleet.
    """
    outcome = Outcome()
    base = os.path.join(os.fspath(root), "")
    for name in sorted(digests):
        if _unsafe(name):
            safe_relative(name)  # raises
        path = base + name  # os.path.join, for the relative names that pass the test above
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


def check(root: Path, digests: dict[str, str], inputs: dict | None = None) -> Outcome:
    """Compare `root` with the files that would be generated, by name and sha256; writes nothing."""
    outcome = verify(root, digests)
    outcome.unchanged = []
    extra = sorted(name for name in read_manifest(root) - set(digests) if (root / name).exists())
    manifest_bytes = _manifest_bytes(digests, inputs)
    if not (root / MANIFEST).is_file():
        outcome.missing.append(MANIFEST)
    elif (root / MANIFEST).read_bytes() != manifest_bytes:
        outcome.stale.append(MANIFEST)
    outcome.extra = extra
    return outcome


def write(root: Path, files: dict[str, bytes], prune: bool = False, inputs: dict | None = None,
          kept: dict[str, str] | None = None) -> Outcome:
    """Write `files` under `root` (through a `Staging`); with `prune`, remove owned files no longer generated.

    `kept` names files of the last run that stay as they are (see `incremental`), with their digests. `inputs`
    (see `fingerprint`) is recorded in the manifest, so a later run can trust unchanged inputs.
    """
    with Staging(root) as staging:
        for name in sorted(files):
            staging.put(name, files[name])
        return staging.commit({name: sha256(data) for name, data in files.items()}, prune, inputs, kept)


class StagedTwice(UserError):
    """A file staged twice: two worker processes made one project, which a run in one process redoes."""


class Staging:
    """The output folder, locked, with a hidden folder in it where a run puts its files first.

    Files are written into the staging folder as they are made (by worker processes too); `commit` then
    checks for conflicts, moves them into place by rename (a reader never sees half a file; a new project
    folder moves in one rename) and writes the manifest. Nothing outside the staging folder changes before
    `commit`, and leaving the block removes the staging folder, so a failed run leaves the output folder as
    it was (and removes it again if the run created it).
    """

    def __init__(self, root: Path):
        self.root = root
        self.path = root / STAGING
        self._folders: set[str] = set()
        self._tops: dict[str, bool] = {}  # does the output folder hold this top-level name?
        self.unstaged: set[str] = set()  # names put whose bytes the output folder already held (of every process)
        self._created: list[Path] = []  # the folders this run created for the output folder, deepest first
        self._lock = _Lock(root)

    def __enter__(self) -> "Staging":
        global _UMASK
        self._created = [p for p in (self.root, *self.root.parents) if not os.path.lexists(p)]
        if os.path.lexists(self.root) and not self.root.is_dir():
            raise UserError([Problem(str(self.root), message="is a file, not a folder for the generated files",
                                     hint="pass a folder with --output (it is created if missing)")])
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError([Problem(str(self.root), message=f"cannot create the output folder: {exc.strerror}",
                                     hint="pass a folder you can write to with --output")]) from None
        self._lock.__enter__()
        shutil.rmtree(self.path, ignore_errors=True)  # left by a run that was killed; we hold the lock
        try:
            self.path.mkdir()
            (self.path / ".gitignore").write_text("*\n")  # should a killed run leave it, Git still ignores it
        except OSError as exc:
            self.__exit__()
            raise self._cannot_write(self.path, exc) from None
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.__exit__()
        for folder in self._created:  # a failed run leaves no folder it made (a committed one left files in)
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote its files there
                break

    def clear(self) -> None:
        """Forget everything staged so far."""
        for entry in self.path.iterdir():
            if entry.name != ".gitignore":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        self._folders.clear()
        self.unstaged.clear()

    def put(self, name: str, data: bytes) -> None:
        """Stage one file, unless the output folder already holds exactly these bytes under that name.

        Plain `os` calls: this runs for every file of a fleet, and a file object costs several system calls.
        """
        if _unsafe(name):
            safe_relative(name)  # raises for a name that could leave the folder
        top = name.partition("/")[0]
        if top not in self._tops:  # one lookup per project, instead of one failed open per file of a new one
            self._tops[top] = os.path.lexists(os.path.join(self.root, top))
        if self._tops[top] and _same_bytes(os.path.join(self.root, name), data):
            self.unstaged.add(name)
            return
        path = os.path.join(self.path, name)
        folder = os.path.dirname(path)
        if folder not in self._folders:
            try:
                self._make_folder(folder)
            except OSError as exc:
                raise self._cannot_write(self.root / name, exc) from None
        mode = 0o755 if name.endswith(".sh") else 0o644
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        except FileExistsError:  # staged already: by another process making the same project (see StagedTwice)
            raise StagedTwice([Problem(str(self.root / name), message="cannot write: staged twice in one run",
                                       hint="this is a bug to report")]) from None
        except OSError as exc:
            raise self._cannot_write(self.root / name, exc) from None
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(handle, view):]
                if mode & _UMASK:  # the umask narrowed the mode given to open
                    os.fchmod(handle, mode)
            finally:
                os.close(handle)
        except OSError as exc:  # the disk is full, say
            raise self._cannot_write(self.root / name, exc) from None

    @staticmethod
    def _cannot_write(path: Path, exc: OSError) -> UserError:
        return UserError([Problem(str(path), message=f"cannot write: {exc.strerror}",
                                  hint="free some space, or generate into another folder with --output")])

    def _make_folder(self, folder: str) -> None:
        """`os.makedirs` without its checks: the staging folder exists, and this process made what it holds."""
        if folder != os.fspath(self.path):
            parent = os.path.dirname(folder)
            if parent not in self._folders:
                self._make_folder(parent)
            try:
                os.mkdir(folder)
            except FileExistsError:
                pass
        self._folders.add(folder)

    def commit(self, made: dict[str, str], prune: bool = False, inputs: dict | None = None,
               kept: dict[str, str] | None = None) -> Outcome:
        """Move the staged files into place and record `made` and `kept` (name -> sha256) in the manifest.

        A file of `made` that was not staged (`unstaged`) already had these bytes in the output folder.
        """
        root, kept = self.root, kept or {}
        owned = read_manifest(root)
        tops: dict[str, list[str]] = {}  # the files made, by top-level folder (a project's)
        for name in made:
            tops.setdefault(name.partition("/")[0], []).append(name)
        # Which of them the output folder holds, asked once: nothing else writes it while this run holds the lock.
        present = {top: os.path.lexists(os.path.join(root, top)) for top in tops}
        problems = _conflicts(root, made, owned, tops, present)
        if problems:
            raise UserError(problems)
        leftovers = sorted(owned - set(made) - set(kept))
        extra = [] if prune else [name for name in leftovers if (root / name).exists()]
        recorded = made | kept | {name: sha256((root / name).read_bytes()) for name in extra}
        manifest = _manifest_bytes(recorded, inputs, extra)
        new_manifest = not (root / MANIFEST).is_file() or (root / MANIFEST).read_bytes() != manifest
        problems = self._unwritable(tops, present, new_manifest)
        if problems:
            raise UserError(problems)
        if new_manifest:  # staged too, so that nothing is left to write once files start to move
            try:
                atomic_write(self.path / MANIFEST, manifest)
            except OSError as exc:
                raise self._cannot_write(root / MANIFEST, exc) from None
        try:
            with _signals_held():  # stopped halfway, the folder would hold files its manifest does not own
                outcome = self._move_into_place(tops, present, leftovers if prune else [], kept)
                if new_manifest:
                    os.replace(self.path / MANIFEST, root / MANIFEST)
        except OSError as exc:
            where = exc.filename if isinstance(exc.filename, str) else str(root)
            raise PartlyWritten([Problem(where, message=f"could not move every generated file into place: "
                                                        f"{exc.strerror}",
                                         hint="the folder holds files of this run and of the last: fix the cause "
                                              "and run again")]) from None
        outcome.extra = extra
        return outcome

    def _unwritable(self, tops: dict[str, list[str]], present: dict[str, bool], new_manifest: bool) -> list[Problem]:
        """Folders that would refuse a file of this run: checked before any file moves, so that a folder made
        read-only fails the run with nothing changed instead of halfway."""
        base = os.fspath(self.root)
        # A new project folder moves in with one rename into the output folder (none of its files is unstaged:
        # the output folder holds none of them).
        folders = {base} if new_manifest or not all(present.values()) else set()
        seen: set[str] = set()
        for top, names in tops.items():
            if not present[top]:
                continue
            for name in names:
                if name in self.unstaged:
                    continue
                folder = os.path.dirname(os.path.join(base, name))
                if folder not in seen:
                    seen.add(folder)
                    while not os.path.lexists(folder) and folder != base:  # made by the move: its parent decides
                        folder = os.path.dirname(folder)
                    folders.add(folder)
        return [Problem(folder, message="cannot write: the folder does not let this user add or replace files",
                        hint="make it writable (chmod u+w), or generate into another folder with --output")
                for folder in sorted(folders) if not os.access(folder, os.W_OK | os.X_OK)]

    def _move_into_place(self, tops: dict[str, list[str]], present: dict[str, bool], prune: list[str],
                         kept: dict[str, str]) -> Outcome:
        """Rename the staged files of `tops` (see commit) into place, and remove the files of `prune`."""
        root = self.root
        outcome = Outcome(unchanged=list(kept))
        base, staging = os.fspath(root), os.fspath(self.path)  # strings: this runs over every file of a fleet
        unstaged_tops = {name.partition("/")[0] for name in self.unstaged}
        for top, names in sorted(tops.items()):
            if top not in unstaged_tops and not present[top]:
                os.rename(os.path.join(staging, top), os.path.join(base, top))  # a new project folder: one rename
                outcome.created.extend(names)
                continue
            for name in names:
                if name in self.unstaged:
                    outcome.unchanged.append(name)
                    continue
                staged = os.path.join(staging, name)
                target = root / name
                (outcome.updated if os.path.lexists(target) else outcome.created).append(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
        for names in (outcome.created, outcome.updated, outcome.unchanged):
            names.sort()
        for name in prune:
            target = root / safe_relative(name)
            if target.is_file() and not target.is_symlink():
                target.unlink()
                outcome.removed.append(name)
                _remove_empty_parents(target.parent, root)
        return outcome


_UMASK = 0o022
_HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and termination until the block is done, then deliver them: the renames that bring the
    output folder from the last run's files to this run's are not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set handlers (and only it receives signals)
        return
    caught: list[int] = []
    before = {}
    for number in _HELD_SIGNALS:
        handler = signal.getsignal(number)
        if handler is not None and handler != signal.SIG_IGN:  # None: set outside Python, left alone
            before[number] = signal.signal(number, lambda received, _frame: caught.append(received))
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        chunks, size = [], 0
        while size <= len(data):
            chunk = os.read(handle, len(data) + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks) == data
    except OSError:  # a folder, or unreadable
        return False
    finally:
        os.close(handle)


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
    return (indented_json(data) + "\n").encode()


def indented_json(value: object, indent: str = "") -> str:
    """`json.dumps(value, indent=2)` for JSON data with text keys, in a quarter less time: json writes indented
    text in Python, so this lays out the lines and lets json's C code write each text. A fleet's manifest
    lists every file, and is written after the workers are done, while the other core waits."""
    kind = type(value)
    if kind is str:
        return _json_text(value)
    inner = indent + "  "
    if kind is dict and value:
        items = [_json_text(key) + ": " + (_json_text(item) if type(item) is str else indented_json(item, inner))
                 for key, item in value.items()]
        return "{\n" + inner + (",\n" + inner).join(items) + "\n" + indent + "}"
    if kind is list and value:
        items = [indented_json(item, inner) for item in value]
        return "[\n" + inner + (",\n" + inner).join(items) + "\n" + indent + "]"
    return json.dumps(value)


def _conflicts(root: Path, made: dict[str, str], owned: set[str], tops: dict[str, list[str]],
               present: dict[str, bool]) -> list[Problem]:
    """Links and foreign files in the way. Names under a top-level folder that does not exist are clear."""
    problems = []
    checked: set[Path] = set()
    for name in sorted(name for top, names in tops.items() if present[top] for name in names):
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
        elif name not in owned and target.exists() and (not target.is_file() or sha256(target.read_bytes()) != made[name]):
            problems.append(Problem(str(target), message="exists and was not written by this generator",
                                    hint="move it away, or generate into another folder"))
    return problems


def atomic_write(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a temporary file beside `target`, then rename it over `target`: the manifest, and the entries of
    the proof store and cache (generated files go through `Staging`)."""
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
    """An exclusive lock on the output folder; a second run fails at once with a clear message instead of
    waiting.

    Where the system has `flock`, the lock is the kernel's lock on the file, not the file itself: it ends
    with the process that holds it, so a run that was killed (or a CI job that was cancelled) never leaves
    the folder locked. Elsewhere the file's existence is the lock.
    """

    def __init__(self, root: Path):
        self.path = root / LOCK
        self._fd: int | None = None

    def __enter__(self) -> "_Lock":
        try:
            import fcntl  # noqa: PLC0415  (POSIX only)
        except ImportError:
            return self._exclusive_create()
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as exc:  # a link in its place, say
                raise UserError([Problem(str(self.path), message=f"cannot lock the output folder: {exc.strerror}",
                                         hint="remove this file (a run makes it while it writes the folder)")]
                                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise self._busy(f"process {holder}" if holder.isdigit() else "") from None
            try:  # the holder removes the file as it lets go: a lock on that old file locks nothing
                current = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def _exclusive_create(self) -> "_Lock":
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise self._busy("", stale_hint=True) from None
        with os.fdopen(fd, "w") as stream:
            stream.write(f"{os.getpid()}\n")
        return self

    def _busy(self, holder: str, stale_hint: bool = False) -> UserError:
        hint = "wait for it to finish"
        if stale_hint:
            hint += "; if none is running, delete this lock file"
        by = f" ({holder})" if holder else ""
        return UserError([Problem(str(self.path), message=f"another run{by} is writing this folder", hint=hint)])

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)  # before letting go, so that no one locks a file about to go
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def digest(files: dict[str, bytes]) -> str:
    """One hash of a whole file set: the same input must give the same bytes."""
    sha = hashlib.sha256()
    for name in sorted(files):
        sha.update(name.encode() + b"\0" + files[name] + b"\0")
    return sha.hexdigest()
