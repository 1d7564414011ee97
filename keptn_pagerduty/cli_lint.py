"""`lint`: prove webhook.yaml files people already have, as the generator proves its own.

Exit codes: 0 no errors (warnings allowed unless --strict), 1 errors found, 2 usage error.
Findings go to stdout (they are the command's output); the one-line summary goes to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .console import Console, use_color

if TYPE_CHECKING:  # the linter is imported when lint runs, so that `--help` of every command stays fast
    from .lint import LintReport, Render


@click.command("lint", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--event", "event_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Keptn CloudEvent as JSON (an object or a list); repeatable. Replaces the built-in samples: "
                   "each webhook runs the events of its type.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format; json has a stable shape for scripts.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any finding).")
@click.option("--show-requests", is_flag=True,
              help="Also show, per webhook, request and sample event, the command and body Keptn would produce.")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only (no summary line).")
def lint_command(paths: tuple[Path, ...], event_files: tuple[Path, ...], fmt: str, strict: bool,
                 show_requests: bool, quiet: bool = False) -> None:
    """Check webhook.yaml files, or Keptn project checkouts (folders), against Keptn and PagerDuty.

    Every webhook is run through a simulation of Keptn's webhook-service for realistic and hostile
    sample events of its type; findings point at the line to fix.
    """
    from .lint import lint_paths, load_events
    user_events = None
    problems = []
    if event_files:
        user_events, problems = load_events(list(event_files))
    report = lint_paths(list(paths), user_events)
    report.problems = problems + report.problems
    if strict:
        report = report.strict()
    if fmt == "json":
        _print_json(report, show_requests)
    else:
        _print_text(report, show_requests, quiet)
    sys.exit(1 if report.errors else 0)


def _print_json(report: LintReport, show_requests: bool) -> None:
    output: dict[str, object] = {
        "status": "fail" if report.errors else "ok",
        "files": report.files,
        "errors": [p.as_dict() for p in report.errors],
        "warnings": [p.as_dict() for p in report.warnings],
    }
    if show_requests:
        output["requests"] = [r.as_dict() for r in report.renders]
    click.echo(json.dumps(output, indent=2, ensure_ascii=False, allow_nan=False))


def _print_text(report: LintReport, show_requests: bool, quiet: bool = False) -> None:
    if show_requests:
        for render in report.renders:
            click.echo(_render_text(render))
    # Findings are this command's output: stdout, coloured when stdout is a terminal.
    Console(quiet=quiet, color=use_color(sys.stdout)).problems(report.problems, err=False)
    errors, warnings = len(report.errors), len(report.warnings)
    Console.for_stderr(quiet).summary(f"{len(report.files)} file(s) linted: {errors} error(s), {warnings} warning(s).",
                                      ok=not errors)


def _render_text(render: Render) -> str:
    lines = [f"# {render.file}:{render.line}: {render.path}: {render.webhook} [{render.sample}]"]
    if render.command is not None:
        lines.append(f"command: {render.command}")
    if render.error is not None:
        lines.append(f"Keptn error: {render.error}")
    elif render.body is not None:
        shown = render.shown_body
        body = shown if isinstance(shown, str) else json.dumps(shown, indent=2, ensure_ascii=False)
        lines.append(f"body: {body}")
    return "\n".join(lines) + "\n"
