"""A file whose bytes rule out key-shaped text must never yield it once YAML has read it.

`yaml_may_hold_key` lets profiles skip the search of their merged values; a wrong False would let an
integration key in a profile reach the generated files.
"""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from keptn_pagerduty.keyshape import has_long_run, yaml_may_hold_key
from keptn_pagerduty.problems import UserError
from keptn_pagerduty.yamlsource import loads

ALNUM = string.ascii_letters + string.digits


def texts_of(value: object) -> list[str]:
    """Every text a profile check walks: string values and keys."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for key, item in value.items() for t in [*texts_of(key), *texts_of(item)]]
    if isinstance(value, list):
        return [t for item in value for t in texts_of(item)]
    return []


def read(raw: str) -> tuple[bool, bool]:
    """(a text read holds a run of 32 letters and digits, the file's bytes may hold one)."""
    source = loads(raw.encode(), "profile.yaml")
    return any(has_long_run(t.encode()) for t in texts_of(source.data)), source.may_hold_key


# Hand-written files: each way YAML joins, folds or makes characters.
CASES = {
    "escapes make letters": ('note: "' + "\\x41" * 16 + "\\u0042" * 16 + '"\n', True),  # runs of 3 and 5 in the bytes
    "escaped line break joins two runs": ('note: "' + "a" * 16 + '\\\n  ' + "b" * 16 + '"\n', True),
    "escapes in a key": ('"' + "\\x41" * 32 + '": 1\n', True),
    "plain scalar folded": ("note: " + "a" * 16 + "\n  " + "b" * 16 + "\n", False),
    "double-quoted folded": ('note: "' + "a" * 16 + "\n  " + "b" * 16 + '"\n', False),
    "single quotes doubled": ("note: '" + "a" * 16 + "''" + "b" * 16 + "'\n", False),
    "folded block": ("note: >\n  " + "a" * 16 + "\n  " + "b" * 16 + "\n", False),
    "literal block": ("note: |\n  " + "a" * 16 + "\n  " + "b" * 16 + "\n", False),
    "comment between": ("note: " + "a" * 16 + " # " + "b" * 16 + "\n", False),
    "run in a comment only": ("# " + "a" * 32 + "\nnote: x\n", None),
    "run in a value": ("note: " + "a" * 32 + "\n", True),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hand_written_files(case: str) -> None:
    raw, holds = CASES[case]
    found, may_hold = read(raw)
    if holds is not None:
        assert found is holds, "the case does not show what it is named for"
    assert may_hold or not found
    assert may_hold is (holds is not False)  # a backslash or a run in the bytes: may hold one


def test_a_profile_read_from_a_str_is_judged_by_its_utf8_bytes() -> None:
    assert loads("note: ü" + "a" * 31 + "\n", "profile.yaml").may_hold_key is False
    assert loads("note: ü" + "a" * 32 + "\n", "profile.yaml").may_hold_key is True


runs = st.text(alphabet=ALNUM, min_size=1, max_size=40)
separators = st.sampled_from([" ", "-", "'", '"', "\\", "\n", ": ", " #", "é", "\t", "_", "\u2028"])
texts = st.lists(st.tuples(runs, separators), max_size=4).map(lambda parts: "".join(a + b for a, b in parts))
values = st.recursive(texts | st.integers() | st.booleans() | st.none(),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=10)


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.sampled_from([None, '"', "'", "|", ">"]), st.sampled_from([12, 24, 80]), st.booleans())
def test_no_file_ruled_out_yields_key_shaped_text(data: object, style: str | None, width: int,
                                                  unicode: bool) -> None:
    # PyYAML's emitter folds long lines at spaces and, in double quotes, escapes what it must and breaks
    # lines with a backslash: every way a dumped file can spell the same texts.
    raw = yaml.safe_dump({"note": data}, default_style=style, width=width, allow_unicode=unicode)
    try:
        found, may_hold = read(raw)
    except UserError:  # a document the profile reader refuses (too deep, say): nothing to judge
        return
    assert may_hold or not found, raw
