"""Scripts made from templates given with --templates must parse in bash, or the run fails at the template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from keptn_pagerduty import scriptcheck
from keptn_pagerduty.generator import generate
from keptn_pagerduty.problems import UserError

from .test_parallel import fleet

ROOT = Path(__file__).resolve().parent.parent

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")


def broken_copy(tmp_path: Path, name: str) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir()
    text = (ROOT / "templates" / name).read_text(encoding="utf-8")
    (templates / name).write_text(text.replace("set -euo pipefail\n", "set -euo pipefail\nif then fi\n", 1),
                                  encoding="utf-8")
    return templates


@needs_bash
@pytest.mark.parametrize(("template", "script"), [("send-event.sh.j2", "/send-"),
                                                   ("configure-keptn.sh.j2", "/configure-keptn.sh")])
def test_a_template_that_makes_scripts_bash_cannot_parse_fails_the_run(tmp_path: Path, template: str,
                                                                       script: str) -> None:
    templates = broken_copy(tmp_path, template)
    with pytest.raises(UserError) as caught:
        generate(ROOT / "profiles", templates)
    [problem] = caught.value.problems
    assert problem.file == str(templates / template)
    assert problem.message.startswith("the template makes scripts bash cannot parse: line ")
    assert "syntax error near unexpected token `then'" in problem.message
    assert problem.details[0].startswith("for example: ") and script in problem.details[0]


@needs_bash
def test_workers_that_each_meet_the_broken_template_report_it_once(tmp_path: Path) -> None:
    templates = broken_copy(tmp_path, "send-event.sh.j2")
    with pytest.raises(UserError) as caught:
        generate(fleet(tmp_path / "profiles", 120), templates, jobs=2)
    assert len(caught.value.problems) == 1, caught.value.problems


def test_unchanged_copies_of_the_templates_pass(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    assert generate(ROOT / "profiles", templates).files == generate(ROOT / "profiles").files


@needs_bash
def test_bash_parses_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    assert scriptcheck.bash_problem(tmp_path, "p/send-x.sh", f"#!/usr/bin/env bash\ntouch '{marker}'\n") is None
    assert not marker.exists()
    problem = scriptcheck.bash_problem(tmp_path, "p/send-x.sh", "case x in\n")
    assert problem is not None and problem.file == "send-event.sh.j2"  # no such file in the templates folder
    assert problem.message.startswith("the template makes scripts bash cannot parse: line ")


def test_without_bash_there_is_nothing_to_ask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scriptcheck.shutil, "which", lambda name: None)
    assert scriptcheck.bash_problem(tmp_path, "p/configure-keptn.sh", "if then fi\n") is None


def test_scripts_are_told_apart_by_name() -> None:
    assert scriptcheck.template_of("shop/configure-keptn.sh") == "configure-keptn.sh.j2"
    assert scriptcheck.template_of("shop/send-evaluation-finished-production.sh") == "send-event.sh.j2"
