"""Where profiles, output and templates are: options, environment, `keptn-pagerduty.yaml`, defaults.

Each setting is taken from the first of these that gives it:

1. the command-line option (`--profiles`, `--output`, `--templates`);
2. the environment (`KEPTN_PAGERDUTY_PROFILES`, `KEPTN_PAGERDUTY_OUTPUT`, `KEPTN_PAGERDUTY_TEMPLATES`);
3. `keptn-pagerduty.yaml` in the working folder (keys `profiles`, `output`, `templates`; paths relative
   to the file);
4. the defaults: `profiles`, `output`, and the bundled templates.

Resolving is pure: it reads the config file and returns settings that remember where each value came
from, so that a folder that does not exist is reported at the line of the config file (or the variable)
that named it. A bad config file is a located `UserError`, like a bad profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .problems import Problem, UserError, closest

CONFIG_FILE = "keptn-pagerduty.yaml"
KEYS = ("profiles", "output", "templates")
ENVIRONMENT = {key: f"KEPTN_PAGERDUTY_{key.upper()}" for key in KEYS}
DEFAULTS: dict[str, Path | None] = {"profiles": Path("profiles"), "output": Path("output"), "templates": None}
DOCS = {
    "profiles": "the folder of profiles",
    "output": "the folder generated files go to",
    "templates": "a folder of templates that override the bundled ones",
}


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from: `option`, `environment`, `config` or `default`."""

    name: str
    value: Path | None
    origin: str = "default"
    file: str = ""  # the config file, for origin "config"
    line: int = 0
    column: int = 0

    def describe(self) -> str:
        if self.origin == "option":
            return f"--{self.name}"
        if self.origin == "environment":
            return f"${ENVIRONMENT[self.name]}"
        if self.origin == "config":
            return f"{self.file}:{self.line}"
        return "default"

    def problem(self, message: str, hint: str = "") -> Problem:
        """A problem about this value, located where the value was given."""
        if self.origin == "config":
            return Problem(self.file, self.line, self.column, self.name, message, hint)
        if self.origin == "environment":
            return Problem(f"${ENVIRONMENT[self.name]}", message=message, hint=hint)
        return Problem(str(self.value), message=message, hint=hint)


@dataclass(frozen=True)
class Settings:
    profiles: Setting
    output: Setting
    templates: Setting
    config_file: Path | None = None

    @property
    def profiles_dir(self) -> Path:
        assert self.profiles.value is not None
        return self.profiles.value

    @property
    def output_dir(self) -> Path:
        assert self.output.value is not None
        return self.output.value

    @property
    def templates_dir(self) -> Path | None:
        return self.templates.value

    def require_folders(self, *names: str) -> None:
        """Raise a located `UserError` for each named setting that is not an existing folder.

        The profiles folder named by an option or the default is left to the profile loader, which
        reports it in the same way; a templates folder must always exist, or overrides would silently
        not apply.
        """
        problems = []
        for name in names:
            setting: Setting = getattr(self, name)
            if setting.value is None or setting.value.is_dir():
                continue
            if name == "profiles" and setting.origin in ("option", "default"):
                continue
            what = "is not a folder" if setting.value.exists() else "folder not found"
            problems.append(setting.problem(f"{DOCS[name]} {setting.value} {what}",
                                            f"give an existing folder (set by {setting.describe()})"))
        if problems:
            raise UserError(problems)


def load_config(path: Path) -> dict[str, Setting]:
    """The settings a config file gives, each with its position; a located `UserError` if it is wrong."""
    from . import yamlsource  # here, not at the top: `--help` and `--version` should not pay for YAML
    source = yamlsource.load(path, str(path))
    if source.data is None:
        return {}
    if not isinstance(source.data, dict):
        raise UserError([source.problem((), "the config file must be a mapping of keys to values",
                                        "write for example  profiles: profiles  and  output: output")])
    problems: list[Problem] = []
    found: dict[str, Setting] = {}
    base = path.parent
    for key, value in source.data.items():
        if key not in KEYS:
            close = closest(str(key), KEYS)
            hint = f"did you mean `{close}`?" if close else f"the keys are {', '.join(KEYS)}"
            problems.append(source.problem((key,), f"unknown key `{key}`", hint))
            continue
        if value is None:  # `templates:` with nothing after it: the default
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(source.problem((key,), f"`{key}` must be a folder path (text), not {_kind(value)}",
                                           f"write for example  {key}: {DEFAULTS[key] or 'my-templates'}"))
            continue
        line, column = source.position((key,))
        found[key] = Setting(key, base / Path(value).expanduser(), "config", source.file, line, column)
    if problems:
        raise UserError(problems)
    return found


def resolve(options: Mapping[str, Path | None], environ: Mapping[str, str], folder: Path = Path(".")) -> Settings:
    """Option > environment > `keptn-pagerduty.yaml` in `folder` > default, for each setting."""
    config_path = folder / CONFIG_FILE
    from_config = load_config(config_path) if config_path.is_file() else {}
    resolved: dict[str, Setting] = {}
    for key in KEYS:
        option = options.get(key)
        env_value = environ.get(ENVIRONMENT[key], "")
        if option is not None:
            resolved[key] = Setting(key, Path(option), "option")
        elif env_value:
            resolved[key] = Setting(key, Path(env_value).expanduser(), "environment")
        elif key in from_config:
            resolved[key] = from_config[key]
        else:
            default = DEFAULTS[key]
            resolved[key] = Setting(key, None if default is None else folder / default, "default")
    return Settings(resolved["profiles"], resolved["output"], resolved["templates"],
                    config_path if config_path.is_file() else None)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty text"
