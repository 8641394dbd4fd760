"""Chapter 04: event-time windows over user events, late data in side outputs.

events file -> parse (malformed lines to a side output) -> [throttle] -> for each bound:
  timestamps + bounded-out-of-orderness watermarks -> key_by(user) -> one window per kind
  (AggregateFunction counts incrementally, ProcessWindowFunction adds key and window)
  -> ["window", branch, user, start, end, events, purchases, fired_ms] lines
  -> late side output: ["late", branch, user, timestamp] lines

A branch is ``<kind>@<bound in s>``: several bounds run side by side in one job, on the same
records at the same moment, so their late counts and result latencies compare in one run.

:func:`reference` computes the same windows and late records in plain Python, with the ideal
watermark (newest timestamp seen - bound - 1, after every record). Flink emits watermarks
periodically (``pipeline.auto-watermark-interval``; ``common.keep_watermarks_fresh`` sets 20 ms) and
behind the Python bundle in flight, so its watermark trails the ideal one a little;
:func:`ambiguous` lists the records whose fate that lag could change, so a test can pick data
where the comparison is exact.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyflink.common import Time, Types
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import AggregateFunction, ProcessAllWindowFunction, ProcessWindowFunction
from pyflink.datastream.window import EventTimeSessionWindows, SlidingEventTimeWindows, TumblingEventTimeWindows

from ..data import UserEvent
from ..data import out_of_order_stream as out_of_order_stream  # chapter 04 draws its stream from here
from ..errors import LabError
from .common import as_line, keep_watermarks_fresh, read_rows, text_sink, watermarks
from .events import parsed_events

MINUTE = 60_000
EVERYONE = "*"  # the key of window_all's results: one window per time range for the whole stream
# The tutorial's set: 1-min and 5-min tumbling windows and a 1-min window sliding every 30 s.
# A session window (size None) closes after a gap of that long without events from its key.
KINDS: dict[str, tuple[int | None, int]] = {  # kind -> (size ms, slide ms) or (None, gap ms)
    "tumble-1m": (MINUTE, MINUTE),
    "tumble-5m": (5 * MINUTE, 5 * MINUTE),
    "slide-1m-30s": (MINUTE, MINUTE // 2),
    "session-2m": (None, 2 * MINUTE),
}


def branch_label(kind: str, bound_ms: int) -> str:
    return f"{kind}@{bound_ms / 1000:g}s"


def window_assigner(kind: str):
    size, slide = KINDS[kind]
    if size is None:
        return EventTimeSessionWindows.with_gap(Time.milliseconds(slide))
    if size == slide:
        return TumblingEventTimeWindows.of(Time.milliseconds(size))  # window sizes take Time
    return SlidingEventTimeWindows.of(Time.milliseconds(size), Time.milliseconds(slide))


class CountActivity(AggregateFunction):
    """Incremental: the window keeps two numbers per key, not every event."""

    def create_accumulator(self):
        return [0, 0]

    def add(self, value, accumulator):
        accumulator[0] += 1
        accumulator[1] += value.event_type == "purchase"
        return accumulator

    def get_result(self, accumulator):
        return tuple(accumulator)

    def merge(self, a, b):
        return [a[0] + b[0], a[1] + b[1]]


class LabelWindow(ProcessWindowFunction):
    """Adds the key and the window to the (events, purchases) of an incremental aggregate."""

    def __init__(self, branch: str):
        self.branch = branch

    def counts(self, elements):
        return next(iter(elements))

    def process(self, key, context, elements):
        events, purchases = self.counts(elements)
        window = context.window()
        yield as_line("window", self.branch, key, window.start, window.end, events, purchases,
                      context.current_processing_time())


class CountSession(LabelWindow):
    """Counts a session window's buffered events. PyFlink 2.3 loses counts when it merges the
    incremental aggregates of session windows (seen in chapter 04), so sessions buffer."""

    def counts(self, elements):
        events = list(elements)
        return len(events), sum(e.event_type == "purchase" for e in events)


class LabelAllWindow(ProcessAllWindowFunction):
    """:class:`LabelWindow` for ``window_all``: no key, so every result is :data:`EVERYONE`'s.
    (Its context has no processing-time clock: the worker's clock stands in.)"""

    def __init__(self, branch: str):
        self.branch = branch

    def process(self, context, elements):
        events, purchases = next(iter(elements))
        window = context.window()
        fired_ms = time.time_ns() // 10**6
        yield as_line("window", self.branch, EVERYONE, window.start, window.end, events, purchases, fired_ms)


def build(env, *, events_file: Path, output: Path, bounds_ms=(60_000,), kinds=tuple(KINDS),
          rate: float | None = None, idleness_ms: int | None = None, source_parallelism: int = 1,
          monitor_seconds: float | None = None, allowed_lateness_ms: int = 0,
          incremental_sessions: bool = False, per_user: bool = True) -> None:
    """Windows of each kind for each bound. ``events_file`` may be a folder; with
    ``monitor_seconds`` the job keeps watching it for new files (and never ends by itself).
    ``allowed_lateness_ms`` keeps fired windows that long past the watermark: a late record then
    updates its window, which fires again with the new result. ``per_user=False`` counts the
    whole stream in each window (``window_all``) instead of each user's events."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise LabError(f"unknown window kind(s) {sorted(unknown)}", hint=f"choose from {sorted(KINDS)}")
    keep_watermarks_fresh(env, rate)
    events, malformed = parsed_events(env, events_file, monitor_seconds, source_parallelism, rate)
    outputs = [malformed.map(lambda bad: as_line("malformed", bad[0]), output_type=Types.STRING()).name("malformed")]
    for bound in bounds_ms:
        timed = events.assign_timestamps_and_watermarks(watermarks(bound, idleness_ms)) \
            .name(f"watermarks@{bound / 1000:g}s")
        by_user = timed.key_by(lambda e: e.user_id, key_type=Types.STRING())
        for kind in kinds:
            branch = branch_label(kind, bound)
            late_tag = OutputTag(f"late-{branch}", Types.PICKLED_BYTE_ARRAY())
            if per_user:
                windowed = by_user.window(window_assigner(kind))
            else:  # no key: one operator instance sees every event, so it runs at parallelism 1
                windowed = timed.window_all(window_assigner(kind))
            windowed = windowed.allowed_lateness(allowed_lateness_ms).side_output_late_data(late_tag)
            if not per_user:
                windowed = windowed.aggregate(CountActivity(), LabelAllWindow(branch),
                                              output_type=Types.STRING()).name(branch)
            elif KINDS[kind][0] is None and not incremental_sessions:
                windowed = windowed.process(CountSession(branch), output_type=Types.STRING()).name(branch)
            else:
                windowed = windowed.aggregate(CountActivity(), LabelWindow(branch),
                                              output_type=Types.STRING()).name(branch)
            late = windowed.get_side_output(late_tag) \
                .map(lambda e, b=branch: as_line("late", b, e.user_id, e.timestamp), output_type=Types.STRING())
            outputs += [windowed, late]
    outputs[0].union(*outputs[1:]).sink_to(text_sink(output)).name("results")


# --- reading the results and the reference --------------------------------------------------
@dataclass
class WindowResults:
    # (branch, user, start) -> (events, purchases)
    windows: dict[tuple[str, str, int], tuple[int, int]] = field(default_factory=dict)
    late: Counter = field(default_factory=Counter)          # branch -> late records
    fired_ms: dict[tuple[str, str, int], int] = field(default_factory=dict)   # the first firing
    firings: Counter = field(default_factory=Counter)       # (branch, user, start) -> times fired
    malformed: Counter = field(default_factory=Counter)     # reason -> lines

    def branch(self, branch: str) -> dict[tuple[str, int], tuple[int, int]]:
        return {(user, start): value for (b, user, start), value in self.windows.items() if b == branch}


def read_results(output: Path) -> WindowResults:
    results = WindowResults()
    for kind, *fields in read_rows(output):
        if kind == "window":
            branch, user, start, _end, events, purchases, fired = fields
            key = (branch, user, start)
            # a late record makes its window fire again, with counts that only grow
            results.windows[key] = max(results.windows.get(key, (0, 0)), (events, purchases))
            results.fired_ms[key] = min(results.fired_ms.get(key, fired), fired)
            results.firings[key] += 1
        elif kind == "late":
            results.late[fields[0]] += 1
        else:
            results.malformed[fields[0]] += 1
    return results


def _windows_of(kind: str, timestamp: int) -> list[tuple[int, int]]:
    """The (start, end) windows of ``kind`` that contain ``timestamp``, as Flink assigns them."""
    size, slide = KINDS[kind]
    if size is None:
        return [(timestamp, timestamp + slide)]
    last_start = timestamp - timestamp % slide
    return [(start, start + size) for start in range(last_start, timestamp - size, -slide)]


def _simulate(events: list[UserEvent], bound_ms: int, kinds, slack_ms: int = 0, lateness_ms: int = 0):
    """Replays Flink's window operator with the ideal watermark. Returns the results and the
    records whose fate would change under a watermark up to ``slack_ms`` behind."""
    results, doubtful = WindowResults(), []
    sessions: dict[tuple[str, str], list[list[int]]] = {}  # open session windows: [start, end, events, purchases]
    watermark, newest = None, None

    def closes(end: int) -> bool:  # done once the watermark passes its last millisecond + lateness
        return watermark is not None and end - 1 + lateness_ms <= watermark

    def doubtful_end(end: int) -> bool:
        return watermark is not None and watermark - slack_ms < end - 1 + lateness_ms <= watermark

    for event in events:
        purchase = int(event.event_type == "purchase")
        unsure = False
        for kind in kinds:
            branch = branch_label(kind, bound_ms)
            if KINDS[kind][0] is None:
                open_ = sessions.setdefault((branch, event.user_id), [])
                start, end = _windows_of(kind, event.timestamp)[0]
                near = [w for w in open_ if start <= w[1] and end >= w[0]]
                # doubtful: a session this event touches may have closed, or, touching none, the
                # event's own window may already be behind the watermark
                unsure |= any(doubtful_end(w[1]) for w in near) or (not near and doubtful_end(end))
                for done in [w for w in open_ if closes(w[1])]:
                    results.windows[(branch, event.user_id, done[0])] = (done[2], done[3])
                    open_.remove(done)
                touching = [w for w in open_ if start <= w[1] and end >= w[0]]
                if not touching and closes(end):
                    results.late[branch] += 1
                    continue
                merged = [min([start] + [w[0] for w in touching]), max([end] + [w[1] for w in touching]),
                          1 + sum(w[2] for w in touching), purchase + sum(w[3] for w in touching)]
                open_[:] = [w for w in open_ if w not in touching] + [merged]
                continue
            windows = _windows_of(kind, event.timestamp)
            unsure |= any(doubtful_end(end) for _, end in windows)
            open_windows = [(start, end) for start, end in windows if not closes(end)]
            if not open_windows:
                results.late[branch] += 1
            for start, _ in open_windows:
                count, purchases = results.windows.get((branch, event.user_id, start), (0, 0))
                results.windows[(branch, event.user_id, start)] = (count + 1, purchases + purchase)
        if unsure:
            doubtful.append(event)
        newest = event.timestamp if newest is None else max(newest, event.timestamp)
        watermark = newest - bound_ms - 1
    for (branch, user), open_ in sessions.items():  # the end of the input fires everything
        for start, _, count, purchases in open_:
            results.windows[(branch, user, start)] = (count, purchases)
    return results, doubtful


def reference(events: list[UserEvent], bounds_ms=(60_000,), kinds=tuple(KINDS),
              allowed_lateness_ms: int = 0, per_user: bool = True) -> WindowResults:
    """The windows (final counts) and late records Flink computes, in plain Python (``events`` in
    arrival order)."""
    if not per_user:
        events = [replace(event, user_id=EVERYONE) for event in events]
    results = WindowResults()
    for bound in bounds_ms:
        one, _ = _simulate(events, bound, kinds, lateness_ms=allowed_lateness_ms)
        results.windows.update(one.windows)
        results.late.update(one.late)
    return results


def ambiguous(events: list[UserEvent], bound_ms: int, slack_ms: int, kinds=tuple(KINDS),
              allowed_lateness_ms: int = 0) -> list[UserEvent]:
    """Records whose window would still be open under a watermark up to ``slack_ms`` behind the
    ideal one but is closed under the ideal one: with them, Flink's result depends on timing."""
    return _simulate(events, bound_ms, kinds, slack_ms, allowed_lateness_ms)[1]
