"""Text shaped like a PagerDuty integration key: a run of exactly 32 ASCII letters and digits.

Keys belong in a Keptn secret. A profile value or a generated file holding such a run is refused, wherever
it came from; this module finds the runs quickly enough to look at every byte a fleet reads and writes.
"""

from __future__ import annotations

import re

INTEGRATION_KEY_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])")
# Every ASCII letter and digit becomes "a", every other byte a space: a run of 32 "a" marks a run of 32
# letters and digits, and bytes.translate and bytes.find scan megabytes in C instead of matching a regex at
# every position. UTF-8 keeps ASCII bytes out of its multi-byte characters, so runs are found in its bytes.
ALNUM_MAP = bytes(0x61 if chr(b).isascii() and chr(b).isalnum() else 0x20 for b in range(256))
ALNUM_RUN = b"a" * 32


def has_long_run(data: bytes) -> bool:
    """Whether `data` holds a run of 32 or more ASCII letters and digits."""
    return ALNUM_RUN in data.translate(ALNUM_MAP)


def yaml_may_hold_key(raw: bytes) -> bool:
    """Whether a text YAML reads from this file's bytes can hold a run of 32 letters and digits.

    False only when the bytes hold no such run and no backslash. A text YAML reads is then made of pieces of
    those bytes: plain, quoted and block scalars (keys too) fold lines into spaces or line breaks, and a
    quoted scalar's `''` gives `'`, so no two runs are ever joined. Only a double-quoted escape makes a
    letter from other characters (`\\x41`) or joins two lines (a backslash before a line break).
    """
    return b"\\" in raw or has_long_run(raw)
