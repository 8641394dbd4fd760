"""Progress on the lab's long waits, so a learner can tell waiting from hanging.

A wait that is still going after two seconds shows a bar saying what is awaited and for how long
at most: an ipywidgets bar in a notebook, a text bar in a terminal (both through tqdm). Headless
runs (papermill, CI) and output that is not a terminal show none.
"""
from __future__ import annotations

import sys
import time

from .settings import LabSettings

SHOW_AFTER_S = 2.0


class Waiting:
    """``with Waiting("the job to finish", at_most=300) as wait:`` then, in the poll loop,
    ``if wait.expired: raise ...`` and ``wait.tick()``."""

    def __init__(self, what: str, at_most: float):
        self.what = what
        self.at_most = at_most
        self.started = time.monotonic()
        self._bar = None

    def __enter__(self) -> "Waiting":
        return self

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.started > self.at_most

    def tick(self) -> None:
        elapsed = time.monotonic() - self.started
        if self._bar is None and elapsed >= SHOW_AFTER_S and _visible():
            from tqdm.auto import tqdm
            self._bar = tqdm(total=round(self.at_most), desc=f"waiting for {self.what} (at most {self.at_most:.0f} s)",
                             unit="s", bar_format="{desc}: {n:.0f}/{total:.0f} s |{bar}|", leave=False)
        if self._bar is not None:
            self._bar.n = min(elapsed, self.at_most)
            self._bar.refresh()

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()


def _visible() -> bool:
    if LabSettings.from_env().headless:
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()
