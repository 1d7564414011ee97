"""One problem type for everything a user can get wrong, collected and reported together.

The core never prints and never exits: it returns or raises `Problem`s, and the command line decides how
to show them (text or JSON) and which exit code they mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    """A located, actionable message: where, what is wrong, how to fix it."""

    file: str
    line: int = 0
    column: int = 0
    path: str = ""
    message: str = ""
    hint: str = ""
    level: str = "error"
    details: tuple[str, ...] = field(default=(), compare=False)

    def location(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        return where

    def as_text(self) -> str:
        text = f"{self.location()}: {self.level}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        for detail in self.details:
            text += f"\n    {detail}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["details"] = list(self.details)
        return data


class UserError(Exception):
    """Raised with every problem of a run; the command line turns it into exit code 1."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(p.as_text() for p in problems))
        self.problems = sorted(problems)

    def __reduce__(self) -> tuple:
        """Whole across processes: a worker process sends the problems it met to the main one."""
        return type(self), (self.problems,)


class PartlyWritten(UserError):
    """A run that failed after some files had moved into place (a folder that refused a file halfway)."""


def closest(word: str, possibilities: Sequence[str]) -> str | None:
    """The possibility a mistyped `word` most likely meant, for a "did you mean" hint; None if none is close.
    difflib is imported on a mistake only: every run would pay for it at start-up."""
    import difflib  # noqa: PLC0415

    found = difflib.get_close_matches(word, possibilities, n=1)
    return found[0] if found else None
