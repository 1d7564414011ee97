"""Rendering: the Jinja environment and its cache of compiled templates."""

from __future__ import annotations

import tempfile
from pathlib import Path

from keptn_pagerduty import render


def test_compiled_templates_are_cached_and_a_changed_template_is_compiled_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "webhook.yaml.j2").write_text("one {{ project }}\n")
    assert render.environment(templates).get_template("webhook.yaml.j2").render(project="p") == "one p\n"
    cached = list((tmp_path / "tmp").glob("_jinja2-cache-*/*.cache"))
    assert cached  # the next environment reads the compiled template back
    (templates / "webhook.yaml.j2").write_text("two {{ project }}\n")
    assert render.environment(templates).get_template("webhook.yaml.j2").render(project="p") == "two p\n"


def test_a_cache_that_cannot_be_used_is_no_cache(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))  # the cache folder cannot be made in a file
    env = render.environment(None)
    assert env.bytecode_cache is None
    assert env.get_template("webhook.yaml.j2") is not None
