"""Progress on the lab's long waits, so a learner can tell waiting from hanging, and the one
helper every poll loop of the lab waits with.

A wait that is still going after two seconds shows a bar saying what is awaited and for how long
at most: an ipywidgets bar in a notebook, a text bar in a terminal (both through tqdm). Headless
runs (papermill, CI: ``LabSettings.headless``, handed in by the caller) and output that is not a
terminal show none.
"""
from __future__ import annotations

import sys
import time

SHOW_AFTER_S = 2.0


class Polling:
    """The clock of a poll loop that no one watches (a short settle, a measurement): ``with
    Polling(at_most=20) as poll:`` then, in the loop, ``if poll.expired: ...`` and ``poll.pause(0.25)``."""

    def __init__(self, at_most: float):
        self.at_most = at_most
        self.started = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def expired(self) -> bool:
        return self.elapsed > self.at_most

    def tick(self) -> None:
        """Called once per round (a :class:`Waiting` updates its bar)."""

    def pause(self, seconds: float) -> None:
        """The end of a round: tick, then sleep until the next one."""
        self.tick()
        time.sleep(seconds)


class Waiting(Polling):
    """A poll loop someone waits for, with a bar: ``with Waiting("the job to finish", at_most=300,
    headless=settings.headless) as wait:`` then, in the loop, ``if wait.expired: raise ...`` and
    ``wait.pause(0.3)`` (or ``wait.tick()`` where the loop sleeps by itself)."""

    def __init__(self, what: str, at_most: float, headless: bool = False):
        super().__init__(at_most)
        self.what = what
        self.headless = headless
        self._bar = None

    def tick(self) -> None:
        elapsed = self.elapsed
        if self._bar is None and elapsed >= SHOW_AFTER_S and not self.headless and _visible():
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
    return "ipykernel" in sys.modules or sys.stderr.isatty()
