"""The committed output/ is what the example profiles generate, and every file in it is clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from keptn_pagerduty.generator import generate
from keptn_pagerduty.write import check, digest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    return generate(ROOT / "profiles")


def test_committed_output_is_current(generated) -> None:
    outcome = check(OUTPUT, generated.made, generated.inputs(OUTPUT))
    assert outcome.current, (f"output/ is stale: run `python generate.py` and commit. stale={outcome.stale} "
                             f"missing={outcome.missing} extra={outcome.extra}")


def test_generation_is_deterministic(generated) -> None:
    assert digest(generate(ROOT / "profiles").files) == digest(generated.files)


def test_parallel_generation_gives_the_same_bytes(generated) -> None:
    assert digest(generate(ROOT / "profiles", jobs=2).files) == digest(generated.files)


def test_every_example_project_has_its_files(generated) -> None:
    names = set(generated.files)
    for project in ("sockshop", "podtato-head", "legacy-shop"):
        assert f"{project}/configure-keptn.sh" in names
        assert f"{project}/README.md" in names
        assert any(n.startswith(f"{project}/send-") for n in names)
        assert any(n.startswith(f"{project}/branches/") and n.endswith("webhook/webhook.yaml") for n in names)


def test_yamllint_accepts_output_and_profiles() -> None:
    run = subprocess.run([sys.executable, "-m", "yamllint", "--strict", "-c", str(ROOT / ".yamllint.yaml"),
                          str(OUTPUT), str(ROOT / "profiles")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def shellcheck() -> str:
    found = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(found).exists():
        pytest.fail("shellcheck is missing: install the test extras (pip install -e '.[test]')")
    return found


def scripts() -> list[Path]:
    return sorted(OUTPUT.rglob("*.sh"))


def test_there_are_scripts_to_check() -> None:
    assert len(scripts()) >= 6


@pytest.mark.parametrize("script", scripts(), ids=lambda p: p.relative_to(OUTPUT).as_posix())
def test_shellcheck_and_bash_accept_every_script(script: Path) -> None:
    run = subprocess.run([shellcheck(), "--severity=style", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
