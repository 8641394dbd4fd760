"""Showing the code a chapter runs where the learner reads it: the one implementation, highlighted.

``lk.show_code(kc.CountPerKey, kc.build)`` displays the source of what the next ``lk.submit``
runs, read from the module the Python workers import, so what is shown is what runs.
"""
from __future__ import annotations

import inspect
import textwrap


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
