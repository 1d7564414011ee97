"""Rendering: the Jinja environment and its cache of compiled templates."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from keptn_pagerduty import render
from keptn_pagerduty.generator import generate
from keptn_pagerduty.problems import UserError

ROOT = Path(__file__).resolve().parent.parent


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


def test_templates_may_read_records_as_keys_too(tmp_path: Path) -> None:
    """The bundled templates read `hook.url`; a template written with `hook["url"]` gets the same."""
    import re

    from keptn_pagerduty.generator import generate

    root = Path(__file__).resolve().parent.parent
    templates = tmp_path / "templates"
    templates.mkdir()
    changed = 0
    for name in ("webhook.yaml.j2", "configure-keptn.sh.j2", "project-readme.md.j2"):
        original = (root / "templates" / name).read_text()
        keyed = re.sub(r"{[{%].*?[}%]}", lambda tag: re.sub(r"\b(hook|row|s|u)\.([a-z_]+)\b", r'\1["\2"]',
                                                             tag.group()), original)
        changed += keyed != original
        (templates / name).write_text(keyed)
    assert changed == 3
    assert generate(root / "profiles", templates).files == generate(root / "profiles").files


def test_templates_keep_jinjas_globals_and_filters(tmp_path: Path) -> None:
    """The environment copies globals as a plain dict and keeps indented texts: templates see no difference."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "webhook.yaml.j2").write_text(
        "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }} "
        "{{ dict(a=1) | tojson }} {{ text | indent(2) }}|{{ text | indent(4, first=True) }}|{{ text | indent(2) }}\n")
    env = render.environment(templates)
    assert env.get_template("webhook.yaml.j2").render(text="a\nb") == '3 {"a": 1} a\n  b|    a\n    b|a\n  b\n'


@pytest.mark.parametrize(("added", "line", "message"), [
    ("{% if x %}\n", 77, "the template cannot be rendered: Unexpected end of template"),
    ("{{ nope.attr }}\n", 77, "the template cannot be rendered: UndefinedError: 'nope' is undefined"),
    ("{{ 1 / 0 }}\n", 77, "the template cannot be rendered: ZeroDivisionError: division by zero"),
    ("\udcff\n", 0, "the template cannot be rendered: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff"),
])
def test_a_broken_template_given_with_templates_is_a_located_error(tmp_path: Path, added: str, line: int,
                                                                   message: str) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (ROOT / "templates" / "project-readme.md.j2").read_text(encoding="utf-8")
    assert original.count("\n") == line - 1 or line == 0
    (templates / "project-readme.md.j2").write_bytes((original + added).encode("utf-8", "surrogateescape"))
    with pytest.raises(UserError) as caught:
        generate(ROOT / "profiles", templates)
    [problem] = caught.value.problems
    assert problem.message.startswith(message), problem.message
    assert problem.file.endswith("project-readme.md.j2") and problem.line == line


def test_a_template_that_nothing_renders_is_an_error(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "parts").mkdir(parents=True)
    (templates / "webhook.yml.j2").write_text("misspelt: the bundled webhook.yaml.j2 would be used\n")
    (templates / "project-readme.md.j2").write_text('{% include "parts/footer.j2" %}\n')
    (templates / "parts" / "footer.j2").write_text("included: used\n")
    (templates / "parts" / "old.j2").write_text("kept for later: not used\n")
    (templates / ".#webhook.yaml.j2").write_text("an editor's lock file\n")
    with pytest.raises(UserError) as raised:
        generate(ROOT / "profiles", templates)
    assert [(p.file, p.message) for p in raised.value.problems] == [
        (str(templates / name), "no template renders, includes, imports or extends this one")
        for name in ("parts/old.j2", "webhook.yml.j2")]
    assert "webhook.yaml.j2" in raised.value.problems[0].hint

    (templates / "parts" / "old.j2").unlink()
    (templates / "webhook.yml.j2").rename(templates / "webhook.yaml.j2")
    (templates / "webhook.yaml.j2").write_text((ROOT / "templates" / "webhook.yaml.j2").read_text())
    assert generate(ROOT / "profiles", templates).files  # every template is used now


def test_templates_named_only_as_they_render_leave_every_file_alone(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    bundled = (ROOT / "templates" / "project-readme.md.j2").read_text()
    (templates / "project-readme.md.j2").write_text('{% set part = "footer" %}{% include part + ".j2" %}' + bundled)
    (templates / "footer.j2").write_text("\n")
    (templates / "other.j2").write_text("not named anywhere, but a name worked out while rendering might be it\n")
    assert generate(ROOT / "profiles", templates).files
