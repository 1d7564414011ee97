"""Proofs of earlier runs, kept in the user's cache folder: a request proven once is not proven again.

A proof is a pure function of the request (with its secrets, sending rules, event type and results: the
shape key of `prove`) and of the generator's own code and data. So a proof found under the same shape key,
made by the same generator, is the proof this run would make: editing one event of a profile re-proves that
event's request only. Entries live in a folder per generator (its digest, the Python and PyYAML versions),
so a changed generator never reads them; folders of other generators unused for `STALE_DAYS` are removed.

Only passing proofs are kept (a failing one is proven again, to report it). A cache that cannot be used is
no cache: a folder that is not private to the user, or an entry that cannot be read or does not have the
expected shape, is ignored, and no error from here ever fails a run. Like Jinja's cache of compiled
templates, the folder is private to the user (mode 0700, owned by them), or it is not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from .write import atomic_write

ENVIRONMENT = "KEPTN_PAGERDUTY_CACHE"  # a folder, or "off"
STALE_DAYS = 30


def default_folder(environ: Mapping[str, str]) -> Path | None:
    """$KEPTN_PAGERDUTY_CACHE ("off": no cache), else $XDG_CACHE_HOME/keptn-pagerduty, else
    ~/.cache/keptn-pagerduty."""
    given = environ.get(ENVIRONMENT)
    if given is not None:  # `~` expanded as for the other KEPTN_PAGERDUTY_ settings; a relative path is absolute
        return None if given.strip().lower() in ("", "off", "0", "no", "false") else Path(
            os.path.abspath(os.path.expanduser(given)))
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "keptn-pagerduty"
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".cache" / "keptn-pagerduty" if os.path.isabs(home) else None


class ProofCache:
    """Passing proofs by shape key, as small JSON files in a private folder of this generator's own."""

    def __init__(self, folder: Path | None):
        self.folder = self._open(folder) if folder is not None else None
        self.run = os.urandom(8).hex()  # marks this run's entries (its worker processes share the object)

    @staticmethod
    def _open(folder: Path) -> Path | None:
        import yaml  # noqa: PLC0415

        from . import fingerprint  # noqa: PLC0415  (hashes the package: only when a cache is wanted)

        if not hasattr(os, "getuid"):  # no owner and mode to check the folder by: no cache
            return None
        version = hashlib.sha256("\0".join((fingerprint.generator_digest(), sys.version.split()[0],
                                            yaml.__version__)).encode()).hexdigest()[:20]
        own = folder / f"proofs-{version}"
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                own.mkdir(mode=0o700)
                created = True
            except FileExistsError:  # an earlier run's, or another run's that started at the same moment
                created = False
            info = os.lstat(own)
        except OSError:
            return None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None  # not private to this user: never trust what is in it
        if created:
            _remove_stale(folder, own.name)
        return own

    def get(self, key: str) -> dict | None:
        """The entry stored under `key`, or None (missing, unreadable, or not the expected shape). Its "run"
        is this object's `run` when a process of this run stored it."""
        if self.folder is None:
            return None
        try:
            data = json.loads((self.folder / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return data if _valid(data) else None

    def put(self, key: str, entry: dict) -> None:
        """Store `entry` under `key` (atomically: a reader never sees half an entry); failures are ignored."""
        if self.folder is None:
            return
        data = json.dumps({**entry, "run": self.run}, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            atomic_write(self.folder / f"{key}.json", data, mode=0o600)
        except OSError:
            pass


def _valid(data: object) -> bool:
    """The shape `prove` stores: {"exact_only": bool, "bodies": [[label, url, body, action, [stage, service]]]}."""
    if not (isinstance(data, dict) and isinstance(data.get("exact_only"), bool) and isinstance(data.get("bodies"), list)):
        return False
    for body in data["bodies"]:
        if not (isinstance(body, list) and len(body) == 5 and all(isinstance(v, str) for v in body[:4])
                and isinstance(body[4], list) and len(body[4]) == 2 and all(isinstance(v, str) for v in body[4])):
            return False
    return True


def _remove_stale(folder: Path, keep: str) -> None:
    """Remove the folders of other generators that no run has added to for STALE_DAYS."""
    limit = time.time() - STALE_DAYS * 86400
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if (entry.name.startswith("proofs-") and entry.name != keep and entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < limit):
                shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue
