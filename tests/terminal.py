"""Run the command line as a user would: a real subprocess, with stderr (and stdin) on a pseudo-terminal.

Colour, progress lines and prompts only happen on a terminal, so tests need one; a pipe is the other case.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = VENV_BIN / "keptn-pagerduty"


@dataclass
class Run:
    returncode: int
    terminal: str  # everything written to the terminal (stderr, and stdin's echo), \r\n turned into \n
    stdout: str


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEPTN_PAGERDUTY_", "NO_COLOR", "FORCE_COLOR"))}
    env["KEPTN_PAGERDUTY_CACHE"] = "off"  # every test proves for real (conftest.py)
    env.update(extra)
    return env


def in_terminal(argv: list[str], cwd: Path, env: dict[str, str], answers: str | None = None,
                timeout: float = 120) -> Run:
    """stderr on a terminal, stdout piped; with `answers`, stdin is the terminal too and gets them typed."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=slave,
                                   stdin=slave if answers is not None else subprocess.DEVNULL)
    finally:
        os.close(slave)
    if answers is not None:
        os.write(master, answers.encode())
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                # drain whatever is left, then stop
                while select.select([master], [], [], 0.05)[0]:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    chunks.append(data)
                break
        stdout = process.stdout.read().decode() if process.stdout else ""
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return Run(returncode, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"), stdout)
