#!/usr/bin/env python3
"""Write webhook/core/kuscia/gotemplate/tables.py: Go's Unicode tables as the template lexer and
strconv read them, asked of our Go oracle (hack/gotemplate), so that the Python port answers
with Go's tables instead of Python's (which follow another Unicode release).

Usage:  hack/gotemplate-tables.py "$(hack/gotemplate-bin.sh | tail -1)"

The differential test (tests/core/kuscia/test_render_differential.py) checks the module is
current for the Go it runs against.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

OUT = pathlib.Path(__file__).resolve().parent.parent / "webhook/core/kuscia/gotemplate/tables.py"


def encode(bounds: list[int]) -> str:
    """The boundaries as hexadecimal steps from the previous one, wrapped into lines."""
    steps = [f"{b - a:x}" for a, b in zip([0, *bounds], bounds, strict=False)]
    return "\n".join(textwrap.wrap(" ".join(steps), 96))


def main() -> None:
    tables = json.loads(subprocess.run([sys.argv[1], "-tables"], capture_output=True, text=True,
                                       check=True).stdout)
    alnum = sorted(set(tables["letter"]) ^ set(tables["digit"]))  # letters and digits never overlap
    OUT.write_text(f'''"""Go's Unicode tables as the template parser reads them: generated, do not edit.

Made by hack/gotemplate-tables.py from {tables["go"]} (Unicode {tables["unicode"]}): the code points
where ``unicode.IsLetter(r) || unicode.IsDigit(r)`` (ALNUM) and ``strconv.IsPrint(r)`` (PRINT)
change, starting outside the set at U+0000 (written as hexadecimal steps from the previous one).
"""

from __future__ import annotations

import bisect
import itertools

GO = "{tables["go"]}"
UNICODE = "{tables["unicode"]}"

_ALNUM_STEPS = """
{encode(alnum)}
"""

_PRINT_STEPS = """
{encode(tables["print"])}
"""


def _decode(steps: str) -> tuple[int, ...]:
    return tuple(itertools.accumulate(int(step, 16) for step in steps.split()))


ALNUM = _decode(_ALNUM_STEPS)
PRINT = _decode(_PRINT_STEPS)


def is_alnum(r: str) -> bool:
    """``unicode.IsLetter(r) || unicode.IsDigit(r)`` for one code point."""
    return bisect.bisect_right(ALNUM, ord(r)) % 2 == 1


def is_print(r: str) -> bool:
    """``strconv.IsPrint(r)`` for one code point."""
    return bisect.bisect_right(PRINT, ord(r)) % 2 == 1
''')


if __name__ == "__main__":
    main()
