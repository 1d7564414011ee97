"""The command line: parse options, call the core, report problems and outcomes, map them to exit codes.

Exit codes: 0 ok, 1 invalid input or stale output (and Ctrl-C), 2 usage error, 128 + N when stopped by
signal N (143 for SIGTERM).

Each command only maps its options to a core call. Where profiles, output and templates are comes from
`config.resolve` (option > environment > keptn-pagerduty.yaml > default); what is printed on a terminal
(action lines, colour, progress) from `console`. A `UserError` from anywhere becomes its problems, in text
or in the command's JSON shape (docs/json-output.md), and exit code 1.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__, config
from .console import Console, stdin_is_terminal
from .problems import PartlyWritten, Problem, UserError

if TYPE_CHECKING:
    from .proofcache import ProofCache
    from .prove import ProofReport

FORMATS = click.Choice(["text", "json"])


def _where(key: str) -> str:
    default = config.DEFAULTS[key]
    return (f"[env {config.ENVIRONMENT[key]}; `{key}:` in {config.CONFIG_FILE}; "
            f"default: {default if default is not None else 'the bundled templates'}]")


profiles_option = click.option("--profiles", "profiles_dir", type=click.Path(path_type=Path), default=None,
                               help="Folder of profiles (*.yaml; names starting with _ are shared files). "
                                    + _where("profiles"))
output_option = click.option("--output", "output_dir", type=click.Path(path_type=Path), default=None,
                             help="Folder the generated files go to. " + _where("output"))
templates_option = click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False),
                                default=None, help="Folder of templates that override the bundled ones; they go "
                                                   "through the same proofs. " + _where("templates"))
format_option = click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
                             help="Output format; json has a stable shape for scripts (docs/json-output.md).")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print problems (and the command's own output) only.")

# The JSON each command prints, ok or not: every key is always there (docs/json-output.md).
VALIDATE_JSON = {"status": "ok", "projects": [], "files": [], "simulations": 0, "errors": []}
GENERATE_JSON = {"status": "ok", "output": "", "created": [], "updated": [], "unchanged": [], "removed": [],
                 "not_generated": [], "simulations": 0, "errors": []}
CHECK_JSON = {"status": "ok", "output": "", "stale": [], "missing": [], "extra": [], "errors": []}
PREVIEW_JSON = {"status": "ok", "requests": [], "errors": []}


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _fail(exc: UserError, fmt: str, console: Console, shape: dict | None = None, *, profiles: Path | None = None,
          **known: object) -> NoReturn:
    """Report every problem (text on stderr, or the command's JSON shape on stdout) and exit 1.

    `profiles`: the profiles folder as the user gave it, to name its files as they can be opened from here.
    """
    problems = _openable(exc.problems, profiles)
    if fmt == "json":
        _echo_json({**(shape or {}), **known, "status": "fail", "errors": [p.as_dict() for p in problems]})
    else:
        console.problems(problems)
        count = len(problems)
        written = ("some files were written before it, the others not" if isinstance(exc, PartlyWritten)
                   else "nothing was written")
        click.echo(f"{count} problem{'s' if count != 1 else ''} found; {written}.", err=True)
    sys.exit(1)


def _openable(problems: list[Problem], profiles: Path | None) -> list[Problem]:
    """Problems whose file can be opened from the working folder, as a compiler's can.

    Profiles name their files relative to the folder above the profiles folder, as the generated files
    quote them (the same bytes wherever the command runs). In the usual layout that is the working folder;
    when the profiles are elsewhere, their names are put back under that folder as the user gave it.
    """
    root = profiles.parent if profiles is not None else Path(".")
    if root == Path("."):
        return problems
    return [dataclasses.replace(p, file=f"{root.as_posix()}/{p.file}")
            if p.file.endswith((".yaml", ".yml")) and not os.path.isabs(p.file) and os.path.lexists(root / p.file)
            else p for p in problems]


def _settings(profiles_dir: Path | None = None, output_dir: Path | None = None,
              templates_dir: Path | None = None, need: tuple[str, ...] = ()) -> config.Settings:
    settings = config.resolve({"profiles": profiles_dir, "output": output_dir, "templates": templates_dir},
                              os.environ)
    settings.require_folders(*need)
    return settings


def _proof_cache() -> ProofCache:
    """Proofs of earlier runs, where KEPTN_PAGERDUTY_CACHE or the user's cache folder says (`proofcache`)."""
    from .proofcache import ProofCache, default_folder
    return ProofCache(default_folder(os.environ))


def _proven(report: ProofReport) -> str:
    text = f"{report.simulations} sample events proven"
    if report.reused:
        text += (f" ({report.reused} request{'s' if report.reused != 1 else ''} proven by an earlier run, "
                 f"from the proof cache)")
    return text


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keptn-pagerduty")
@click.option("--quiet", "-q", is_flag=True, help="The same as --quiet on the command.")
@click.pass_context
def main(ctx: click.Context, quiet: bool = False) -> None:
    """Generate Keptn webhook-service configuration that sends Keptn events to PagerDuty.

    With no command, generates the output folder from the profiles folder. Folders come from options,
    then KEPTN_PAGERDUTY_PROFILES / _OUTPUT / _TEMPLATES, then keptn-pagerduty.yaml in the working
    folder, then the defaults (profiles, output).
    """
    _stop_cleanly_when_terminated()
    if quiet:  # `keptn-pagerduty -q check` is `keptn-pagerduty check -q`
        ctx.default_map = {name: {"quiet": True} for name in main.commands}
    if ctx.invoked_subcommand is None:
        ctx.invoke(generate_command, quiet=quiet)


def _stop_cleanly_when_terminated() -> None:
    """End a run on SIGTERM (a cancelled CI job, `timeout`) or SIGHUP (a closed terminal) as on Ctrl-C:
    through the clean-up, so that the output folder is left with no staging folder and no lock file."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) == signal.SIG_DFL:
            signal.signal(number, _terminated)


def _terminated(number: int, _frame: object) -> NoReturn:
    signal.signal(number, signal.SIG_IGN)  # a second one must not cut the clean-up short
    click.echo(f"Stopped by {signal.Signals(number).name}.", err=True)
    raise SystemExit(128 + number)


@main.command("generate")
@profiles_option
@output_option
@templates_option
@format_option
@click.option("--prune", is_flag=True, help="Remove files this tool generated earlier that no profile produces now.")
@quiet_option
def generate_command(profiles_dir: Path | None = None, output_dir: Path | None = None,
                     templates_dir: Path | None = None, fmt: str = "text", prune: bool = False,
                     quiet: bool = False) -> None:
    """Render, prove and write every file for the profiles."""
    from .generator import generate
    from .write import Staging
    console = Console.for_stderr(quiet)
    out: Path | None = None
    profiles: Path | None = None
    try:
        settings = _settings(profiles_dir, output_dir, templates_dir, need=("profiles", "templates"))
        out, profiles = settings.output_dir, settings.profiles_dir
        # Only projects whose inputs changed since the last run into `out` are made again (see incremental).
        with Staging(out) as staging, console.progress("checking profiles and proving webhooks") as progress:
            result = generate(settings.profiles_dir, settings.templates_dir, progress=progress.update, reuse=out,
                              stage=staging, cache=_proof_cache())
            progress.step("writing files")
            outcome = staging.commit(result.made, prune=prune, inputs=result.inputs(out), kept=result.kept)
    except UserError as exc:
        _fail(exc, fmt, console, GENERATE_JSON, profiles=profiles, output=str(out or ""))
    out = settings.output_dir
    if fmt == "json":
        _echo_json({**GENERATE_JSON, "output": str(out), "created": outcome.created, "updated": outcome.updated,
                    "unchanged": outcome.unchanged, "removed": outcome.removed, "not_generated": outcome.extra,
                    "simulations": result.report.simulations})
        return
    if not console.quiet:  # a line per file: thousands for a fleet
        actions = [(name, "create") for name in outcome.created] + [(name, "update") for name in outcome.updated]
        actions += [(name, "identical") for name in outcome.unchanged] + [(name, "remove") for name in outcome.removed]
        for name, verb in sorted(actions):
            console.action(verb, out / name)
        for name in outcome.extra:
            console.action("orphan", out / name, " (no profile makes it; --prune removes it)")
    proven = (_proven(result.report) if result.made else "inputs unchanged since the last run, nothing to prove again")
    console.summary(f"{len(result.made) + len(result.kept)} files for {len(result.project_names())} project(s): "
                    f"{len(outcome.created)} created, {len(outcome.updated)} updated, {len(outcome.unchanged)} "
                    f"unchanged, {len(outcome.removed)} removed; {proven}.")


@main.command("validate")
@profiles_option
@templates_option
@format_option
@quiet_option
def validate_command(profiles_dir: Path | None, templates_dir: Path | None, fmt: str, quiet: bool) -> None:
    """Check profiles and prove their webhooks; write nothing."""
    from .generator import generate
    console = Console.for_stderr(quiet)
    profiles: Path | None = None
    try:
        settings = _settings(profiles_dir, None, templates_dir, need=("profiles", "templates"))
        profiles = settings.profiles_dir
        with console.progress("checking profiles and proving webhooks") as progress:
            result = generate(settings.profiles_dir, settings.templates_dir, progress=progress.update,
                              keep_files=False, cache=_proof_cache())
    except UserError as exc:
        _fail(exc, fmt, console, VALIDATE_JSON, profiles=profiles)
    if fmt == "json":
        _echo_json({**VALIDATE_JSON, "projects": result.project_names(), "files": sorted(result.made),
                    "simulations": result.report.simulations})
    else:
        console.summary(f"ok: {len(result.made)} files for {len(result.project_names())} project(s); "
                        f"{_proven(result.report)}.")


@main.command("check")
@profiles_option
@output_option
@templates_option
@format_option
@quiet_option
def check_command(profiles_dir: Path | None, output_dir: Path | None, templates_dir: Path | None, fmt: str,
                  quiet: bool) -> None:
    """Exit 1 if the output folder is not what the profiles generate (stale, missing or extra files)."""
    from .current import scan_output, unchanged
    from .generator import generate
    from .write import check
    console = Console.for_stderr(quiet)
    out: Path | None = None
    profiles: Path | None = None
    try:
        settings = _settings(profiles_dir, output_dir, templates_dir, need=("profiles", "templates"))
        out, profiles = settings.output_dir, settings.profiles_dir
        # Unchanged inputs give unchanged bytes: then the manifest's digests decide, with no generation.
        fast = unchanged(settings.profiles_dir, out, settings.templates_dir)
        if fast is not None:
            outcome, count = fast, len(fast.stale) + len(fast.missing) + len(fast.unchanged)
        else:
            with console.progress("checking profiles and proving webhooks") as progress:
                result = generate(settings.profiles_dir, settings.templates_dir, progress=progress.update,
                                  keep_files=False)
                progress.step(f"comparing with {out}")
                outcome = check(out, result.made, result.inputs(out))
                count = len(result.made)
    except UserError as exc:
        _fail(exc, fmt, console, CHECK_JSON, profiles=profiles, output=str(out or ""))
    out = settings.output_dir
    leaks = scan_output(out, set(fast.unchanged) if fast is not None else set())
    current = outcome.current and not leaks
    if fmt == "json":
        _echo_json({**CHECK_JSON, "status": "ok" if current else "fail", "output": str(out), "stale": outcome.stale,
                    "missing": outcome.missing, "extra": outcome.extra, "errors": [p.as_dict() for p in leaks]})
    else:
        for label, names in (("stale", outcome.stale), ("missing", outcome.missing), ("extra", outcome.extra)):
            for name in names:
                console.action(label, out / name)
        console.problems(leaks)
        if current:
            console.summary(f"ok: {out} is current ({count} files).")
        else:
            # Said even with --quiet: it is the reason for exit code 1.
            command = "keptn-pagerduty generate" + (" --prune" if outcome.extra else "")  # extra: kept without it
            click.echo(console.style(f"{out} is not current: run `{command}` and commit the result.",
                                     fg="red", bold=True), err=True, color=console.color)
    sys.exit(0 if current else 1)


def _projects_of(profile: Path, projects: list) -> list:
    """The project the profile given to `preview` belongs to: its folder is generated, its project previewed."""
    wanted = os.path.realpath(profile)
    found = [p for p in projects if any(os.path.realpath(q.inputs[0]) == wanted for q in p.profiles if q.inputs)]
    if not found:
        raise UserError([Problem(str(profile), message="not a profile of its folder",
                                 hint="give a profile: a .yaml file in the profiles folder whose name does not "
                                      "start with _")])
    return found


def _printed_as(field: dict, kinds: dict) -> str:
    kind = kinds.get(field["kind"], {})
    if field["kind"] == "list":
        return "joined, URL-encoded" if field["free_text"] else "joined"
    if field["free_text"]:
        return "URL-encoded"
    if kind.get("printable") is False:
        return "pick a part" if field["kind"] != "map" else "one entry"
    return "as is"


def _example(field: dict) -> str:
    text = json.dumps(field["example"], ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


@main.command("events")
@click.argument("event_type", required=False)
@format_option
@quiet_option
def events_command(event_type: str | None, fmt: str, quiet: bool) -> None:
    """List the event types a profile can subscribe to, or the fields of one (e.g. evaluation.finished)."""
    from .events import UnknownEventType
    from .generator import event_listing
    from .placeholders import kinds
    try:
        listing: list[dict[str, Any]] = event_listing(event_type)
    except UnknownEventType as exc:
        raise click.BadParameter(str(exc), param_hint="EVENT_TYPE") from None
    known = kinds()
    if fmt == "json":
        click.echo(json.dumps(listing, indent=2, ensure_ascii=False, default=str))
        return
    if event_type is None:
        for item in listing:
            click.echo(f"{str(item['type']).removeprefix('sh.keptn.event.'):<28} {item['doc']}")
        return
    item = listing[0]
    fields = item["fields"]
    if not quiet:
        click.echo(f"{item['type']}: {item['doc']}\n")
        click.echo("Placeholders. optional: the event may lack it, write {field|text} to print text then.\n"
                   "URL-encoded: free text, printed through Go's urlquery (spaces become +) and cut to a limit.\n")
    width = max(len(f["name"]) for f in fields) + 4
    header = f"  {'placeholder':<{width}}{'kind':<8}{'presence':<10}{'printed':<21}example"
    if not quiet:
        click.echo(header)
    for f in fields:
        presence = "optional" if f["optional"] else "always"
        click.echo(f"  {'{' + f['name'] + '}':<{width}}{f['kind']:<8}{presence:<10}{_printed_as(f, known):<21}"
                   f"{_example(f)}")
    click.echo(f"  {'{task} {phase} {event}':<{width}}{'static':<8}{'always':<10}{'as is':<21}"
               "the subscribed task, phase, task.phase")


@main.command("preview")
@click.option("--profile", "profile", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A profile; the folder it is in is loaded too (for extends and other profiles of the project).")
@click.option("--webhook", "webhook", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A webhook.yaml, generated or not.")
@click.option("--event", "event_file", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True,
              help="A Keptn CloudEvent as JSON.")
@click.option("--subscription",
              help="With --webhook: the subscriptionID to run (default: every webhook of the event's type).")
@templates_option
@format_option
@quiet_option
def preview_command(profile: Path | None, webhook: Path | None, event_file: Path, subscription: str | None,
                    templates_dir: Path | None, fmt: str, quiet: bool) -> None:
    """Show the curl argv Keptn would run and the body PagerDuty would get for an event, or Keptn's error."""
    from .preview import simulate_file, simulate_generated
    console = Console.for_stderr(quiet)
    if (profile is None) == (webhook is None):
        raise click.UsageError("give exactly one of --profile and --webhook")
    from .lint import load_events
    samples, problems = load_events([event_file])  # the events `lint --event` takes, one here
    if not problems and len(samples) != 1:
        problems = [Problem(str(event_file), message=f"{len(samples)} events: preview runs one",
                            hint="give a file with one event; `lint --event` runs many")]
    if problems:
        _fail(UserError(problems), fmt, console, PREVIEW_JSON)
    event = samples[0].event()
    try:
        if webhook is not None:
            try:
                text = webhook.read_text(encoding="utf-8")
            except (OSError, ValueError) as exc:
                raise UserError([Problem(str(webhook), message=f"cannot read the file: {exc}")]) from None
            previews = simulate_file(str(webhook), text, event, subscription)
        else:
            from .generator import generate, subscriptions
            assert profile is not None
            settings = _settings(None, None, templates_dir, need=("templates",))
            result = generate(profile.parent, settings.templates_dir, jobs=1)  # keeps the model: see below
            projects = _projects_of(profile, result.projects)
            previews = simulate_generated(result.files, subscriptions(projects), event, str(event_file))
    except UserError as exc:
        _fail(exc, fmt, console, PREVIEW_JSON, profiles=profile.parent if profile is not None else None)
    failed = any(p.error or p.pagerduty_errors for p in previews)
    if fmt == "json":
        _echo_json({**PREVIEW_JSON, "status": "fail" if failed else "ok", "requests": [p.as_dict() for p in previews]})
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


@main.command("init")
@click.option("--project", help="The Keptn project (lower-case letters, digits, -).")
@click.option("--secret-name", help="The Keptn secret that holds the PagerDuty integration key. [default: pagerduty]")
@click.option("--secret-key", help="The key inside that secret. [default: routing-key]")
@click.option("--region", type=click.Choice(["us", "eu"]), help="PagerDuty service region. [default: us]")
@click.option("--stages", help="Stages to watch, comma-separated, e.g. staging,production. [default: every stage]")
@click.option("--bridge-url", help="The Keptn Bridge URL, for links on alerts. [default: none]")
@click.option("--output", "output_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The profile file to create. [default: <profiles folder>/<project>.yaml]")
@templates_option
@quiet_option
def init_command(project: str | None, secret_name: str | None, secret_key: str | None, region: str | None,
                 stages: str | None, bridge_url: str | None, output_file: Path | None, templates_dir: Path | None,
                 quiet: bool) -> None:
    """Create a new, commented profile from a few answers; it is proven before it is written.

    On a terminal, asks for what the options do not give. Otherwise (a script, CI) only --project is
    needed; the rest take their defaults. Never overwrites a file.
    """
    from . import scaffold
    console = Console.for_stderr(quiet)
    given = {"project": project, "secret_name": secret_name, "secret_key": secret_key, "region": region,
             "stages": stages, "bridge_url": bridge_url}
    for name, value in given.items():
        if value is not None and (reason := scaffold.check(name, value)):
            raise click.BadParameter(reason, param_hint=scaffold.QUESTION[name].flag)
    interactive = stdin_is_terminal()
    if not interactive:
        missing = [q.flag for q in scaffold.QUESTIONS if q.default is None and given[q.name] is None]
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)}: stdin is not a terminal, so init cannot ask; "
                                   f"give {' and '.join(missing)} (the other options have defaults)")
    answers: dict[str, object] = {}
    for question in scaffold.QUESTIONS:
        value = given[question.name]
        if value is None and interactive:
            value = click.prompt(question.prompt, default=question.default, show_default=bool(question.default),
                                 value_proc=_checked(question.name), err=True)
        if value is None:
            value = question.default
        parsed = scaffold.parse(question.name, str(value))
        answers[question.name] = tuple(parsed) if isinstance(parsed, list) else parsed
    try:
        settings = _settings(None, None, templates_dir, need=("templates",))
        target = output_file or settings.profiles_dir / f"{answers['project']}.yaml"
        made = scaffold.scaffold(scaffold.Answers(**answers), target, settings.templates_dir)  # type: ignore[arg-type]
        scaffold.write_new(made)
    except UserError as exc:
        console.problems(exc.problems)
        click.echo("nothing was written.", err=True)
        sys.exit(1)
    console.action("create", made.path)
    for note in made.notes:
        console.info(f"note: {note}")
    console.summary(f"{made.path} is valid. Next: edit it if you like, then `keptn-pagerduty generate`.")


def _checked(name: str):
    from . import scaffold

    def proc(value: str) -> str:
        reason = scaffold.check(name, value)
        if reason:
            raise click.UsageError(reason)  # click.prompt shows the message and asks again
        return value
    return proc


def _register_lint() -> None:
    from .cli_lint import lint_command
    main.add_command(lint_command, "lint")


_register_lint()


def run(prog_name: str = "keptn-pagerduty") -> None:
    """The command line as a process of its own: the console script, generate.py and `python -m`.

    What a run allocates dies with the process. So the cycle collector is off: it only costs time, once at
    the end of a generate over every object the run made (3 % of a large one). And Python's last collection
    at exit, the same pass over every object still alive (25 ms after a 1,000-profile generate), is skipped by
    freezing them first: the system takes the memory back, and Python does not promise to finalize objects
    alive at exit anyway. atexit calls the freeze last, after the clean-ups registered later (temporary
    folders, worker processes).
    """
    gc.disable()
    atexit.register(gc.freeze)
    main(prog_name=prog_name)


if __name__ == "__main__":
    run()
