"""Scripts made from templates given with --templates must be scripts bash can parse.

The bundled templates are held to shellcheck by the test suite; a user's copy is not, and a stray `fi` in
it would reach every project's scripts unnoticed until someone runs one. `bash -n` parses without running
anything. It looks at the first script each template makes in a process: what breaks a script's syntax is
the template's own text, as the bundled templates put every value in quoted here-documents or single quotes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .problems import Problem

# The script template of each script a project has: the set-up script's own, and the send scripts'.
TEMPLATE_OF = {"configure-keptn.sh": "configure-keptn.sh.j2"}
SEND_TEMPLATE = "send-event.sh.j2"
_BASH_PREFIX = re.compile(r"^[^:]*: (?=line \d+: )")


def template_of(script: str) -> str:
    """The template that made a script of the output (`project/name.sh`)."""
    return TEMPLATE_OF.get(script.rsplit("/", 1)[-1], SEND_TEMPLATE)


def bash_problem(templates: Path, name: str, text: str) -> Problem | None:
    """The problem, located at the template, if bash cannot parse `text` (the script `name` of the output);
    None if it can, or if there is no bash to ask (the scripts need bash to run anyway)."""
    import subprocess  # noqa: PLC0415  (only runs with --templates pay for importing it)

    bash = shutil.which("bash")
    if bash is None:
        return None
    run = subprocess.run([bash, "-n"], input=text.encode("utf-8", "surrogatepass"), capture_output=True,
                         timeout=60, check=False)
    if run.returncode == 0:
        return None
    said = (run.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[0]
    reason = _BASH_PREFIX.sub("", said)  # bash names itself by its path first
    template = templates / template_of(name)
    # The same words from every process that meets it, so that a run reports it once.
    return Problem(str(template if template.is_file() else template_of(name)),
                   message=f"the template makes scripts bash cannot parse: {reason}",
                   hint="fix the template; `bash -n` on a generated script shows the error at the script's line",
                   details=(f"for example: {name}",))
