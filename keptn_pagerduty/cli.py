"""The command line: parse options, call the core, report problems and outcomes, map them to exit codes.

Exit codes: 0 ok, 1 invalid input or stale output, 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .problems import Problem, UserError

FORMATS = click.Choice(["text", "json"])
profiles_option = click.option("--profiles", "profiles_dir", type=click.Path(path_type=Path), default=Path("profiles"),
                               show_default=True, help="Folder of profiles (*.yaml; names starting with _ are shared files).")
output_option = click.option("--output", "output_dir", type=click.Path(path_type=Path), default=Path("output"),
                             show_default=True, help="Folder the generated files go to.")
templates_option = click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False),
                                default=None, help="Folder of templates that override the bundled ones.")
format_option = click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
                             help="Output format; json has a stable shape for scripts.")


def _report_problems(problems: list[Problem], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({"status": "fail", "errors": [p.as_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            click.echo(problem.as_text(), err=True)
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found; nothing was written.", err=True)


def _fail(exc: UserError, fmt: str) -> None:
    _report_problems(exc.problems, fmt)
    sys.exit(1)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keptn-pagerduty")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Generate Keptn webhook-service configuration that sends Keptn events to PagerDuty.

    With no command, generates output/ from profiles/.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(generate_command)


@main.command("generate")
@profiles_option
@output_option
@templates_option
@format_option
@click.option("--prune", is_flag=True, help="Remove files this tool generated earlier that no profile produces now.")
@click.option("--quiet", "-q", is_flag=True, help="Print problems only.")
def generate_command(profiles_dir: Path = Path("profiles"), output_dir: Path = Path("output"),
                     templates_dir: Path | None = None, fmt: str = "text", prune: bool = False,
                     quiet: bool = False) -> None:
    """Render, prove and write every file for the profiles."""
    from .generator import generate
    from .write import write
    try:
        result = generate(profiles_dir, templates_dir)
        outcome = write(output_dir, result.files, prune=prune)
    except UserError as exc:
        _fail(exc, fmt)
        return
    if fmt == "json":
        click.echo(json.dumps({"status": "ok", "created": outcome.created, "updated": outcome.updated,
                               "unchanged": outcome.unchanged, "removed": outcome.removed,
                               "not_generated": outcome.extra,
                               "simulations": result.report.simulations}, indent=2))
        return
    if not quiet:
        for verb, names in (("create", outcome.created), ("update", outcome.updated), ("remove", outcome.removed)):
            for name in names:
                click.echo(f"{verb:>10}  {output_dir / name}", err=True)
        for name in outcome.extra:
            click.echo(f"{'orphan':>10}  {output_dir / name} (no profile makes it; --prune removes it)", err=True)
        click.echo(f"{len(result.files)} files for {len(result.projects)} project(s): {len(outcome.created)} created, "
                   f"{len(outcome.updated)} updated, {len(outcome.unchanged)} unchanged, {len(outcome.removed)} removed; "
                   f"{result.report.simulations} sample events proven.", err=True)


@main.command("validate")
@profiles_option
@templates_option
@format_option
def validate_command(profiles_dir: Path, templates_dir: Path | None, fmt: str) -> None:
    """Check profiles and prove their webhooks; write nothing."""
    from .generator import generate
    try:
        result = generate(profiles_dir, templates_dir)
    except UserError as exc:
        _fail(exc, fmt)
        return
    if fmt == "json":
        click.echo(json.dumps({"status": "ok", "files": sorted(result.files),
                               "simulations": result.report.simulations}, indent=2))
    else:
        click.echo(f"ok: {len(result.files)} files for {len(result.projects)} project(s); "
                   f"{result.report.simulations} sample events proven.", err=True)


@main.command("check")
@profiles_option
@output_option
@templates_option
@format_option
def check_command(profiles_dir: Path, output_dir: Path, templates_dir: Path | None, fmt: str) -> None:
    """Exit 1 if the output folder is not what the profiles generate (stale, missing or extra files)."""
    from .generator import find_integration_keys, generate
    from .write import check
    try:
        result = generate(profiles_dir, templates_dir)
    except UserError as exc:
        _fail(exc, fmt)
        return
    outcome = check(output_dir, result.files)
    on_disk = {}
    for path in sorted(output_dir.rglob("*")) if output_dir.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            on_disk[path.relative_to(output_dir).as_posix()] = path.read_bytes()
    leaks = find_integration_keys(on_disk)
    if fmt == "json":
        click.echo(json.dumps({"status": "ok" if outcome.current and not leaks else "fail", "stale": outcome.stale,
                               "missing": outcome.missing, "extra": outcome.extra,
                               "errors": [p.as_dict() for p in leaks]}, indent=2))
    else:
        for label, names in (("stale", outcome.stale), ("missing", outcome.missing), ("extra", outcome.extra)):
            for name in names:
                click.echo(f"{label:>10}  {output_dir / name}", err=True)
        for problem in leaks:
            click.echo(problem.as_text(), err=True)
        if outcome.current and not leaks:
            click.echo(f"ok: {output_dir} is current ({len(result.files)} files).", err=True)
        else:
            click.echo(f"{output_dir} is not current: run `keptn-pagerduty generate` and commit the result.", err=True)
    sys.exit(0 if outcome.current and not leaks else 1)


@main.command("events")
@click.argument("event_type", required=False)
@format_option
def events_command(event_type: str | None, fmt: str) -> None:
    """List the event types a profile can subscribe to, or the fields of one (e.g. evaluation.finished)."""
    from .events import UnknownEventType
    from .generator import event_listing
    try:
        listing = event_listing(event_type)
    except UnknownEventType as exc:
        raise click.BadParameter(str(exc), param_hint="EVENT_TYPE") from None
    if fmt == "json":
        click.echo(json.dumps(listing, indent=2, ensure_ascii=False, default=str))
        return
    if event_type is None:
        for item in listing:
            click.echo(f"{item['type'].removeprefix('sh.keptn.event.'):<28} {item['doc']}")
        return
    item = listing[0]
    click.echo(f"{item['type']}: {item['doc']}\n")
    click.echo("Placeholders (optional ones print their default, e.g. {message|none}, when absent):")
    for f in item["fields"]:
        flag = "optional" if f["optional"] else "always"
        example = json.dumps(f["example"], ensure_ascii=False, default=str)
        if len(example) > 40:
            example = example[:37] + "..."
        click.echo(f"  {{{f['name']}}}".ljust(36) + f"{f['kind']:<7} {flag:<9} e.g. {example}")
    click.echo("  {task} {phase} {event}".ljust(36) + "static  always    the subscribed task, phase, task.phase")


@main.command("preview")
@click.option("--profile", "profile", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A profile; the folder it is in is loaded too (for extends and other profiles of the project).")
@click.option("--webhook", "webhook", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A webhook.yaml, generated or not.")
@click.option("--event", "event_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True,
              help="A Keptn CloudEvent as JSON.")
@click.option("--subscription", help="With --webhook: the subscriptionID to run (default: every webhook of the event's type).")
@templates_option
@format_option
def preview_command(profile: Path | None, webhook: Path | None, event_file: Path, subscription: str | None,
                    templates_dir: Path | None, fmt: str) -> None:
    """Show the curl argv Keptn would run and the body PagerDuty would get for an event, or Keptn's error."""
    from .preview import simulate_file, simulate_generated
    if (profile is None) == (webhook is None):
        raise click.UsageError("give exactly one of --profile and --webhook")
    try:
        event = json.loads(event_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(UserError([Problem(str(event_file), message=f"not a JSON event: {exc}")]), fmt)
        return
    try:
        if webhook is not None:
            previews = simulate_file(str(webhook), webhook.read_text(encoding="utf-8"), event, subscription)
        else:
            from .generator import generate, subscriptions
            result = generate(profile.parent, templates_dir)
            previews = simulate_generated(result.files, subscriptions(result.projects), event)
    except UserError as exc:
        _fail(exc, fmt)
        return
    failed = any(p.error or p.pagerduty_errors for p in previews)
    if fmt == "json":
        click.echo(json.dumps({"status": "fail" if failed else "ok", "requests": [p.as_dict() for p in previews]},
                              indent=2, ensure_ascii=False))
    else:
        for p in previews:
            click.echo(f"# {p.source} (subscriptionID {p.subscription_id})")
            if p.argv:
                click.echo("argv: " + json.dumps(p.argv, ensure_ascii=False))
            if p.error:
                click.echo(f"Keptn error: {p.error}")
            else:
                click.echo(f"POST {p.url}")
                click.echo(json.dumps(p.body, indent=2, ensure_ascii=False))
            for message in p.pagerduty_errors:
                click.echo(f"PagerDuty would reject it: {message}")
    sys.exit(1 if failed else 0)


def _register_lint() -> None:
    from .cli_lint import lint_command
    main.add_command(lint_command, "lint")


_register_lint()


def run() -> None:
    main(prog_name="keptn-pagerduty")


if __name__ == "__main__":
    run()
