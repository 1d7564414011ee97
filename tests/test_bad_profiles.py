"""Every folder of tests/bad_profiles/ is one mistake a user can make; `expected.txt` is the exact report.

Adding a case is adding a folder: profiles/ with the bad input and expected.txt with what the user must see
(file:line:column, path, message and hint). The same run through the command line must exit 1, print no
traceback and leave the output folder exactly as it was.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from keptn_pagerduty.generator import generate
from keptn_pagerduty.problems import UserError

CASES = Path(__file__).parent / "bad_profiles"
ROOT = Path(__file__).resolve().parent.parent


def cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_reports_the_expected_problems(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case)
    with pytest.raises(UserError) as caught:
        generate(Path("profiles"))
    expected = (case / "expected.txt").read_text(encoding="utf-8").rstrip("\n")
    assert str(caught.value) == expected


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_cli_exits_1_without_traceback_and_writes_nothing(case: Path, tmp_path: Path) -> None:
    output = tmp_path / "output"
    (output / "shop").mkdir(parents=True)
    (output / "shop" / "README.md").write_text("a file from an earlier run\n")
    before = tree_digest(output)
    run = subprocess.run([sys.executable, str(ROOT / "generate.py"), "generate", "--profiles",
                          str(case / "profiles"), "--output", str(output)],
                         capture_output=True, text=True, cwd=case, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "error:" in run.stderr and "nothing was written" in run.stderr
    assert tree_digest(output) == before
