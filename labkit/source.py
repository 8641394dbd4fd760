"""Showing the code a chapter runs where the learner reads it: the one implementation, highlighted.

``lk.show_code(kc.CountPerKey, kc.build)`` displays the source of what the next ``lk.submit``
runs, read from the module the Python workers import, so what is shown is what runs. The first
chapter that runs a pipeline writes its code in cells instead, each starting with
``# as in labkit/<module>.py`` (:func:`module_of_cell`) and equal to that module's code.
"""
from __future__ import annotations

import inspect
import re
import textwrap

_MODULE_CELL = re.compile(r"# as in (labkit/[\w/]+)\.py\b.*\n")


def module_of_cell(source: str) -> str | None:
    """The labkit module (dotted) whose code a chapter cell holds, or None for any other cell."""
    match = _MODULE_CELL.match(source)
    return match.group(1).replace("/", ".") if match else None


def source_of(*objects) -> str:
    """The source of each function or class, in the order given, one blank line apart."""
    return "\n\n".join(textwrap.dedent(inspect.getsource(obj)).rstrip() for obj in objects)


def show_code(*objects) -> None:
    """Display the source of each function or class, highlighted in a notebook (plain text elsewhere)."""
    text = source_of(*objects)
    try:
        from IPython import get_ipython
        from IPython.display import Code, display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Code(text, language="python"))
