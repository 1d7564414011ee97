"""`pip install .` gives a working `keptn-pagerduty` that needs nothing from the checkout.

The project is copied (sources only), installed with pip into a folder of its own, and run from a folder
outside the checkout on copies of the example profiles: if a template or data file were not packaged,
`validate` could not render or prove anything.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keptn_pagerduty import __version__

ROOT = Path(__file__).resolve().parent.parent


def _offline_build_possible() -> bool:
    """Without build isolation, setuptools builds wheels only with `wheel` installed (or setuptools >= 70.1)."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        import setuptools
        return tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (70, 1)
    except (ImportError, ValueError):
        return False


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("keptn_pagerduty", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    target = base / "site"
    # With `wheel` at hand the build needs nothing from the network; otherwise pip builds in an isolated
    # environment and fetches the build backend (setuptools, as pyproject.toml asks) from the package index.
    isolation = ["--no-build-isolation"] if _offline_build_possible() else []
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "--no-deps", *isolation, "--target", str(target), str(source)],
                            capture_output=True, text=True, timeout=600, cwd=base)
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    return target


def env_for(target: Path) -> dict[str, str]:
    """The installed copy first on the path; the runtime dependencies come from this venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPTN_PAGERDUTY_")}
    env["KEPTN_PAGERDUTY_CACHE"] = "off"  # every test proves for real (conftest.py)
    env["PYTHONPATH"] = str(target)
    return env


def test_the_package_holds_its_templates_and_data(installed: Path) -> None:
    package = installed / "keptn_pagerduty"
    for name in ("webhook.yaml.j2", "configure-keptn.sh.j2", "send-event.sh.j2", "project-readme.md.j2"):
        assert (package / "templates" / name).is_file(), name
    for name in ("profile.schema.json", "defaults.yaml", "events.yaml", "kinds.yaml"):
        assert (package / "data" / name).is_file(), name
    assert list((package / "data" / "samples").glob("*.json"))
    assert list((package / "data" / "pagerduty").glob("*.json"))


def test_the_console_script_runs_from_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    script = installed / "bin" / "keptn-pagerduty"
    assert script.is_file()
    env = env_for(installed)
    where = subprocess.run([sys.executable, "-c", "import keptn_pagerduty; print(keptn_pagerduty.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout  # not the checkout's copy

    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"keptn-pagerduty, version {__version__}"

    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    validate = subprocess.run([str(script), "validate", "--format", "json"], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)
    assert validate.returncode == 0, validate.stderr
    assert '"sockshop"' in validate.stdout

    generate = subprocess.run([str(script), "generate", "-q"], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
    assert generate.returncode == 0, generate.stderr
    from keptn_pagerduty.generator import generate as generate_here
    ours = generate_here(ROOT / "profiles").files
    for name in ("sockshop/configure-keptn.sh", "sockshop/branches/production/webhook/webhook.yaml"):
        assert (tmp_path / "output" / name).read_bytes() == ours[name], name

    module = subprocess.run([sys.executable, "-m", "keptn_pagerduty", "--version"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert module.returncode == 0 and __version__ in module.stdout
