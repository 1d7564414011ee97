"""What the command line prints on a terminal: action lines, summaries, problems, colour and progress.

Decided once per run and per stream: colour only when the stream is a terminal and NO_COLOR is not set
(https://no-color.org: any non-empty value), a progress line only on a terminal and only for runs that
take longer than a second, nothing but problems with `--quiet`. The core never prints; only this module
and the command modules do.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TextIO

import click

from .problems import Problem

VERB_WIDTH = 10
# Verbs as copier prints them, and the colour of each: what was made, changed, left alone or removed.
VERB_COLORS = {
    "create": "green",
    "update": "yellow",
    "identical": "cyan",
    "remove": "red",
    "orphan": "yellow",
    "stale": "yellow",
    "missing": "red",
    "extra": "yellow",
    "skip": "yellow",
}
LEVEL_COLORS = {"error": "red", "warning": "yellow"}
PROGRESS_AFTER = 1.0  # seconds: a run that ends sooner never shows a progress line
PROGRESS_FRAMES = "|/-\\"
BAR_WIDTH = 24


def is_terminal(stream: IO[str] | None) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def use_color(stream: IO[str] | None, environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR holds any non-empty value."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    return is_terminal(stream)


@dataclass
class Console:
    """Prints to stderr (action lines, summaries, problems) unless told otherwise; knows --quiet and colour."""

    quiet: bool = False
    color: bool = False

    @classmethod
    def for_stderr(cls, quiet: bool = False) -> Console:
        return cls(quiet=quiet, color=use_color(sys.stderr))

    def style(self, text: str, **styles: object) -> str:
        return click.style(text, **styles) if self.color else text  # type: ignore[arg-type]

    def action(self, verb: str, path: object, note: str = "") -> None:
        """One line per file, verb right-aligned: `    create  output/sockshop/README.md`."""
        if self.quiet:
            return
        label = self.style(f"{verb:>{VERB_WIDTH}}", fg=VERB_COLORS.get(verb), bold=True)
        click.echo(f"{label}  {path}{note}", err=True, color=self.color)

    def summary(self, text: str, ok: bool = True) -> None:
        if self.quiet:
            return
        click.echo(text if ok else self.style(text, fg="red", bold=True), err=True, color=self.color)

    def info(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True, color=self.color)

    def problem_text(self, problem: Problem) -> str:
        """`file:line:col: error: path: message` with the location bold and the level coloured."""
        if not self.color:
            return problem.as_text()
        text = self.style(problem.location(), bold=True) + ": "
        text += self.style(f"{problem.level}:", fg=LEVEL_COLORS.get(problem.level), bold=True) + " "
        if problem.path:
            text += f"{problem.path}: "
        text += problem.message
        for detail in problem.details:
            text += f"\n    {detail}"
        if problem.hint:
            text += "\n    " + self.style(f"hint: {problem.hint}", fg="cyan")
        return text

    def problems(self, problems: Iterable[Problem], err: bool = True) -> None:
        """Problems are printed even with --quiet: they are what the user must act on."""
        for problem in problems:
            click.echo(self.problem_text(problem), err=err, color=self.color)

    def progress(self, label: str) -> Progress:
        stream = sys.stderr
        return Progress(stream, label, enabled=not self.quiet and is_terminal(stream))


class Progress:
    """A one-line spinner on stderr, drawn only on a terminal and only once a run has taken PROGRESS_AFTER
    seconds; `step(label)` names the current phase. The line is erased when the run ends, so the action
    lines and the summary that follow read as if it had never been there."""

    def __init__(self, stream: TextIO, label: str, enabled: bool = True, after: float | None = None):
        self.stream = stream
        self.label = label
        self.enabled = enabled
        self.after = PROGRESS_AFTER if after is None else after
        self.drawn = False
        self.done = self.total = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def step(self, label: str) -> None:
        self.label = label
        self.done = self.total = 0

    def update(self, done: int, total: int) -> None:
        """Projects done so far: turns the spinner into a bar."""
        self.done, self.total = done, total

    def __enter__(self) -> Progress:
        if self.enabled:
            self._start = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="keptn-pagerduty-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _run(self) -> None:
        if self._stop.wait(self.after):
            return
        frame = 0
        while not self._stop.is_set():
            elapsed = time.monotonic() - self._start
            if self.total:
                filled = BAR_WIDTH * self.done // self.total
                bar = "#" * filled + "-" * (BAR_WIDTH - filled)
                line = f"[{bar}] {self.done}/{self.total} projects: {self.label} ({elapsed:.1f}s)"
            else:
                line = f"{PROGRESS_FRAMES[frame % len(PROGRESS_FRAMES)]} {self.label} ({elapsed:.1f}s)"
            self.stream.write(f"\r\x1b[K{line}")
            self.stream.flush()
            self.drawn = True
            frame += 1
            self._stop.wait(0.1)


def stdin_is_terminal() -> bool:
    return is_terminal(sys.stdin)
