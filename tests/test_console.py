"""Terminal behaviour: colour only on a terminal and never with NO_COLOR; progress only on a terminal and only
for runs over a second. Real subprocesses on a pseudo-terminal, and the pure decisions in `console`."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from keptn_pagerduty import console
from keptn_pagerduty.cli import main
from keptn_pagerduty.problems import Problem

from .terminal import CONSOLE_SCRIPT, ROOT, clean_env, in_terminal

ESC = "\x1b["
# Run the CLI with the progress threshold at zero, so that even a fast run shows its progress line.
EAGER = [sys.executable, "-c", "import keptn_pagerduty.console as c; c.PROGRESS_AFTER = 0.0; "
         "from keptn_pagerduty.cli import run; run()"]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console")
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    return folder


def test_use_color_needs_a_terminal_and_no_no_color() -> None:
    assert console.use_color(FakeTerminal(), {}) is True
    assert console.use_color(io.StringIO(), {}) is False
    assert console.use_color(FakeTerminal(), {"NO_COLOR": "1"}) is False
    assert console.use_color(FakeTerminal(), {"NO_COLOR": "false"}) is False  # any non-empty value
    assert console.use_color(FakeTerminal(), {"NO_COLOR": ""}) is True  # empty means unset (no-color.org)
    assert console.use_color(None, {}) is False


def test_on_a_terminal_verbs_and_problems_are_coloured(workdir: Path) -> None:
    run = in_terminal([str(CONSOLE_SCRIPT), "generate", "--output", "out-colour"], workdir, clean_env())
    assert run.returncode == 0, run.terminal
    assert f"{ESC}32m" in run.terminal and "create" in run.terminal  # green `create`
    bad = ROOT / "tests" / "bad_profiles" / "unknown-key-typo" / "profiles"
    failed = in_terminal([str(CONSOLE_SCRIPT), "validate", "--profiles", str(bad)], workdir, clean_env())
    assert failed.returncode == 1
    assert f"{ESC}31m" in failed.terminal and "error:" in failed.terminal  # red `error:`


@pytest.mark.parametrize("value", ["1", "true", "0"])
def test_no_color_turns_colour_off_on_a_terminal(workdir: Path, value: str) -> None:
    run = in_terminal([str(CONSOLE_SCRIPT), "generate", "--output", "out-no-colour"], workdir,
                      clean_env(NO_COLOR=value))
    assert run.returncode == 0, run.terminal
    assert "create" in run.terminal or "identical" in run.terminal
    assert ESC not in run.terminal


def test_piped_output_has_no_colour_and_no_progress(workdir: Path) -> None:
    result = subprocess.run([*EAGER, "generate", "--output", "out-piped"], cwd=workdir, capture_output=True,
                            text=True, env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    assert ESC not in result.stderr and "\r" not in result.stderr
    assert "create" in result.stderr


def test_click_runner_is_not_a_terminal() -> None:
    result = CliRunner().invoke(main, ["validate", "--profiles", str(ROOT / "tests" / "bad_profiles" /
                                                                      "unknown-key-typo" / "profiles")])
    assert result.exit_code == 1
    assert ESC not in result.output


def test_progress_line_on_a_terminal_once_the_threshold_is_passed(workdir: Path) -> None:
    run = in_terminal([*EAGER, "validate"], workdir, clean_env())
    assert run.returncode == 0, run.terminal
    assert "checking profiles and proving webhooks (" in run.terminal
    assert "\r\x1b[K" in run.terminal  # the line is erased before the summary
    assert run.terminal.rstrip().endswith("sample events proven.")


def test_no_progress_line_for_a_fast_run_even_on_a_terminal(workdir: Path) -> None:
    run = in_terminal([str(CONSOLE_SCRIPT), "events"], workdir, clean_env())
    assert run.returncode == 0
    assert "\r" not in run.terminal


def test_no_progress_line_with_quiet(workdir: Path) -> None:
    run = in_terminal([*EAGER, "validate", "--quiet"], workdir, clean_env())
    assert run.returncode == 0
    assert run.terminal == ""


def test_progress_waits_for_the_threshold_then_draws_and_erases() -> None:
    stream = FakeTerminal()
    with console.Progress(stream, "working", after=5.0):
        time.sleep(0.05)
    assert stream.getvalue() == ""  # ended before the threshold: nothing drawn
    stream = FakeTerminal()
    with console.Progress(stream, "working", after=0.01) as progress:
        time.sleep(0.15)
        progress.step("writing")
        time.sleep(0.25)
    text = stream.getvalue()
    assert "| working (" in text and "writing (" in text
    assert text.endswith("\r\x1b[K")


def test_progress_is_off_when_disabled() -> None:
    stream = FakeTerminal()
    with console.Progress(stream, "working", enabled=False, after=0.0):
        time.sleep(0.05)
    assert stream.getvalue() == ""


def test_problem_text_without_colour_is_the_plain_text() -> None:
    problem = Problem("profiles/a.yaml", 3, 5, "routes[0]", "bad", "fix it")
    assert console.Console(color=False).problem_text(problem) == problem.as_text()
    coloured = console.Console(color=True).problem_text(problem)
    assert ESC in coloured and "profiles/a.yaml:3:5" in coloured and "hint: fix it" in coloured


def test_progress_becomes_a_bar_once_projects_are_counted() -> None:
    stream = FakeTerminal()
    with console.Progress(stream, "proving", after=0.01) as progress:
        progress.update(1, 4)
        time.sleep(0.2)
        progress.update(4, 4)
        time.sleep(0.2)
    text = stream.getvalue()
    assert "[######------------------] 1/4 projects: proving (" in text
    assert "[########################] 4/4 projects: proving (" in text


def test_generate_reports_each_project_to_the_progress_callback(tmp_path: Path) -> None:
    from keptn_pagerduty.generator import generate
    for jobs in (1, 2):
        seen: list[tuple[int, int]] = []
        generate(ROOT / "profiles", jobs=jobs, progress=lambda done, total: seen.append((done, total)))
        if jobs == 1:
            assert seen == [(1, 3), (2, 3), (3, 3)]
        else:
            assert all(total == 3 and 0 <= done <= 3 for done, total in seen)
