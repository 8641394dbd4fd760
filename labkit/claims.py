"""Measured claims: every sentence of a chapter that states a measured number, ratio, ordering or
direction holds on the run the learner reads it beside.

Such a sentence is either computed from the run's values (a code cell prints it), or it carries
a marker in the chapter's markdown, ``<!-- claim: name -->`` (invisible when rendered), and a code
cell after it checks it on the run: ``lk.claim("name", holds, measured)`` prints what was measured
and raises :class:`ClaimFailed` when it does not hold. :func:`unchecked` lists a chapter's markers
without a check after them and checks without a marker before them (``tests/test_claims.py``).
"""
from __future__ import annotations

import re

from .errors import ClaimFailed

MARKER = re.compile(r"<!--\s*claim:\s*([\w.-]+)\s*-->")
CHECK = re.compile(r"""\blk\.claim\(\s*["']([\w.-]+)["']""")


def claim(name: str, holds: bool, measured: str) -> None:
    """Check the chapter's claim ``name`` on this run: print ``measured`` if it holds, else fail."""
    if not holds:
        raise ClaimFailed(f"✗ claim {name!r} does not hold on this run: {measured}")
    print(f"✓ {name}: {measured}")


def claims(cells: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """``(cell index, "marker" or "check", name)`` in a chapter's ``(cell_type, source)`` cells."""
    found = []
    for index, (cell_type, source) in enumerate(cells):
        pattern, kind = (MARKER, "marker") if cell_type == "markdown" else (CHECK, "check")
        found += [(index, kind, name) for name in pattern.findall(source)]
    return found


def unchecked(cells: list[tuple[str, str]]) -> list[str]:
    """What is wrong with a chapter's claims: a marker with no check in a code cell after it, a
    check with no marker before it, a name marked twice."""
    found = claims(cells)
    markers = [(index, name) for index, kind, name in found if kind == "marker"]
    checks = [(index, name) for index, kind, name in found if kind == "check"]
    problems = [f"claim {name!r} is marked twice" for name in {n for _, n in markers}
                if sum(n == name for _, n in markers) > 1]
    for index, name in markers:
        if not any(name == checked and at > index for at, checked in checks):
            problems.append(f"claim {name!r} (cell {index}) has no lk.claim({name!r}, ...) in a code cell after it")
    for index, name in checks:
        if not any(name == marked and at < index for at, marked in markers):
            problems.append(f"lk.claim({name!r}, ...) (cell {index}) has no <!-- claim: {name} --> "
                            "in the text before it")
    return sorted(problems)
