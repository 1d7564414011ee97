"""`--format json` has the stable shapes docs/json-output.md describes: every key, with its type, ok or not."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from keptn_pagerduty.cli import main

from .terminal import CONSOLE_SCRIPT, ROOT, clean_env

DOC = (ROOT / "docs" / "json-output.md").read_text()
BAD = ROOT / "tests" / "bad_profiles" / "unknown-key-typo" / "profiles"
EVENT = ROOT / "docs" / "examples" / "evaluation-finished-fail.json"


def shapes() -> dict[str, object]:
    found = {}
    for name, body in re.findall(r"<!-- json-shape: (\w+) -->\n```json\n(.*?)\n```", DOC, re.S):
        found[name] = json.loads(body)
    return found


SHAPES = shapes()


def conforms(value: object, shape: object, where: str = "$") -> list[str]:
    """Differences between a value and a documented shape (keys exactly; types by name)."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        errors = []
        if set(value) != set(shape):
            errors.append(f"{where}: keys {sorted(value)} != documented {sorted(shape)}")
        for key in set(value) & set(shape):
            errors += conforms(value[key], shape[key], f"{where}.{key}")
        return errors
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [e for i, item in enumerate(value) for e in conforms(item, shape[0], f"{where}[{i}]")]
    assert isinstance(shape, str)
    for alternative in shape.split("|"):
        if _is(value, alternative, shape):
            return []
    return [f"{where}: {value!r} is not {shape}"]


def _is(value: object, type_name: str, whole: str) -> bool:
    if type_name.endswith("[]"):
        return isinstance(value, list) and all(_is(item, type_name[:-2], whole) for item in value)
    simple = {"string": str, "integer": int, "boolean": bool, "object": dict}
    if type_name in simple:
        return isinstance(value, simple[type_name]) and not (type_name == "integer" and isinstance(value, bool))
    if type_name == "null":
        return value is None
    if type_name == "any":
        return True
    if type_name in SHAPES:
        return not conforms(value, SHAPES[type_name])
    return value == type_name  # an enum member: "ok|fail"


def test_the_doc_defines_every_shape() -> None:
    assert set(SHAPES) == {"validate", "generate", "check", "preview", "lint", "events", "problem", "request"}


def invoke(*args: str) -> dict | list:
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("json")
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    return folder


def check_shape(name: str, value: object, status: str | None = None) -> None:
    errors = conforms(value, SHAPES[name])
    assert not errors, errors
    if status is not None:
        assert value["status"] == status  # type: ignore[index]


def test_validate_ok_and_fail(workdir: Path) -> None:
    ok = invoke("validate", "--profiles", str(workdir / "profiles"))
    check_shape("validate", ok, "ok")
    assert ok["projects"] == ["legacy-shop", "podtato-head", "sockshop"] and ok["simulations"] > 0
    failed = invoke("validate", "--profiles", str(BAD))
    check_shape("validate", failed, "fail")
    assert failed["errors"] and failed["files"] == [] and failed["simulations"] == 0


def test_generate_ok_and_fail(workdir: Path) -> None:
    out = workdir / "out-generate"
    ok = invoke("generate", "--profiles", str(workdir / "profiles"), "--output", str(out))
    check_shape("generate", ok, "ok")
    assert ok["output"] == str(out) and "sockshop/README.md" in ok["created"]
    again = invoke("generate", "--profiles", str(workdir / "profiles"), "--output", str(out))
    assert again["created"] == [] and "sockshop/README.md" in again["unchanged"]
    failed = invoke("generate", "--profiles", str(BAD), "--output", str(workdir / "never"))
    check_shape("generate", failed, "fail")
    assert not (workdir / "never").exists()


def test_check_ok_stale_and_fail(workdir: Path) -> None:
    out = workdir / "out-check"
    invoke("generate", "--profiles", str(workdir / "profiles"), "--output", str(out))
    check_shape("check", invoke("check", "--profiles", str(workdir / "profiles"), "--output", str(out)), "ok")
    (out / "sockshop" / "README.md").write_text("edited\n")
    stale = invoke("check", "--profiles", str(workdir / "profiles"), "--output", str(out))
    check_shape("check", stale, "fail")
    assert stale["stale"] == ["sockshop/README.md"] and stale["errors"] == []
    check_shape("check", invoke("check", "--profiles", str(BAD), "--output", str(out)), "fail")


def test_preview_ok_and_fail(workdir: Path) -> None:
    ok = invoke("preview", "--profile", str(workdir / "profiles" / "sockshop-quality-gates.yaml"),
                "--event", str(EVENT))
    check_shape("preview", ok, "ok")
    assert ok["requests"] and ok["requests"][0]["argv"][0] == "curl"
    broken = workdir / "not-json.json"
    broken.write_text("{")
    check_shape("preview", invoke("preview", "--profile", str(workdir / "profiles" / "legacy-shop.yaml"),
                                  "--event", str(broken)), "fail")


def test_lint_and_events() -> None:
    check_shape("lint", invoke("lint", str(ROOT / "tests" / "lint_cases" / "percent-in-payload" / "webhook.yaml")),
                "fail")
    check_shape("lint", invoke("lint", str(ROOT / "tests" / "lint_cases" / "clean-change-event" / "webhook.yaml")))
    check_shape("events", invoke("events"))
    check_shape("events", invoke("events", "evaluation.finished"))


def test_a_bad_config_file_answers_in_the_same_shape(tmp_path: Path) -> None:
    (tmp_path / "keptn-pagerduty.yaml").write_text("output: [x]\n")
    for command, name in (("validate", "validate"), ("generate", "generate"), ("check", "check")):
        result = subprocess.run([str(CONSOLE_SCRIPT), command, "--format", "json"], cwd=tmp_path,
                                capture_output=True, text=True, env=clean_env(), timeout=60)
        assert result.returncode == 1
        answer = json.loads(result.stdout)
        check_shape(name, answer, "fail")
        assert answer["errors"][0]["file"] == "keptn-pagerduty.yaml" and answer["errors"][0]["line"] == 1
        assert result.stderr == ""  # JSON mode prints nothing else


def test_the_example_in_the_doc_is_real() -> None:
    example = json.loads(re.search(r"\$ keptn-pagerduty validate --format json\n(.*?)\n```", DOC, re.S).group(1))
    actual = invoke("validate", "--profiles", str(BAD))
    actual["errors"][0]["file"] = example["errors"][0]["file"]  # the doc shows the usual folder name
    assert actual == example
